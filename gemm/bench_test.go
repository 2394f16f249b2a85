package gemm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// benchShapes are M x N x K of ResNet-50 convolutions computed as
// W[Cout x K] * col[K x HW].
var benchShapes = [][3]int{
	{64, 12544, 147},
	{256, 3136, 576},
	{512, 49, 4608},
	{256, 3136, 2304},
}

func randSlice(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = rng.Float32() - 0.5
	}
	return v
}

// benchGemm runs BenchmarkSgemm-style sub-benchmarks named
// <M>x<N>x<K>/<threads>, reporting GFLOPS.
// The environment variable GRADCAM_GEMM_KERNEL selects a kernel family
// (avx512, avx2 or go) other than the best one.
func benchGemm(b *testing.B, packed bool) {
	if name := os.Getenv("GRADCAM_GEMM_KERNEL"); name != "" {
		found := false
		for _, ks := range kernelSets() {
			if ks.name == name {
				useKernel(b, ks)
				found = true
			}
		}
		if !found {
			b.Fatalf("GRADCAM_GEMM_KERNEL=%s: no such kernel family on this machine", name)
		}
	}
	for _, s := range benchShapes {
		m, n, k := s[0], s[1], s[2]
		rng := rand.New(rand.NewPCG(1, 1))
		a := randSlice(rng, m*k)
		bm := randSlice(rng, k*n)
		c := make([]float32, m*n)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%dx%dx%d/%d", m, n, k, threads), func(b *testing.B) {
				opt := &Options{Threads: threads}
				var pa *PackedA
				if packed {
					pa = PackA(false, m, k, a, k)
				}
				b.ResetTimer()
				for b.Loop() {
					if packed {
						SgemmPackedA(pa, false, n, 1, bm, n, 0, c, n, opt)
					} else {
						SgemmWith(false, false, m, n, k, 1, a, k, bm, n, 0, c, n, opt)
					}
				}
				b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// BenchmarkSgemm measures Sgemm on the shapes of benchShapes with 1 and 2
// goroutines.
func BenchmarkSgemm(b *testing.B) { benchGemm(b, false) }

// BenchmarkSgemmPackedA is BenchmarkSgemm with A packed in advance.
func BenchmarkSgemmPackedA(b *testing.B) { benchGemm(b, true) }

// BenchmarkSgemmBackward measures the transposed products of a
// convolution's backward pass for the 256x3136x2304 forward shape: the
// weight gradient dY * col^T and the input gradient W^T * dY.
func BenchmarkSgemmBackward(b *testing.B) {
	const cout, hw, kk = 256, 3136, 2304
	rng := rand.New(rand.NewPCG(1, 1))
	dy := randSlice(rng, cout*hw)
	col := randSlice(rng, kk*hw)
	w := randSlice(rng, cout*kk)
	for _, threads := range []int{1, 2} {
		opt := &Options{Threads: threads}
		b.Run(fmt.Sprintf("dW/%d", threads), func(b *testing.B) {
			dw := make([]float32, cout*kk)
			for b.Loop() {
				SgemmWith(false, true, cout, kk, hw, 1, dy, hw, col, hw, 0, dw, kk, opt)
			}
			b.ReportMetric(2*float64(cout*hw*kk)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
		b.Run(fmt.Sprintf("dX/%d", threads), func(b *testing.B) {
			dcol := make([]float32, kk*hw)
			for b.Loop() {
				SgemmWith(true, false, kk, hw, cout, 1, w, kk, dy, hw, 0, dcol, hw, opt)
			}
			b.ReportMetric(2*float64(cout*hw*kk)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}
