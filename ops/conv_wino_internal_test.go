package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradcam/gradcam/gemm"
)

// SetWinograd turns the Winograd path of FusedConv on or off (on only
// takes effect with the vector kernels) and sets the least output size
// and number of input channels that take it, for the tests of package
// ops_test; it returns a function that restores the settings.
func SetWinograd(on bool, minOut, minC int) (restore func()) {
	saveOn, saveOut, saveC := winoEnabled, winoMinOut, winoMinC
	winoEnabled = on && saveOn
	winoMinOut, winoMinC = minOut, minC
	return func() { winoEnabled, winoMinOut, winoMinC = saveOn, saveOut, saveC }
}

// SetWinograd4 sets the least output size and the most weights for
// which the Winograd path takes F(4x4, 3x3), for the tests of package
// ops_test; it returns a function that restores the settings.
func SetWinograd4(minOut, maxWeights int) (restore func()) {
	saveOut, saveW := wino4MinOut, wino4MaxWeights
	wino4MinOut, wino4MaxWeights = minOut, maxWeights
	return func() { wino4MinOut, wino4MaxWeights = saveOut, saveW }
}

// SetWinogradBatch sets the least batch from which the Winograd path takes
// outputs of minOut and F(4x4, 3x3) always, for the tests of package
// ops_test; it returns a function that restores the settings.
func SetWinogradBatch(batch, minOut int) (restore func()) {
	saveB, saveOut := winoBatch, winoBatchMinOut
	winoBatch, winoBatchMinOut = batch, minOut
	return func() { winoBatch, winoBatchMinOut = saveB, saveOut }
}

// SetWino4Grouping turns the grouped output transform of F(4x4, 3x3) on
// small planes on or off, for the tests of package ops_test; it returns a
// function that restores the setting.
func SetWino4Grouping(on bool) (restore func()) {
	save := wino4Grouping
	wino4Grouping = on
	return func() { wino4Grouping = save }
}

// Wino4Kernels reports whether FusedConv can take F(4x4, 3x3) here (the
// AVX-512 or AVX2 transforms), for the tests of package ops_test.
func Wino4Kernels() bool { return winoEnabled && wino4Enabled }

// winoSame reports whether a and b are the same float32 (either zero
// matching either, NaN matching NaN).
func winoSame(a, b float32) bool {
	return a == b || math.IsNaN(float64(a)) && math.IsNaN(float64(b))
}

// winoRandSlice returns n random values in [-1, 1).
func winoRandSlice(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.Float64()*2 - 1)
	}
	return v
}

// TestWinoInputKernel checks the vector (AVX-512 or AVX2) input transform against
// winoInputGo, bit for bit, for tile counts around the vector width (Go
// against itself without the vector kernel).
func TestWinoInputKernel(t *testing.T) {
	testWinoInputKernel(t, rand.New(rand.NewPCG(31, 32)), 4, 16, 50, func(tw int) int { return 32*((tw+15)/16) + 16 }, winoInput, winoInputGo)
}

// testWinoInputKernel checks the input transform in, which reads nrows
// padded input rows of ldOf(tw) floats and writes pos positions, against
// its Go version ref, bit for bit, for 1 to maxTw tiles (see
// TestWinoInputKernel).
func testWinoInputKernel(t *testing.T, rng *rand.Rand, nrows, pos, maxTw int, ldOf func(tw int) int, in func(v, rows []float32, ld, tw, xs int, s *[288]float32), ref func(v, rows []float32, ld, tw, xs int)) {
	t.Helper()
	for tw := 1; tw <= maxTw; tw++ {
		ld := ldOf(tw)
		rows := winoRandSlice(rng, nrows*ld)
		xs := max(tw, 8) + 3
		got := make([]float32, pos*xs+5)
		want := make([]float32, len(got))
		for i := range got {
			got[i], want[i] = -7, -7 // not written past the tiles
		}
		in(got, rows, ld, tw, xs, new([288]float32))
		ref(want, rows, ld, tw, xs)
		for i := range got {
			if t := i % xs; t >= tw && t < 8 {
				continue // room the kernels may write (winoVPad)
			}
			if !winoSame(got[i], want[i]) {
				t.Fatalf("tw %d: element %d (position %d, tile %d) is %g, want %g", tw, i, i/xs, i%xs, got[i], want[i])
			}
		}
	}
}

// TestWinoOutputKernel checks the vector (AVX-512 or AVX2) output transform against
// winoOutputGo (itself without the vector kernel), bit for bit, for row widths around the vector width,
// with one and two rows, with and without a residual (also in place)
// and a clamp.
func TestWinoOutputKernel(t *testing.T) {
	testWinoOutputKernel(t, rand.New(rand.NewPCG(33, 34)), 16, 70, winoOutput, winoOutputGo)
}

// testWinoOutputKernel checks the output transform out of 2x2 tiles from
// pos positions against its Go version ref, bit for bit, for row widths
// of 1 to maxOw (see TestWinoOutputKernel).
func testWinoOutputKernel(t *testing.T, rng *rand.Rand, pos, maxOw int, out func(*winoOutSlices), ref func(m []float32, xs int, y0, y1, r0, r1 []float32, ow int, b, lo, hi float32)) {
	t.Helper()
	inf := float32(math.Inf(1))
	for ow := 1; ow <= maxOw; ow++ {
		tw := (ow + 1) / 2
		xs := tw + 2
		m := winoRandSlice(rng, pos*xs+16)
		for _, two := range []bool{false, true} {
			for _, res := range []int{0, 1, 2} { // none, separate, in place
				for _, cl := range [][2]float32{{-inf, inf}, {0, inf}, {-0.3, 0.4}} {
					b := float32(rng.Float64() - 0.5)
					var rows [2][]float32
					for r := range rows {
						rows[r] = winoRandSlice(rng, ow+3)
					}
					run := func(out func(*winoOutSlices)) [2][]float32 {
						var y [2][]float32
						a := winoOutSlices{m: m, xs: xs, ow: ow, b: b, lo: cl[0], hi: cl[1]}
						for r := range y {
							y[r] = make([]float32, ow+3)
							for i := range y[r] {
								y[r][i] = 9 // not written past ow
							}
							if res == 2 {
								copy(y[r], rows[r][:ow])
							}
						}
						a.y0 = y[0][:ow]
						if two {
							a.y1 = y[1][:ow]
						}
						switch res {
						case 1:
							a.r0 = rows[0][:ow]
							if two {
								a.r1 = rows[1][:ow]
							}
						case 2:
							a.r0, a.r1 = a.y0, a.y1
						}
						out(&a)
						return y
					}
					got := run(out)
					want := run(func(a *winoOutSlices) {
						ref(a.m, a.xs, a.y0, a.y1, a.r0, a.r1, a.ow, a.b, a.lo, a.hi)
					})
					for r := range got {
						for i := range got[r] {
							if !winoSame(got[r][i], want[r][i]) {
								t.Fatalf("ow %d two %v residual %d clamp %v: row %d element %d is %g, want %g", ow, two, res, cl, r, i, got[r][i], want[r][i])
							}
						}
					}
				}
			}
		}
	}
}

// TestWinoWeights checks the weight transform against U = G g G^T for a
// filter of ones and a centred impulse.
func TestWinoWeights(t *testing.T) {
	ones := make([]float32, 9)
	for i := range ones {
		ones[i] = 1
	}
	imp := make([]float32, 9)
	imp[4] = 1
	// G 1 = (1, 1.5, 0.5, 1); G e1 = (0, 0.5, -0.5, 0).
	g1 := [4]float32{1, 1.5, 0.5, 1}
	ge := [4]float32{0, 0.5, -0.5, 0}
	for _, c := range []struct {
		w []float32
		v [4]float32
	}{{ones, g1}, {imp, ge}} {
		wt := winoTransformWeights(nil, c.w, 1, 1, 2, 1)
		for xi := range 16 {
			// A 1x1 product with the packed U gives U back.
			var y [1]float32
			gemm.SgemmPackedA(wt.u[xi], false, 1, 1, []float32{1}, 1, 0, y[:], 1, nil)
			if want := c.v[xi/4] * c.v[xi%4]; y[0] != want {
				t.Errorf("U[%d] = %g, want %g", xi, y[0], want)
			}
		}
	}
}

// TestWino4InputKernel checks the vector input transform of F(4x4, 3x3)
// against wino4InputGo, bit for bit, for tile counts around the vector
// width (Go against itself without the vector kernel).
func TestWino4InputKernel(t *testing.T) {
	testWinoInputKernel(t, rand.New(rand.NewPCG(35, 36)), 6, 36, 50, func(tw int) int { return 64*((tw+15)/16) + 32 }, wino4Input, wino4InputGo)
}

// TestWino4OutputKernel checks the vector output transform of F(4x4,
// 3x3) against wino4OutputGo, bit for bit, for row widths around the
// vector width, with one to four rows, with and without a residual (also
// in place) and a clamp.
func TestWino4OutputKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 38))
	inf := float32(math.Inf(1))
	for ow := 1; ow <= 140; ow++ {
		tw := (ow + 3) / 4
		xs := tw + 2
		m := winoRandSlice(rng, 36*xs+16)
		for rows := 1; rows <= 4; rows++ {
			for _, res := range []int{0, 1, 2} { // none, separate, in place
				for _, cl := range [][2]float32{{-inf, inf}, {0, inf}, {-0.3, 0.4}} {
					b := float32(rng.Float64() - 0.5)
					var resRows [4][]float32
					for r := range resRows {
						resRows[r] = winoRandSlice(rng, ow+3)
					}
					run := func(out func(*wino4OutSlices)) [4][]float32 {
						var y [4][]float32
						a := wino4OutSlices{m: m, xs: xs, ow: ow, b: b, lo: cl[0], hi: cl[1]}
						for r := range y {
							y[r] = make([]float32, ow+3)
							for i := range y[r] {
								y[r][i] = 9 // not written past ow or the rows
							}
							if res == 2 {
								copy(y[r], resRows[r][:ow])
							}
							if r >= rows {
								continue
							}
							a.y[r] = y[r][:ow]
							switch res {
							case 1:
								a.r[r] = resRows[r][:ow]
							case 2:
								a.r[r] = a.y[r]
							}
						}
						out(&a)
						return y
					}
					got := run(wino4Output)
					want := run(wino4OutputGo)
					for r := range got {
						for i := range got[r] {
							if !winoSame(got[r][i], want[r][i]) {
								t.Fatalf("ow %d rows %d residual %d clamp %v: row %d element %d is %g, want %g", ow, rows, res, cl, r, i, got[r][i], want[r][i])
							}
						}
					}
				}
			}
		}
	}
}

// TestWino4Weights checks the weight transform of F(4x4, 3x3) against
// U = G g G^T for a filter of ones and a centred impulse.
func TestWino4Weights(t *testing.T) {
	ones := make([]float32, 9)
	for i := range ones {
		ones[i] = 1
	}
	imp := make([]float32, 9)
	imp[4] = 1
	// G 1 = (1/4, -1/2, -1/6, 7/24, 1/8, 1); G e1 = (0, -1/6, 1/6, 1/12, -1/12, 0).
	g1 := [6]float64{0.25, -0.5, -1.0 / 6, 7.0 / 24, 0.125, 1}
	ge := [6]float64{0, -1.0 / 6, 1.0 / 6, 1.0 / 12, -1.0 / 12, 0}
	for _, c := range []struct {
		w []float32
		v [6]float64
	}{{ones, g1}, {imp, ge}} {
		wt := winoTransformWeights(nil, c.w, 1, 1, 4, 1)
		for xi := range 36 {
			var y [1]float32
			gemm.SgemmPackedA(wt.u[xi], false, 1, 1, []float32{1}, 1, 0, y[:], 1, nil)
			if want := float32(c.v[xi/6] * c.v[xi%6]); y[0] != want {
				t.Errorf("U[%d] = %g, want %g", xi, y[0], want)
			}
		}
	}
}
