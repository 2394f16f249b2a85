package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestPackMatchesGo checks every kernel family's packer against packGo,
// bit for bit, on slivers of A (gather) and B of several heights and
// depths, and that it writes nothing past the k steps it packs.
func TestPackMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const ld = 203
	src := randSlice(rng, 210*ld)
	for _, ks := range kernelSets() {
		for _, gather := range []bool{true, false} {
			for _, c := range []struct{ rows, stride int }{{6, 6}, {5, 6}, {4, 4}, {16, 16}, {14, 16}, {3, 4}} {
				for _, k := range []int{1, 7, 8, 9, 16, 17, 24, 25, 63, 200} {
					name := fmt.Sprintf("%s/gather=%v/%dx%d/k=%d", ks.name, gather, c.rows, c.stride, k)
					want := make([]float32, k*c.stride+16)
					got := make([]float32, k*c.stride+16)
					for i := range got {
						got[i] = float32(math.NaN())
						want[i] = got[i]
					}
					base := 3
					packGo(want, src, base, ld, k, c.rows, c.stride, gather)
					ks.pack(got, src, base, ld, k, c.rows, c.stride, gather)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s: value %d is %v, want %v", name, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}
