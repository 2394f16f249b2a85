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
