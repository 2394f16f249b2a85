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

// TestDwT8MatchesDirect checks the channel-blocked depthwise path against
// the direct one bit for bit, over widths with and without a partial
// eight-pixel group, both strides, every padding of at most one, with and
// without bias and clamp, for two images of 16 channels.
func TestDwT8MatchesDirect(t *testing.T) {
	pads := [][]int{{1, 1, 1, 1}, {0, 0, 0, 0}, {1, 0, 1, 0}, {0, 1, 0, 1}}
	for _, s := range []int{1, 2} {
		for _, h := range []int{3, 4, 7, 14, 15} {
			for _, w := range []int{3, 7, 8, 9, 14, 16, 28, 29} {
				for pi, pad := range pads {
					sh := dwShape(t, 2, 16, h, w, 3, 3, []int{s, s}, pad, nil)
					g := &sh.g
					if !dwT8OK(g) || !dwDirectOK(g) {
						continue
					}
					x := make([]float32, 2*16*g.inSize())
					for i := range x {
						x[i] = float32(i%13)*0.41 - 2.5
					}
					wt := make([]float32, 16*9)
					for i := range wt {
						wt[i] = float32(i%7)*0.35 - 1
					}
					bias := make([]float32, 16)
					for i := range bias {
						bias[i] = float32(i)*0.1 - 0.7
					}
					for _, ep := range []*convEpilogue{
						{lo: negInf, hi: posInf},
						{bias: bias, clamp: true, lo: 0, hi: 6},
					} {
						n := 2 * 16 * g.outSize()
						want, got := make([]float32, n), make([]float32, n)
						dwDirect(sh, x, wt, want, ep, 0, 32, dwDirMasks(g))
						for i := range got {
							got[i] = float32(math.NaN())
						}
						dwT8(sh, x, wt, got, ep, 0, 16)
						dwT8(sh, x, wt, got, ep, 16, 32)
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("stride %d, %dx%d, pads %d, bias %v: output %d = %g, direct path %g",
									s, h, w, pi, ep.bias != nil, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}
