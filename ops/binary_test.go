package ops_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/gradcheck"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

func TestBinaryForward(t *testing.T) {
	a := f32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	col := f32([]int{2, 1}, 10, 20)
	row := f32([]int{3}, 1, 2, 4)
	s := f32(nil, 2)
	tests := []struct {
		op    string
		x, y  *tensor.Tensor
		shape []int
		want  []float32
	}{
		{"Add", a, a, []int{2, 3}, []float32{2, 4, 6, 8, 10, 12}},
		{"Add", a, col, []int{2, 3}, []float32{11, 12, 13, 24, 25, 26}},
		{"Add", row, col, []int{2, 3}, []float32{11, 12, 14, 21, 22, 24}},
		{"Sub", a, row, []int{2, 3}, []float32{0, 0, -1, 3, 3, 2}},
		{"Sub", s, a, []int{2, 3}, []float32{1, 0, -1, -2, -3, -4}},
		{"Mul", a, s, []int{2, 3}, []float32{2, 4, 6, 8, 10, 12}},
		{"Mul", col, row, []int{2, 3}, []float32{10, 20, 40, 20, 40, 80}},
		{"Div", a, row, []int{2, 3}, []float32{1, 1, 0.75, 4, 2.5, 1.5}},
		{"Div", s, col, []int{2, 1}, []float32{0.2, 0.1}},
		{"Pow", a, s, []int{2, 3}, []float32{1, 4, 9, 16, 25, 36}},
		{"Pow", row, f32(nil, 0.5), []int{3}, []float32{1, float32(math.Sqrt2), 2}},
		{"Pow", s, row, []int{3}, []float32{2, 4, 16}},
		{"Pow", a, i64(nil, 3), []int{2, 3}, []float32{1, 8, 27, 64, 125, 216}},
		{"PRelu", f32([]int{2, 2}, -1, 2, -3, 4), f32([]int{2, 1}, 0.1, 0.5), []int{2, 2}, []float32{-0.1, 2, -1.5, 4}},
		{"PRelu", f32([]int{1, 2, 2}, -1, -2, -3, 4), f32([]int{2, 1}, 0.1, 0.5), []int{1, 2, 2}, []float32{-0.1, -0.2, -1.5, 4}},
	}
	for _, tc := range tests {
		out := elemRun(t, elemNode(t, tc.op, 14, 1), tc.x, tc.y)
		elemClose(t, fmt.Sprintf("%s %v %v", tc.op, tc.x.Shape, tc.y.Shape), out[0], tc.shape, tc.want, 1e-6)
	}
}

// TestBinaryInt64 checks integer arithmetic, which exporters use for shape
// computations. Integer Div truncates toward zero, as C++ (ONNX Runtime)
// and the ONNX reference implementation do.
func TestBinaryInt64(t *testing.T) {
	a := i64([]int{4}, 7, -7, 7, -7)
	b := i64([]int{4}, 2, 2, -2, -2)
	tests := []struct {
		op   string
		x, y *tensor.Tensor
		want []int64
	}{
		{"Add", a, b, []int64{9, -5, 5, -9}},
		{"Sub", a, b, []int64{5, -9, 9, -5}},
		{"Mul", a, b, []int64{14, -14, -14, 14}},
		{"Div", a, b, []int64{3, -3, -3, 3}},
		{"Div", i64([]int{3}, 224, 225, 1), i64(nil, 32), []int64{7, 7, 0}},
		{"Pow", i64([]int{3}, 2, -3, 5), i64(nil, 3), []int64{8, -27, 125}},
		{"Mul", i64([]int{2, 1}, 3, 4), i64([]int{2}, 10, 100), []int64{30, 300, 40, 400}},
	}
	for _, tc := range tests {
		out := elemRun(t, elemNode(t, tc.op, 14, 1), tc.x, tc.y)
		elemInts(t, tc.op, out[0], out[0].Shape, tc.want)
		if out[0].Len() != len(tc.want) {
			t.Errorf("%s: %d elements, want %d", tc.op, out[0].Len(), len(tc.want))
		}
	}
	if _, err := elemNode(t, "Div", 14, 1).Forward(nil, []*tensor.Tensor{a, i64(nil, 0)}); err == nil {
		t.Error("integer division by zero did not fail")
	}
	if _, err := elemNode(t, "Add", 14, 1).Forward(nil, []*tensor.Tensor{a, f32([]int{4}, 1, 2, 3, 4)}); err == nil {
		t.Error("Add of int64 and float32 did not fail")
	}
	if _, err := elemNode(t, "Add", 14, 1).Infer(elemValues([]*tensor.Tensor{a, f32([]int{3}, 1, 2, 3)})); err == nil {
		t.Error("Infer accepted mixed types")
	}
}

func TestBinaryShapeErrors(t *testing.T) {
	op := elemNode(t, "Add", 14, 1)
	x, y := tensor.Zeros(2, 3), tensor.Zeros(3, 2)
	if _, err := op.Infer(elemValues([]*tensor.Tensor{x, y})); err == nil {
		t.Error("Infer accepted [2 3] + [3 2]")
	}
	if _, err := op.Forward(nil, []*tensor.Tensor{x, y}); err == nil {
		t.Error("Forward accepted [2 3] + [3 2]")
	}
	// PRelu's slope broadcasts one way only.
	pr := elemNode(t, "PRelu", 16, 1)
	if _, err := pr.Infer(elemValues([]*tensor.Tensor{tensor.Zeros(3), tensor.Zeros(2, 3)})); err == nil {
		t.Error("PRelu accepted a slope larger than the input")
	}
}

func TestVariadicForward(t *testing.T) {
	a := f32([]int{2, 2}, 1, 5, -3, 0)
	b := f32([]int{2}, 2, 4)
	c := f32(nil, -1)
	tests := []struct {
		op   string
		in   []*tensor.Tensor
		want []float32
	}{
		{"Max", []*tensor.Tensor{a, b, c}, []float32{2, 5, 2, 4}},
		{"Min", []*tensor.Tensor{a, b, c}, []float32{-1, -1, -3, -1}},
		{"Sum", []*tensor.Tensor{a, b, c}, []float32{2, 8, -2, 3}},
		{"Mean", []*tensor.Tensor{a, b, c}, []float32{2.0 / 3, 8.0 / 3, -2.0 / 3, 1}},
		{"Sum", []*tensor.Tensor{a}, []float32{1, 5, -3, 0}},
		{"Mean", []*tensor.Tensor{a}, []float32{1, 5, -3, 0}},
		{"Max", []*tensor.Tensor{a, a}, []float32{1, 5, -3, 0}},
	}
	for _, tc := range tests {
		out := elemRun(t, elemNode(t, tc.op, 13, 1), tc.in...)
		elemClose(t, tc.op, out[0], []int{2, 2}, tc.want, 1e-6)
		if len(tc.in) == 1 && &out[0].F[0] == &a.F[0] {
			t.Errorf("%s of one input shares its data", tc.op)
		}
	}
	out := elemRun(t, elemNode(t, "Max", 13, 1), i64([]int{3}, 1, 7, 3), i64(nil, 4))
	elemInts(t, "Max int64", out[0], []int{3}, []int64{4, 7, 4})
}

func TestCompareAndWhere(t *testing.T) {
	a := f32([]int{2, 2}, 1, 2, 3, 4)
	b := f32([]int{2}, 2, 2)
	for _, tc := range []struct {
		op   string
		want []int64
	}{
		{"Equal", []int64{0, 1, 0, 0}},
		{"Less", []int64{1, 0, 0, 0}},
		{"Greater", []int64{0, 0, 1, 1}},
		{"LessOrEqual", []int64{1, 1, 0, 0}},
		{"GreaterOrEqual", []int64{0, 1, 1, 1}},
	} {
		out := elemRun(t, elemNode(t, tc.op, 16, 1), a, b)
		elemInts(t, tc.op, out[0], []int{2, 2}, tc.want)
	}
	out := elemRun(t, elemNode(t, "Equal", 13, 1), i64([]int{3}, 1, 2, 3), i64(nil, 2))
	elemInts(t, "Equal int64", out[0], []int{3}, []int64{0, 1, 0})

	cond := i64([]int{2, 1}, 1, 0)
	out = elemRun(t, elemNode(t, "Where", 16, 1), cond, a, f32(nil, -1))
	elemClose(t, "Where", out[0], []int{2, 2}, []float32{1, 2, -1, -1}, 0)
	out = elemRun(t, elemNode(t, "Where", 16, 1), i64([]int{2}, 0, 1), i64([]int{2}, 5, 6), i64([]int{2, 1}, 7, 8))
	elemInts(t, "Where int64", out[0], []int{2, 2}, []int64{7, 6, 8, 6})
}

// binaryShapePairs are the operand shapes the gradient checks run on:
// equal shapes, per-channel, trailing vector, one element, scalars, both
// sides broadcast, and odd sizes.
var binaryShapePairs = [][2][]int{
	{{2, 3, 4, 5}, {2, 3, 4, 5}},
	{{2, 3, 4, 5}, {3, 1, 1}},
	{{2, 3, 4, 5}, {1}},
	{{2, 3, 4, 5}, {5}},
	{{2, 3, 4, 5}, {}},
	{{}, {2, 3}},
	{{1, 3, 1, 1}, {2, 3, 4, 5}},
	{{3, 1, 5}, {1, 4, 1}},
	{{7, 1, 3}, {5, 3}},
	{{}, {}},
}

func TestBinaryGradcheck(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	tests := []struct {
		op           string
		alo, ahi     float32
		blo, bhi     float32
		akink, bkink []float32
	}{
		{op: "Add", alo: -2, ahi: 2, blo: -2, bhi: 2},
		{op: "Sub", alo: -2, ahi: 2, blo: -2, bhi: 2},
		{op: "Mul", alo: -2, ahi: 2, blo: -2, bhi: 2},
		{op: "Div", alo: -2, ahi: 2, blo: 0.5, bhi: 2},
		{op: "Div", alo: -2, ahi: 2, blo: -2, bhi: -0.5},
		{op: "Pow", alo: 0.5, ahi: 2, blo: -1.5, bhi: 2.5},
	}
	for _, tc := range tests {
		op := elemNode(t, tc.op, 14, 1).(ops.Differentiable)
		for _, sh := range binaryShapePairs {
			t.Run(fmt.Sprintf("%s/%v/%v", tc.op, sh[0], sh[1]), func(t *testing.T) {
				a := elemRand(r, tc.alo, tc.ahi, tc.akink, 0.1, sh[0]...)
				b := elemRand(r, tc.blo, tc.bhi, tc.bkink, 0.1, sh[1]...)
				gradcheck.Check(t, op, []*tensor.Tensor{a, b}, []bool{true, true}, gradcheck.Options{Seed: 1})
			})
		}
	}
	// PRelu: the slope broadcasts to X only.
	op := elemNode(t, "PRelu", 16, 1).(ops.Differentiable)
	for _, sh := range [][2][]int{{{2, 3, 4, 5}, {3, 1, 1}}, {{2, 3, 4, 5}, {1}}, {{2, 3, 4, 5}, {5}}, {{2, 3, 4, 5}, {2, 3, 4, 5}}, {{7, 3}, {}}} {
		t.Run(fmt.Sprintf("PRelu/%v/%v", sh[0], sh[1]), func(t *testing.T) {
			x := elemRand(r, -2, 2, []float32{0}, 0.1, sh[0]...)
			s := elemRand(r, -0.5, 0.8, nil, 0, sh[1]...)
			gradcheck.Check(t, op, []*tensor.Tensor{x, s}, []bool{true, true}, gradcheck.Options{Seed: 2})
		})
	}
}

// elemDistinct returns tensors of the given shapes whose values are all
// distinct multiples of 0.1 (so Max and Min have no ties, and no pair is
// closer than a finite-difference step can bridge).
func elemDistinct(r *rand.Rand, shapes ...[]int) []*tensor.Tensor {
	n := 0
	for _, s := range shapes {
		n += tensor.Size(s)
	}
	perm := r.Perm(n)
	out := make([]*tensor.Tensor, len(shapes))
	k := 0
	for i, s := range shapes {
		out[i] = tensor.Zeros(s...)
		for j := range out[i].F {
			out[i].F[j] = 0.1 * float32(perm[k]-n/2)
			k++
		}
	}
	return out
}

func TestVariadicGradcheck(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	sets := [][][]int{
		{{2, 3, 4}},
		{{2, 3, 4}, {2, 3, 4}},
		{{2, 3, 4}, {3, 1}, {}},
		{{4}, {2, 3, 1}, {1, 1, 4}},
	}
	for _, name := range []string{"Max", "Min", "Sum", "Mean"} {
		op := elemNode(t, name, 13, 1).(ops.Differentiable)
		for _, shapes := range sets {
			t.Run(fmt.Sprintf("%s/%v", name, shapes), func(t *testing.T) {
				in := elemDistinct(r, shapes...)
				need := make([]bool, len(in))
				for i := range need {
					need[i] = true
				}
				// Steps of 0.01 keep values 0.1 apart in order.
				gradcheck.Check(t, op, in, need, gradcheck.Options{Seed: 4, Step: 0.01})
			})
		}
	}
}

// TestMaxTieGradient pins the tie rule: equal inputs share the gradient.
func TestMaxTieGradient(t *testing.T) {
	a := f32([]int{3}, 1, 2, 3)
	b := f32([]int{3}, 1, 5, 0)
	for _, name := range []string{"Max", "Min"} {
		op := elemNode(t, name, 13, 1).(ops.Differentiable)
		out := elemRun(t, op, a, b, a)
		g, err := op.Backward(nil, []*tensor.Tensor{a, b, a}, out, []*tensor.Tensor{f32([]int{3}, 6, 6, 6)}, []bool{true, true, false})
		if err != nil {
			t.Fatal(err)
		}
		if name == "Max" {
			elemClose(t, "Max grad a", g[0], []int{3}, []float32{2, 0, 3}, 1e-6)
			elemClose(t, "Max grad b", g[1], []int{3}, []float32{2, 6, 0}, 1e-6)
		} else {
			elemClose(t, "Min grad a", g[0], []int{3}, []float32{2, 3, 0}, 1e-6)
			elemClose(t, "Min grad b", g[1], []int{3}, []float32{2, 0, 6}, 1e-6)
		}
		if g[2] != nil {
			t.Errorf("%s: gradient returned for an input not needed", name)
		}
	}
}

func TestWhereGradcheck(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	op := elemNode(t, "Where", 16, 1).(ops.Differentiable)
	for _, sh := range [][3][]int{
		{{2, 3, 4}, {2, 3, 4}, {2, 3, 4}},
		{{3, 1}, {2, 3, 4}, {}},
		{{4}, {3, 1}, {2, 1, 1}},
	} {
		cond := tensor.New(tensor.Int64, sh[0]...)
		for i := range cond.I {
			cond.I[i] = int64(r.IntN(2))
		}
		x := gradcheck.Rand(r, -1, 1, sh[1]...)
		y := gradcheck.Rand(r, -1, 1, sh[2]...)
		t.Run(fmt.Sprint(sh), func(t *testing.T) {
			gradcheck.Check(t, op, []*tensor.Tensor{cond, x, y}, []bool{false, true, true}, gradcheck.Options{Seed: 5})
		})
	}
}

// TestBinaryNilGradOut checks that a missing output gradient gives zero
// input gradients of the inputs' shapes.
func TestBinaryNilGradOut(t *testing.T) {
	a, b := tensor.Zeros(2, 3), tensor.Zeros(3)
	for _, name := range []string{"Add", "Mul", "Max"} {
		op := elemNode(t, name, 14, 1).(ops.Differentiable)
		out := elemRun(t, op, a, b)
		g, err := op.Backward(nil, []*tensor.Tensor{a, b}, out, []*tensor.Tensor{nil}, []bool{true, true})
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.EqualShape(g[0].Shape, a.Shape) || !tensor.EqualShape(g[1].Shape, b.Shape) {
			t.Errorf("%s: gradient shapes %v %v", name, g[0].Shape, g[1].Shape)
		}
	}
}

// BenchmarkElementwise times the hot elementwise ops on a ResNet-sized
// activation [1, 256, 56, 56].
func BenchmarkElementwise(b *testing.B) {
	r := rand.New(rand.NewPCG(41, 42))
	x := gradcheck.Rand(r, -1, 1, 1, 256, 56, 56)
	y := gradcheck.Rand(r, -1, 1, 1, 256, 56, 56)
	ch := gradcheck.Rand(r, 0.5, 1, 1, 256, 1, 1)
	cases := []struct {
		name string
		op   string
		in   []*tensor.Tensor
	}{
		{"Relu", "Relu", []*tensor.Tensor{x}},
		{"Clip", "Clip", []*tensor.Tensor{x, f32(nil, 0), f32(nil, 6)}},
		{"Sigmoid", "Sigmoid", []*tensor.Tensor{x}},
		{"Add", "Add", []*tensor.Tensor{x, y}},
		{"MulPerChannel", "Mul", []*tensor.Tensor{x, ch}},
		{"Softmax", "Softmax", []*tensor.Tensor{x}},
		{"ReduceMeanHW", "ReduceMean", []*tensor.Tensor{x}},
	}
	for _, c := range cases {
		var attrs []*graph.Attr
		if c.op == "ReduceMean" {
			attrs = append(attrs, elemAttrInts("axes", 2, 3))
		}
		n := &graph.Node{OpType: c.op, Outputs: []string{"y"}, Attrs: map[string]*graph.Attr{}}
		for _, a := range attrs {
			n.Attrs[a.Name] = a
		}
		op, err := ops.New(n, 13)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(4 * x.Len()))
			for b.Loop() {
				if _, err := op.Forward(nil, c.in); err != nil {
					b.Fatal(err)
				}
			}
		})
		if d, ok := op.(ops.Differentiable); ok {
			out, _ := op.Forward(nil, c.in)
			g := gradcheck.Rand(r, -1, 1, out[0].Shape...)
			need := make([]bool, len(c.in))
			for i := range need {
				need[i] = c.in[i].Len() > 1
			}
			b.Run(c.name+"Backward", func(b *testing.B) {
				for b.Loop() {
					if _, err := d.Backward(nil, c.in, out, []*tensor.Tensor{g}, need); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
