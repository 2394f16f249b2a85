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

// TestUnpack checks that Unpack gives back, bit for bit, the matrix PackA
// packed, for every kernel set, with depths over several blocks and row
// counts that leave a short last sliver, and from a transposed A.
func TestUnpack(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, ks := range kernelSets() {
		current.Store(ks)
		for _, m := range []int{1, 5, 6, 13, 64, 100} {
			for _, k := range []int{1, 7, 37, 300, 1100} {
				for _, trans := range []bool{false, true} {
					a := randSlice(rng, m*k)
					src, ld := a, k
					if trans {
						src, ld = make([]float32, k*m), m
						for i := range m {
							for j := range k {
								src[j*m+i] = a[i*k+j]
							}
						}
					}
					pa := PackA(trans, m, k, src, ld)
					got := make([]float32, m*(k+3))
					pa.Unpack(got, k+3)
					for i := range m {
						for j := range k {
							if math.Float32bits(got[i*(k+3)+j]) != math.Float32bits(a[i*k+j]) {
								t.Fatalf("%s: %dx%d trans=%v: element (%d, %d) is %v, want %v", ks.name, m, k, trans, i, j, got[i*(k+3)+j], a[i*k+j])
							}
						}
					}
				}
			}
		}
	}
	current.Store(kernelSets()[0])
}
