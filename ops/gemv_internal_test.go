package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDot4 checks dot4 (the vector kernel of this machine and its scalar
// tail) against float64 sums for lengths around the vector widths.
func TestDot4(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for n := 0; n <= 75; n++ {
		ldw := n + 3
		w := winoRandSlice(rng, 3*ldw+n)
		x := winoRandSlice(rng, n)
		var got [4]float32
		dot4(w, ldw, x, &got)
		for r := range 4 {
			var want, mag float64
			for i := range n {
				p := float64(w[r*ldw+i]) * float64(x[i])
				want += p
				mag += math.Abs(p)
			}
			if d := math.Abs(float64(got[r]) - want); d > 1e-6*(mag+1) {
				t.Fatalf("n %d row %d: %g, want %g", n, r, got[r], want)
			}
		}
	}
}
