//go:build amd64 && !purego

package ops

import (
	"math"
	"testing"
)

// TestDwDirectStaysInPlane checks that the AVX2 depthwise kernels write
// only their own planes: computing the first of two planes leaves the
// second as it was, for rows shorter and longer than a vector (a row's
// last vector stored whole writes past the row).
func TestDwDirectStaysInPlane(t *testing.T) {
	for _, s := range []int{1, 2} {
		for h := 1; h <= 6; h++ {
			for w := 1; w <= 19; w++ {
				sh := dwShape(t, 1, 2, h, w, 3, 3, []int{s, s}, []int{1, 1, 1, 1}, nil)
				sh.m = 2
				g := &sh.g
				if !dwDirectOK(g) {
					continue
				}
				x := make([]float32, 2*g.inSize())
				for i := range x {
					x[i] = float32(i%7) - 3
				}
				wt := make([]float32, 18)
				for i := range wt {
					wt[i] = 0.25
				}
				p := g.outSize()
				y := make([]float32, 2*p)
				for i := range y {
					y[i] = float32(math.NaN())
				}
				ep := &convEpilogue{lo: negInf, hi: posInf}
				dwDirect(sh, x, wt, y, ep, 0, 1, dwDirMasks(g))
				for i, v := range y[p:] {
					if !math.IsNaN(float64(v)) {
						t.Fatalf("stride %d, %dx%d input: element %d of the next plane written (%g)", s, h, w, i, v)
					}
				}
				for i, v := range y[:p] {
					if math.IsNaN(float64(v)) {
						t.Fatalf("stride %d, %dx%d input: output %d not written", s, h, w, i)
					}
				}
			}
		}
	}
}
