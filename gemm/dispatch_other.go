//go:build !amd64 || purego

package gemm

// kernelSets returns the kernel families this machine runs, best first.
func kernelSets() []*kernelSet {
	return []*kernelSet{goSet}
}
