package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradcam/gradcam/gemm"
)

// SetWinogradS2 sets the least output size and the most weights for
// single images of the stride-2 Winograd path, for the tests of package
// ops_test; it returns a function that restores the settings.
func SetWinogradS2(minOut, maxWeights int) (restore func()) {
	saveOut, saveW := winoS2MinOut, winoS2MaxWeights
	winoS2MinOut, winoS2MaxWeights = minOut, maxWeights
	return func() { winoS2MinOut, winoS2MaxWeights = saveOut, saveW }
}

// WinoS2Path reports whether f takes the stride-2 Winograd path for an
// input of shape x, for the tests of package ops_test.
func WinoS2Path(f *FusedConv, x []int) bool {
	s, err := f.shape(x)
	return err == nil && f.pack && winoS2OK(s)
}

// TestWinoS2InputKernel checks the vector input transform of the stride-2
// path against winoS2InputGo, bit for bit, for tile counts around the
// vector width (Go against itself without the vector kernel).
func TestWinoS2InputKernel(t *testing.T) {
	testWinoInputKernel(t, rand.New(rand.NewPCG(41, 42)), 5, 25, 40, func(tw int) int { return 32*((tw+7)/8) + 4 }, winoS2Input, winoS2InputGo)
}

// TestWinoS2OutputKernel checks the vector output transform of the
// stride-2 path against winoS2OutputGo, bit for bit, for row widths
// around the vector width, with one and two rows, with and without a
// residual (also in place) and a clamp.
func TestWinoS2OutputKernel(t *testing.T) {
	testWinoOutputKernel(t, rand.New(rand.NewPCG(43, 44)), 25, 40, winoS2Output, winoS2OutputGo)
}

// TestWinoS2Transforms checks the stride-2 transforms end to end on one
// tile against the direct strided sum in float64: a random 5x5 patch
// through winoS2InputGo, the 25 products with U of a random filter from
// winoTransformWeights, and winoS2OutputGo give the four outputs of the
// 3x3 window at strides of 2.
func TestWinoS2Transforms(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	for trial := range 20 {
		d := winoRandSlice(rng, 25)
		g := winoRandSlice(rng, 9)
		wt := winoTransformWeights(nil, g, 1, 1, 2, 2)
		if len(wt.u) != 25 {
			t.Fatalf("%d positions, want 25", len(wt.u))
		}
		v := make([]float32, 25)
		winoS2InputGo(v, d, 5, 1, 1)
		m := make([]float32, 25)
		for xi := range 25 {
			var u [1]float32
			gemm.SgemmPackedA(wt.u[xi], false, 1, 1, []float32{1}, 1, 0, u[:], 1, nil)
			m[xi] = u[0] * v[xi]
		}
		var y0, y1 [2]float32
		winoS2OutputGo(m, 1, y0[:], y1[:], nil, nil, 2, 0, float32(math.Inf(-1)), float32(math.Inf(1)))
		for oy, row := range [2][]float32{y0[:], y1[:]} {
			for ox, got := range row {
				var want float64
				for ky := range 3 {
					for kx := range 3 {
						want += float64(g[ky*3+kx]) * float64(d[(2*oy+ky)*5+2*ox+kx])
					}
				}
				if math.Abs(float64(got)-want) > 1e-5 {
					t.Errorf("trial %d: output (%d, %d) is %g, want %g", trial, oy, ox, got, want)
				}
			}
		}
	}
}
