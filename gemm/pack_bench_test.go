package gemm

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkPackA(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	m, k := 512, 4608
	a := randSlice(rng, m*k)
	for _, ks := range kernelSets() {
		b.Run(ks.name, func(b *testing.B) {
			dst := make([]float32, m*384)
			for b.Loop() {
				for k0 := 0; k0 < k; k0 += 384 {
					ks.packA(dst, false, a, k, 0, m, k0, 384)
				}
			}
			b.ReportMetric(float64(m*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
}

func BenchmarkPackB(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	k, n := 576, 3136
	src := randSlice(rng, k*n)
	for _, ks := range kernelSets() {
		b.Run(ks.name, func(b *testing.B) {
			nc := ks.nc
			dst := make([]float32, 384*nc)
			for b.Loop() {
				for k0 := 0; k0 < k; k0 += 288 {
					for jc := 0; jc < n; jc += nc {
						ks.packB(dst, false, src, n, k0, 288, jc, min(nc, n-jc))
					}
				}
			}
			b.ReportMetric(float64(k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
}
