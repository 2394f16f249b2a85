package ops_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// winoTol is the tolerance of the Winograd path against the float64
// reference, relative to the largest output magnitude (see cvClose): the
// transforms add up to 4x4 values of each patch and of each product
// before the output transform, so the rounding is a few times that of
// the direct product (measured errors are reported by the test log).
const winoTol = 1e-5

// wino4Tol is winoTol for F(4x4, 3x3), whose transforms scale values by
// up to 8 and 1/24.
const wino4Tol = 1e-4

// TestFusedConvWinograd checks FusedConv on the Winograd path (forced on
// for every output size) against the float64 reference convolution with
// the BatchNorm, residual (also in place) and clamp applied after it:
// odd and even sizes, pads 0, 1 and asymmetric, batches of 2 to 5 (also
// with the rule for batches), one and two threads, and channel counts
// around the gemm kernel's tiles.
func TestFusedConvWinograd(t *testing.T) {
	defer ops.SetWinograd(true, 1, 1)()
	for _, tile := range []struct {
		name       string
		minOut, mw int
		batch      int
		tol        float64
	}{
		{"F(2x2,3x3)", math.MaxInt, 0, math.MaxInt, winoTol},
		{"F(4x4,3x3)", 1, math.MaxInt, math.MaxInt, wino4Tol},
		// Batches of 4 or more take F(4x4, 3x3) whatever the settings
		// for single images.
		{"batches", math.MaxInt, 0, 4, wino4Tol},
	} {
		t.Run(tile.name, func(t *testing.T) {
			defer ops.SetWinograd4(tile.minOut, tile.mw)()
			defer ops.SetWinogradBatch(tile.batch, 1)()
			testFusedConvWinograd(t, tile.tol)
		})
	}
}

// winoCase is a convolution of TestFusedConvWinograd and
// TestFusedConvWinogradStride2: input and weight shapes, pads, and what
// follows the product.
type winoCase struct {
	x, w     []int
	pads     []int
	bias, bn bool
	residual bool
	clamp    bool
	lo, hi   float32
}

// winoCommonCases are cases of TestFusedConvWinograd and
// TestFusedConvWinogradStride2 alike.
func winoCommonCases() []winoCase {
	inf := float32(math.Inf(1))
	return []winoCase{
		{x: []int{1, 5, 9, 11}, w: []int{7, 5, 3, 3}, pads: []int{1, 1, 1, 1}, bias: true, clamp: true, hi: inf},
		{x: []int{2, 4, 8, 8}, w: []int{6, 4, 3, 3}, pads: []int{1, 1, 1, 1}, bn: true, residual: true, clamp: true, hi: inf},
		{x: []int{1, 3, 12, 19}, w: []int{5, 3, 3, 3}, bias: true, residual: true, clamp: true, lo: -0.5, hi: 0.5},
		{x: []int{2, 9, 20, 16}, w: []int{17, 9, 3, 3}, pads: []int{1, 1, 1, 1}, bn: true, residual: true, clamp: true, hi: 6},
		{x: []int{1, 8, 23, 19}, w: []int{10, 8, 3, 3}, residual: true},
		{x: []int{2, 6, 13, 37}, w: []int{11, 6, 3, 3}, pads: []int{2, 0, 1, 3}, bias: true},
		{x: []int{1, 33, 30, 35}, w: []int{40, 33, 3, 3}, pads: []int{0, 1, 1, 0}, bias: true, clamp: true, lo: -0.1, hi: 0.1},
	}
}

func testFusedConvWinograd(t *testing.T, tol float64) {
	inf := float32(math.Inf(1))
	runWinoCases(t, append(winoCommonCases(), []winoCase{
		{x: []int{2, 64, 14, 14}, w: []int{64, 64, 3, 3}, pads: []int{1, 1, 1, 1}, bn: true, residual: true, clamp: true, hi: inf},
		{x: []int{1, 16, 3, 3}, w: []int{4, 16, 3, 3}, bias: true},
		{x: []int{3, 16, 4, 2}, w: []int{4, 16, 3, 3}, pads: []int{0, 1, 0, 1}, residual: true},
		{x: []int{4, 8, 7, 7}, w: []int{6, 8, 3, 3}, pads: []int{1, 1, 1, 1}, bias: true, residual: true, clamp: true, hi: inf},
		{x: []int{5, 12, 7, 9}, w: []int{13, 12, 3, 3}, pads: []int{1, 1, 1, 1}, bn: true},
	}...), 1, tol)
}

// runWinoCases runs the cases with the given strides (1 or 2) on one and
// two threads, twice and with the residual in place, against the float64
// reference within tol, and checks that the stride-2 Winograd path is
// taken for strides of 2 where the vector kernels are.
func runWinoCases(t *testing.T, cases []winoCase, stride int, tol float64) {
	t.Helper()
	var worst float64
	for _, c := range cases {
		for _, threads := range []int{1, 2} {
			name := fmt.Sprintf("x%v_w%v_p%v_t%d", c.x, c.w, c.pads, threads)
			t.Run(name, func(t *testing.T) {
				n := cvNode("Conv", 1, cvInts("strides", int64(stride), int64(stride)))
				if c.pads != nil {
					n.Attrs["pads"] = cvInts("pads", cvInts64(c.pads)...)
				}
				x := cvRand(1, c.x...)
				w := cvRand(2, c.w...)
				var b *tensor.Tensor
				if c.bias {
					b = cvRand(3, c.w[0])
				}
				want, shape := refConv(x, w, b, 1, []int{stride, stride}, nil, c.pads)
				opt := ops.FusedConvOptions{Clamp: c.clamp, Min: c.lo, Max: c.hi, Pack: true}
				res := fusedExpect(want, shape, c.w[0], c.bn, c.residual, c.clamp, c.lo, c.hi, &opt)
				f, err := ops.NewFusedConv(n, 13, w, b, opt)
				if err != nil {
					t.Fatal(err)
				}
				if on, wantOn := ops.WinoS2Path(f, c.x), stride == 2 && ops.Wino4Kernels(); on != wantOn {
					t.Fatalf("stride-2 Winograd path taken: %v, want %v", on, wantOn)
				}
				ctx := &ops.Ctx{Threads: threads}
				check := func(what string, y []float32) {
					t.Helper()
					cvClose(t, what, y, want, tol)
					scale := 1.0
					for _, v := range want {
						scale = math.Max(scale, math.Abs(v))
					}
					for i, v := range y {
						worst = math.Max(worst, math.Abs(float64(v)-want[i])/scale)
					}
				}
				for range 2 { // the second run reuses the weights and scratch
					y := make([]float32, len(want))
					for i := range y {
						y[i] = float32(math.NaN()) // not read
					}
					if err := f.Forward(ctx, x, res, y); err != nil {
						t.Fatal(err)
					}
					check("output", y)
				}
				if c.residual {
					y := append([]float32(nil), res...)
					if err := f.Forward(ctx, x, y, y); err != nil {
						t.Fatal(err)
					}
					check("in-place output", y)
				}
			})
		}
	}
	t.Logf("largest error relative to the output scale: %.3g", worst)
}

// TestFusedConvWino4Grouped checks that F(4x4, 3x3) on planes of at most
// four tiles a row gives the same bits with the units' output transforms
// grouped several a call as with one unit a call: widths of one to four
// tiles (and five, not grouped), partial last tile rows, batches that
// end within a group, a residual (also in place) and a clamp, one and two
// threads.
func TestFusedConvWino4Grouped(t *testing.T) {
	if !ops.Wino4Kernels() {
		t.Skip("no vector Winograd transforms on this machine (the Winograd path is off)")
	}
	defer ops.SetWinograd(true, 1, 1)()
	defer ops.SetWinograd4(1, math.MaxInt)()
	for _, c := range []struct{ n, c, m, h, w int }{
		{1, 8, 16, 14, 14}, {3, 8, 16, 14, 14}, {16, 16, 8, 7, 7}, {5, 8, 9, 7, 7},
		{2, 8, 8, 10, 10}, {3, 8, 8, 4, 4}, {2, 8, 8, 13, 15}, {2, 8, 8, 9, 5}, {2, 8, 8, 18, 18},
	} {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%dx%dx%dx%d_m%d_t%d", c.n, c.c, c.h, c.w, c.m, threads), func(t *testing.T) {
				n := cvNode("Conv", 1)
				n.Attrs["pads"] = cvInts("pads", 1, 1, 1, 1)
				x := cvRand(1, c.n, c.c, c.h, c.w)
				w := cvRand(2, c.m, c.c, 3, 3)
				b := cvRand(3, c.m)
				f, err := ops.NewFusedConv(n, 13, w, b, ops.FusedConvOptions{Clamp: true, Min: -0.5, Max: 0.7, Pack: true})
				if err != nil {
					t.Fatal(err)
				}
				res := cvRand(4, c.n, c.m, c.h, c.w).F
				ctx := &ops.Ctx{Threads: threads}
				run := func(grouped, inPlace bool) []float32 {
					t.Helper()
					defer ops.SetWino4Grouping(grouped)()
					y := make([]float32, len(res))
					r := res
					if inPlace {
						copy(y, res)
						r = y
					}
					if err := f.Forward(ctx, x, r, y); err != nil {
						t.Fatal(err)
					}
					return y
				}
				for _, inPlace := range []bool{false, true} {
					got, want := run(true, inPlace), run(false, inPlace)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("in place %v: output %d: %v grouped, %v a unit a call", inPlace, i, got[i], want[i])
						}
					}
				}
			})
		}
	}
}

// BenchmarkFusedConvWinograd times, with packed weights on GOMAXPROCS
// threads (-test.cpu), the 3x3 stride-1 convolutions of ResNet50 and
// VGG16 and a few smaller ones (one image each).
func BenchmarkFusedConvWinograd(b *testing.B) {
	cases := []struct {
		name     string
		c, hw, m int
	}{
		{"vgg_3_224", 3, 224, 64},
		{"c16_56", 16, 56, 16},
		{"c32_56", 32, 56, 32},
		{"r50_64_56", 64, 56, 64},
		{"r50_128_28", 128, 28, 128},
		{"r50_256_14", 256, 14, 256},
		{"r50_512_7", 512, 7, 512},
		{"vgg_64_224", 64, 224, 64},
		{"vgg_128_112", 128, 112, 128},
		{"vgg_256_56", 256, 56, 256},
		{"vgg_512_28", 512, 28, 512},
		{"vgg_512_14", 512, 14, 512},
		{"c256_4", 256, 4, 256},
		{"c512_5", 512, 5, 512},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			n := cvNode("Conv", 1, cvInts("pads", 1, 1, 1, 1))
			f, err := ops.NewFusedConv(n, 13, cvRand(2, c.m, c.c, 3, 3), cvRand(3, c.m), ops.FusedConvOptions{Clamp: true, Max: float32(math.Inf(1)), Pack: true})
			if err != nil {
				b.Fatal(err)
			}
			x := cvRand(1, 1, c.c, c.hw, c.hw)
			shape, err := f.OutShape(x.Shape)
			if err != nil {
				b.Fatal(err)
			}
			y := make([]float32, tensor.Size(shape))
			ctx := &ops.Ctx{}
			// Once outside the timing: the weights are transformed or
			// packed at the first run.
			if err := f.Forward(ctx, x, nil, y); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := f.Forward(ctx, x, nil, y); err != nil {
					b.Fatal(err)
				}
			}
			macs := float64(c.m*c.c*9) * float64(tensor.Size(shape)/c.m)
			b.ReportMetric(2*macs/1e9/(b.Elapsed().Seconds()/float64(b.N)), "GFLOP/s")
		})
	}
}

// TestFusedConvPrecise checks that ops.Ctx.Precise keeps a convolution
// off the Winograd path: with it the output is bit for bit that of the
// direct path (Winograd turned off), and without it (where the vector
// transforms are) F(2x2, 3x3)'s and F(4x4, 3x3)'s, which differ from it
// and from each other.
func TestFusedConvPrecise(t *testing.T) {
	n := cvNode("Conv", 1, cvInts("pads", 1, 1, 1, 1))
	x := cvRand(1, 1, 8, 30, 30)
	w := cvRand(2, 6, 8, 3, 3)
	run := func(ctx *ops.Ctx, wino bool, minOut int) []float32 {
		defer ops.SetWinograd(wino, 1, 1)()
		defer ops.SetWinograd4(minOut, math.MaxInt)()
		f, err := ops.NewFusedConv(n, 13, w, nil, ops.FusedConvOptions{Pack: true})
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, 6*30*30)
		if err := f.Forward(ctx, x, nil, y); err != nil {
			t.Fatal(err)
		}
		return y
	}
	direct := run(&ops.Ctx{Threads: 1}, false, 1)
	f2 := run(&ops.Ctx{Threads: 1}, true, math.MaxInt)
	f4 := run(&ops.Ctx{Threads: 1}, true, 1)
	precise := run(&ops.Ctx{Threads: 1, Precise: true}, true, 1)
	same := func(a, b []float32) bool {
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				return false
			}
		}
		return true
	}
	if !same(precise, direct) {
		t.Errorf("with Precise the output is not the direct path's")
	}
	if ops.Wino4Kernels() && (same(f2, direct) || same(f4, direct) || same(f4, f2)) {
		t.Errorf("F(2x2, 3x3), F(4x4, 3x3) and the direct path do not all differ: a Winograd tile did not run")
	}
}

// TestFusedConvWinogradStride2 checks FusedConv on the stride-2 Winograd
// path (forced on for every output size) against the float64 reference
// convolution with the BatchNorm, residual (also in place) and clamp
// applied after it: odd and even sizes, pads 0, 1 and asymmetric, single
// images and batches, one and two threads (row and column modes).
func TestFusedConvWinogradStride2(t *testing.T) {
	defer ops.SetWinograd(true, 1, 1)()
	defer ops.SetWinogradS2(1, math.MaxInt)()
	inf := float32(math.Inf(1))
	runWinoCases(t, append(winoCommonCases(), []winoCase{
		{x: []int{1, 64, 56, 56}, w: []int{32, 64, 3, 3}, pads: []int{1, 1, 1, 1}, bn: true, clamp: true, hi: inf},
		{x: []int{4, 16, 28, 28}, w: []int{24, 16, 3, 3}, pads: []int{1, 1, 1, 1}, bn: true, residual: true, clamp: true, hi: inf},
		{x: []int{1, 16, 3, 3}, w: []int{4, 16, 3, 3}, bias: true},
		{x: []int{3, 16, 4, 2}, w: []int{4, 16, 3, 3}, pads: []int{0, 1, 0, 1}, residual: true},
		{x: []int{5, 12, 14, 14}, w: []int{13, 12, 3, 3}, pads: []int{1, 1, 1, 1}, bn: true},
	}...), 2, winoTol)
}

// TestFusedConvWinogradStride2Released checks a stride-2 convolution whose
// weights are too large for single images on the stride-2 Winograd path
// (winoS2MaxWeights) and are released once packed: single images take
// the direct path on the packed weights, and a batch then takes the
// Winograd path, its weights unpacked again, both against the float64
// reference.
func TestFusedConvWinogradStride2Released(t *testing.T) {
	defer ops.SetWinograd(true, 1, 1)()
	defer ops.SetWinogradS2(1, 0)()
	defer ops.SetWinogradBatch(4, 1)()
	n := cvNode("Conv", 1, cvInts("strides", 2, 2), cvInts("pads", 1, 1, 1, 1))
	w := cvRand(2, 12, 10, 3, 3)
	b := cvRand(3, 12)
	f, err := ops.NewFusedConv(n, 13, w, b, ops.FusedConvOptions{Pack: true, Release: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, batch := range []int{1, 4, 1} {
		x := cvRand(uint64(batch), batch, 10, 16, 18)
		if on, want := ops.WinoS2Path(f, x.Shape), batch == 4 && ops.Wino4Kernels(); on != want {
			t.Fatalf("batch %d: stride-2 Winograd path taken: %v, want %v", batch, on, want)
		}
		want, _ := refConv(x, w, b, 1, []int{2, 2}, nil, []int{1, 1, 1, 1})
		y := make([]float32, len(want))
		if err := f.Forward(&ops.Ctx{Threads: 2}, x, nil, y); err != nil {
			t.Fatal(err)
		}
		cvClose(t, fmt.Sprintf("batch %d", batch), y, want, winoTol)
		if i == 0 && !f.Released() {
			t.Errorf("batch %d: weights not released", batch)
		}
	}
}
