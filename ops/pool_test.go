package ops_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/gradcheck"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// refPool is a direct max or average pooling in float64 on 1 to 3 spatial
// dimensions with explicit pads (begin values then end values) and the
// given output spatial shape. Padding never wins a max; an average divides
// by the taps inside the input, or with countPad by the taps inside the
// padded input.
func refPool(x *tensor.Tensor, isMax, countPad bool, kernel, strides, dil, pads, outSp []int) []float64 {
	nsp := len(x.Shape) - 2
	lift := func(v []int, def int, off int) []int {
		r := []int{def, def, def}
		for i := range nsp {
			if v != nil {
				r[3-nsp+i] = v[off+i]
			}
		}
		return r
	}
	in := lift(x.Shape, 1, 2)
	k := lift(kernel, 1, 0)
	s := lift(strides, 1, 0)
	d := lift(dil, 1, 0)
	pb := lift(pads, 0, 0)
	pe := lift(pads, 0, nsp)
	out := lift(outSp, 1, 0)
	planes := x.Shape[0] * x.Shape[1]
	var y []float64
	for pl := range planes {
		for od := range out[0] {
			for oh := range out[1] {
				for ow := range out[2] {
					best, sum, cnt, padCnt := math.Inf(-1), 0.0, 0, 0
					for kd := range k[0] {
						for kh := range k[1] {
							for kw := range k[2] {
								pos := []int{od*s[0] - pb[0] + kd*d[0], oh*s[1] - pb[1] + kh*d[1], ow*s[2] - pb[2] + kw*d[2]}
								inPad, inInput := true, true
								for a := range 3 {
									if pos[a] < -pb[a] || pos[a] >= in[a]+pe[a] {
										inPad = false
									}
									if pos[a] < 0 || pos[a] >= in[a] {
										inInput = false
									}
								}
								if inPad {
									padCnt++
								}
								if !inInput {
									continue
								}
								v := float64(x.F[((pl*in[0]+pos[0])*in[1]+pos[1])*in[2]+pos[2]])
								best = math.Max(best, v)
								sum += v
								cnt++
							}
						}
					}
					switch {
					case isMax:
						y = append(y, best)
					case countPad:
						y = append(y, sum/float64(padCnt))
					default:
						y = append(y, sum/float64(cnt))
					}
				}
			}
		}
	}
	return y
}

type poolCase struct {
	name         string
	x            []int
	kernel       []int
	strides, dil []int
	pads         []int
	autoPad      string
	ceil         bool
	countPad     bool
	refPads      []int // the pads auto_pad comes to, by hand
	want         []int // output spatial shape, by hand
}

var poolCases = []poolCase{
	{name: "2x2 stride 2", x: []int{1, 2, 6, 6}, kernel: []int{2, 2}, strides: []int{2, 2}, want: []int{3, 3}},
	{name: "3x3 stride 1 odd", x: []int{2, 3, 7, 5}, kernel: []int{3, 3}, want: []int{5, 3}},
	{name: "3x3 stride 2 pad 1", x: []int{1, 2, 7, 8}, kernel: []int{3, 3}, strides: []int{2, 2},
		pads: []int{1, 1, 1, 1}, want: []int{4, 4}},
	{name: "asymmetric pads", x: []int{1, 1, 6, 7}, kernel: []int{3, 2}, strides: []int{2, 3},
		pads: []int{0, 1, 2, 0}, want: []int{3, 3}},
	{name: "count_include_pad", x: []int{1, 2, 5, 5}, kernel: []int{3, 3}, strides: []int{2, 2},
		pads: []int{1, 2, 1, 0}, countPad: true, want: []int{3, 3}},
	{name: "ceil_mode", x: []int{1, 1, 6, 7}, kernel: []int{3, 3}, strides: []int{2, 2}, ceil: true,
		want: []int{3, 3}},
	// (5+1+1-2)/2 = 2.5 rounds up to 4 windows, but the fourth would
	// start at padded position 6, in the end padding, so it is dropped.
	{name: "ceil_mode drops window in end padding", x: []int{1, 1, 5, 5}, kernel: []int{2, 2},
		strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, ceil: true, want: []int{3, 3}},
	// The last windows reach past the input, where no padding is counted.
	{name: "ceil_mode count_include_pad", x: []int{1, 2, 7, 7}, kernel: []int{3, 3}, strides: []int{2, 2},
		pads: []int{1, 1, 0, 0}, ceil: true, countPad: true, want: []int{4, 4}},
	// Rows: 7/3 rounds up to 4 windows, the last starting at 9, past
	// the input, so 3 remain. Columns: 11/3 rounds up to 5 windows.
	{name: "ceil_mode stride 3", x: []int{1, 1, 9, 12}, kernel: []int{2, 3}, strides: []int{3, 3},
		pads: []int{0, 1, 0, 1}, ceil: true, want: []int{3, 5}},
	{name: "dilation 2", x: []int{1, 2, 8, 7}, kernel: []int{2, 3}, dil: []int{2, 2}, strides: []int{1, 2},
		pads: []int{1, 1, 1, 1}, want: []int{8, 3}},
	{name: "SAME_UPPER", x: []int{1, 2, 6, 7}, kernel: []int{3, 2}, strides: []int{2, 2}, autoPad: "SAME_UPPER",
		refPads: []int{0, 0, 1, 1}, want: []int{3, 4}},
	{name: "SAME_LOWER", x: []int{1, 2, 6, 7}, kernel: []int{3, 2}, strides: []int{2, 2}, autoPad: "SAME_LOWER",
		refPads: []int{1, 1, 0, 0}, want: []int{3, 4}},
	{name: "VALID", x: []int{1, 1, 9, 8}, kernel: []int{3, 2}, strides: []int{3, 3}, autoPad: "VALID",
		refPads: []int{0, 0, 0, 0}, want: []int{3, 3}},
	{name: "1-D", x: []int{2, 3, 10}, kernel: []int{3}, strides: []int{2}, pads: []int{1, 0}, want: []int{5}},
	{name: "3-D", x: []int{1, 2, 4, 5, 5}, kernel: []int{2, 2, 3}, strides: []int{2, 2, 1},
		pads: []int{0, 1, 1, 0, 0, 1}, want: []int{2, 3, 5}},
}

func poolNodeFor(op string, c poolCase) *graph.Node {
	attrs := []*graph.Attr{cvInts("kernel_shape", cvInts64(c.kernel)...)}
	if c.strides != nil {
		attrs = append(attrs, cvInts("strides", cvInts64(c.strides)...))
	}
	if c.dil != nil {
		attrs = append(attrs, cvInts("dilations", cvInts64(c.dil)...))
	}
	if c.pads != nil {
		attrs = append(attrs, cvInts("pads", cvInts64(c.pads)...))
	}
	if c.autoPad != "" {
		attrs = append(attrs, cvStr("auto_pad", c.autoPad))
	}
	if c.ceil {
		attrs = append(attrs, cvInt("ceil_mode", 1))
	}
	if c.countPad {
		attrs = append(attrs, cvInt("count_include_pad", 1))
	}
	return cvNode(op, 1, attrs...)
}

// poolDistinct returns a tensor whose values are a random permutation of
// well-separated levels, so that no max ties or nearly ties.
func poolDistinct(seed uint64, shape ...int) *tensor.Tensor {
	t := tensor.Zeros(shape...)
	r := rand.New(rand.NewPCG(seed, 5))
	for i, p := range r.Perm(len(t.F)) {
		t.F[i] = float32(p)*0.05 - 2
	}
	return t
}

func TestPoolForward(t *testing.T) {
	for i, c := range poolCases {
		for _, isMax := range []bool{true, false} {
			op := "AveragePool"
			if isMax {
				op = "MaxPool"
			}
			t.Run(op+" "+c.name, func(t *testing.T) {
				p := cvBuild(t, poolNodeFor(op, c), 19)
				x := cvRand(uint64(i), c.x...)
				pads := c.pads
				if c.autoPad != "" {
					pads = c.refPads
				}
				want := refPool(x, isMax, c.countPad, c.kernel, c.strides, c.dil, pads, c.want)
				out := cvRun(t, p, nil, []*tensor.Tensor{x})
				wantShape := append([]int{c.x[0], c.x[1]}, c.want...)
				if !tensor.EqualShape(out[0].Shape, wantShape) {
					t.Fatalf("shape %v, want %v", out[0].Shape, wantShape)
				}
				cvClose(t, op, out[0].F, want, 1e-6)
				// The same values written into a given buffer (ops.Into),
				// whatever it held.
				y := make([]float32, len(out[0].F))
				for i := range y {
					y[i] = float32(math.NaN())
				}
				ok, err := p.(ops.Into).ForwardInto(nil, []*tensor.Tensor{x}, y)
				if err != nil || !ok {
					t.Fatalf("ForwardInto: %v, %v", ok, err)
				}
				for i, v := range y {
					if math.Float32bits(v) != math.Float32bits(out[0].F[i]) {
						t.Fatalf("ForwardInto: element %d is %v, Forward gives %v", i, v, out[0].F[i])
					}
				}
			})
		}
	}
}

func TestPoolGradient(t *testing.T) {
	for i, c := range poolCases {
		for _, op := range []string{"MaxPool", "AveragePool"} {
			t.Run(op+" "+c.name, func(t *testing.T) {
				p := cvBuild(t, poolNodeFor(op, c), 19)
				x := poolDistinct(uint64(i), c.x...)
				// A step well below the level spacing keeps every
				// probe on one side of each max.
				gradcheck.Check(t, p, []*tensor.Tensor{x}, []bool{true}, gradcheck.Options{Step: 1e-3, Seed: uint64(i)})
			})
		}
	}
}

// TestMaxPoolTies checks that the gradient of a window of equal values
// goes to its first element in scan order, as in PyTorch.
func TestMaxPoolTies(t *testing.T) {
	p := cvBuild(t, cvNode("MaxPool", 1, cvInts("kernel_shape", 2, 2), cvInts("strides", 1, 1)), 12)
	x := tensor.FromFloat32([]int{1, 1, 2, 3}, []float32{
		5, 5, 5,
		5, 5, 1,
	})
	out := cvRun(t, p, nil, []*tensor.Tensor{x})
	dy := tensor.FromFloat32([]int{1, 1, 1, 2}, []float32{1, 10})
	g, err := p.Backward(nil, []*tensor.Tensor{x}, out, []*tensor.Tensor{dy}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	// Window 0 covers columns 0-1, window 1 columns 1-2; each picks its
	// top-left element.
	cvClose(t, "dX", g[0].F, []float64{1, 10, 0, 0, 0, 0}, 0)
}

// TestMaxPoolIndices checks the optional Indices output against flat
// indices worked out by hand, in row-major and column-major order.
func TestMaxPoolIndices(t *testing.T) {
	// Two planes of 3x4; 2x2 windows with stride 2 give 1x2 outputs.
	x := tensor.FromFloat32([]int{1, 2, 3, 4}, []float32{
		1, 9, 2, 3,
		4, 5, 8, 6,
		0, 0, 0, 0,

		7, 1, 2, 3,
		4, 5, 6, 9,
		0, 0, 0, 0,
	})
	cases := []struct {
		order int64
		y     []float64
		idx   []int64
	}{
		// Maxima at (0,1), (1,2) of plane 0 and (0,0), (1,3) of plane 1.
		{0, []float64{9, 8, 7, 9}, []int64{1, 6, 12, 12 + 7}},
		// Column-major: (h, w) -> w*3 + h.
		{1, []float64{9, 8, 7, 9}, []int64{3, 7, 12, 12 + 10}},
	}
	for _, c := range cases {
		n := cvNode("MaxPool", 2, cvInts("kernel_shape", 2, 2), cvInts("strides", 2, 2), cvInt("storage_order", c.order))
		p := cvBuild(t, n, 12)
		out := cvRun(t, p, nil, []*tensor.Tensor{x})
		if len(out) != 2 || out[1].DType != tensor.Int64 {
			t.Fatalf("storage_order %d: want Y and int64 Indices, got %d outputs", c.order, len(out))
		}
		cvClose(t, "Y", out[0].F, c.y, 0)
		for i, v := range c.idx {
			if out[1].I[i] != v {
				t.Fatalf("storage_order %d: Indices %v, want %v", c.order, out[1].I, c.idx)
			}
		}
		// The Indices output takes no gradient; Y's goes to the argmax.
		dy := tensor.FromFloat32([]int{1, 2, 1, 2}, []float32{1, 2, 3, 4})
		g, err := p.Backward(nil, []*tensor.Tensor{x}, out, []*tensor.Tensor{dy, nil}, []bool{true})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float64, 24)
		want[1], want[6], want[12], want[19] = 1, 2, 3, 4
		cvClose(t, "dX", g[0].F, want, 0)
	}
}

// TestMaxPoolInt64 checks max pooling of integer data (ONNX uint8 and
// int8 tensors are computed as int64).
// TestPoolIntoDeclines checks that ForwardInto declines, writing nothing,
// where the output is not one float tensor (with the indices output, on
// int64 input) or not of the buffer's size.
func TestPoolIntoDeclines(t *testing.T) {
	withIdx := cvNode("MaxPool", 2, cvInts("kernel_shape", 2, 2))
	plain := cvNode("MaxPool", 1, cvInts("kernel_shape", 2, 2))
	xf := tensor.FromFloat32([]int{1, 1, 2, 2}, []float32{1, 2, 3, 4})
	xi := tensor.FromInt64([]int{1, 1, 2, 2}, []int64{1, 2, 3, 4})
	for name, c := range map[string]struct {
		n *graph.Node
		x *tensor.Tensor
	}{"indices": {withIdx, xf}, "int64": {plain, xi}, "another size": {plain, tensor.FromFloat32([]int{1, 2, 2, 2}, make([]float32, 8))}} {
		op, err := ops.New(c.n, 13)
		if err != nil {
			t.Fatal(err)
		}
		y := []float32{-7}
		ok, err := op.(ops.Into).ForwardInto(nil, []*tensor.Tensor{c.x}, y)
		if ok || err != nil || y[0] != -7 {
			t.Errorf("%s: ForwardInto = %v, %v, buffer %v; want false, nil, untouched", name, ok, err, y)
		}
	}
}

func TestMaxPoolInt64(t *testing.T) {
	p := cvBuild(t, cvNode("MaxPool", 1, cvInts("kernel_shape", 2), cvInts("pads", 1, 0)), 12)
	x := tensor.FromInt64([]int{1, 1, 4}, []int64{-3, 250, 7, 8})
	out := cvRun(t, p, nil, []*tensor.Tensor{x})
	want := []int64{-3, 250, 250, 8}
	if out[0].DType != tensor.Int64 || len(out[0].I) != 4 {
		t.Fatalf("got %v", out[0])
	}
	for i, v := range want {
		if out[0].I[i] != v {
			t.Fatalf("got %v, want %v", out[0].I, want)
		}
	}
}

func TestGlobalPool(t *testing.T) {
	x := tensor.FromFloat32([]int{1, 2, 2, 3}, []float32{
		1, 2, 3,
		4, 5, 9,

		-1, -7, -2,
		-3, -1, -4,
	})
	avg := cvBuild(t, cvNode("GlobalAveragePool", 1), 1)
	out := cvRun(t, avg, nil, []*tensor.Tensor{x})
	if !tensor.EqualShape(out[0].Shape, []int{1, 2, 1, 1}) {
		t.Fatalf("shape %v", out[0].Shape)
	}
	cvClose(t, "GlobalAveragePool", out[0].F, []float64{4, -3}, 1e-7)
	mx := cvBuild(t, cvNode("GlobalMaxPool", 1), 1)
	out = cvRun(t, mx, nil, []*tensor.Tensor{x})
	cvClose(t, "GlobalMaxPool", out[0].F, []float64{9, -1}, 0)
	// Ties go to the first maximum: -1 at positions 0 and 4 of plane 1.
	g, err := mx.Backward(nil, []*tensor.Tensor{x}, out, []*tensor.Tensor{tensor.FromFloat32([]int{1, 2, 1, 1}, []float32{2, 3})}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	cvClose(t, "GlobalMaxPool dX", g[0].F, []float64{0, 0, 0, 0, 0, 2, 3, 0, 0, 0, 0, 0}, 0)

	for _, shape := range [][]int{{2, 3, 4, 5}, {1, 4, 7}, {2, 2, 2, 3, 2}} {
		for _, op := range []ops.Differentiable{avg, mx} {
			gradcheck.Check(t, op, []*tensor.Tensor{poolDistinct(3, shape...)}, []bool{true}, gradcheck.Options{Step: 1e-3})
		}
	}
}

func TestPoolErrors(t *testing.T) {
	bad := []*graph.Node{
		cvNode("MaxPool", 1), // no kernel_shape
		cvNode("AveragePool", 1, cvInts("kernel_shape", 0, 2)),
		cvNode("MaxPool", 1, cvInts("kernel_shape", 2, 2), cvStr("auto_pad", "BOTH")),
	}
	for _, n := range bad {
		if _, err := ops.New(n, 12); err == nil {
			t.Errorf("New accepted %v", n.Attrs)
		}
	}
	p := cvBuild(t, cvNode("MaxPool", 1, cvInts("kernel_shape", 3, 3)), 12)
	for _, shape := range [][]int{{1, 1, 2, 5}, {1, 4}, {1, 1, 5}} {
		if _, err := p.Infer([]ops.Value{{DType: tensor.Float32, Shape: shape}}); err == nil {
			t.Errorf("Infer accepted %v", shape)
		}
	}
}

// BenchmarkMaxPool times ResNet50's 3x3 stride-2 max pooling (64 planes of
// 112x112 to 56x56, padding 1) on one and two threads.
func BenchmarkMaxPool(b *testing.B) {
	c := poolCase{x: []int{1, 64, 112, 112}, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}}
	op, err := ops.New(poolNodeFor("MaxPool", c), 13)
	if err != nil {
		b.Fatal(err)
	}
	x := cvRand(1, c.x...)
	for _, threads := range []int{1, 2} {
		b.Run(map[int]string{1: "1thread", 2: "2threads"}[threads], func(b *testing.B) {
			ctx := &ops.Ctx{Threads: threads}
			for b.Loop() {
				if _, err := op.Forward(ctx, []*tensor.Tensor{x}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMaxPool3x3 checks the 3x3 max pooling path (masked vector maxima
// over the input, or its stride-2 phases) against the float64 reference
// on odd sizes, rows shorter and longer than a vector, every padding of 0
// or 1 it takes, ceil_mode, batches and negative inputs (padding must
// not win), on one and two threads.
func TestMaxPool3x3(t *testing.T) {
	var cases []poolCase
	for _, hw := range [][2]int{{1, 1}, {2, 5}, {3, 3}, {7, 7}, {14, 15}, {6, 17}, {13, 33}, {12, 40}, {5, 64}, {9, 65}, {4, 112}} {
		for _, s := range []int{1, 2} {
			for _, p := range [][]int{{1, 1, 1, 1}, {0, 0, 1, 1}, {0, 0, 0, 0}, {1, 0, 0, 1}} {
				for _, ceil := range []bool{false, true} {
					if hw[0]+p[0]+p[2] < 3 || hw[1]+p[1]+p[3] < 3 {
						continue
					}
					cases = append(cases, poolCase{x: []int{2, 3, hw[0], hw[1]}, kernel: []int{3, 3},
						strides: []int{s, s}, pads: p, ceil: ceil})
				}
			}
		}
	}
	for i, c := range cases {
		op, err := ops.New(poolNodeFor("MaxPool", c), 13)
		if err != nil {
			t.Fatal(err)
		}
		x := cvRand(uint64(i), c.x...)
		for j := range x.F {
			x.F[j] -= 3 // all negative: a zero from the padding would win
		}
		vals, err := op.Infer(cvValues([]*tensor.Tensor{x}))
		if err != nil {
			t.Fatal(err)
		}
		want := refPool(x, true, false, c.kernel, c.strides, nil, c.pads, vals[0].Shape[2:])
		for _, threads := range []int{1, 2} {
			out, err := op.Forward(&ops.Ctx{Threads: threads}, []*tensor.Tensor{x})
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range out[0].F {
				if float64(v) != want[j] {
					t.Fatalf("%v stride %d pads %v ceil %v, %d threads: element %d is %g, want %g",
						c.x, c.strides[0], c.pads, c.ceil, threads, j, v, want[j])
				}
			}
		}
	}
}
