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

// Helpers shared by the elementwise, softmax and reduction tests. Their
// names start with elem to stay clear of other op files' test helpers.

func elemAttrF(name string, v float32) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrFloat, F: v}
}

func elemAttrI(name string, v int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInt, I: v}
}

func elemAttrInts(name string, v ...int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInts, Ints: v}
}

// elemNode builds an op of type opType for opset, with nOut outputs.
func elemNode(t testing.TB, opType string, opset int64, nOut int, attrs ...*graph.Attr) ops.Op {
	t.Helper()
	n := &graph.Node{Name: "test", OpType: opType, Attrs: map[string]*graph.Attr{}}
	for i := range nOut {
		n.Outputs = append(n.Outputs, "out"+string(rune('0'+i)))
	}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	op, err := ops.New(n, opset)
	if err != nil {
		t.Fatalf("ops.New(%s): %v", opType, err)
	}
	return op
}

// elemValues describes the inputs as Infer sees them, every given input
// constant.
func elemValues(in []*tensor.Tensor) []ops.Value {
	v := make([]ops.Value, len(in))
	for i, x := range in {
		if x != nil {
			v[i] = ops.Value{DType: x.DType, Shape: x.Shape, Const: x}
		}
	}
	return v
}

// elemRun runs Infer and Forward, checks that they agree on the outputs'
// types and shapes, and returns the outputs.
func elemRun(t testing.TB, op ops.Op, in ...*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	vals, err := op.Infer(elemValues(in))
	if err != nil {
		t.Fatalf("Infer: %v", err)
	}
	out, err := op.Forward(nil, in)
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	if len(vals) != len(out) {
		t.Fatalf("Infer gives %d outputs, Forward %d", len(vals), len(out))
	}
	for i := range out {
		if vals[i].DType != out[i].DType || !tensor.EqualShape(vals[i].Shape, out[i].Shape) {
			t.Fatalf("output %d: Infer says %s%v, Forward gives %s%v", i, vals[i].DType, vals[i].Shape, out[i].DType, out[i].Shape)
		}
	}
	return out
}

// elemClose fails unless got has the wanted shape and values within tol
// (relative to 1 + |want|).
func elemClose(t testing.TB, what string, got *tensor.Tensor, shape []int, want []float32, tol float64) {
	t.Helper()
	if !tensor.EqualShape(got.Shape, shape) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape, shape)
		return
	}
	g := got.Float32s()
	for i, w := range want {
		d := math.Abs(float64(g[i]) - float64(w))
		if d > tol*(1+math.Abs(float64(w))) || math.IsNaN(float64(g[i])) != math.IsNaN(float64(w)) {
			t.Errorf("%s: element %d = %v, want %v", what, i, g[i], w)
			return
		}
	}
}

// elemInts fails unless got is an int64 tensor of the wanted shape and values.
func elemInts(t testing.TB, what string, got *tensor.Tensor, shape []int, want []int64) {
	t.Helper()
	if got.DType != tensor.Int64 || !tensor.EqualShape(got.Shape, shape) {
		t.Errorf("%s: got %s%v, want int64%v", what, got.DType, got.Shape, shape)
		return
	}
	for i, w := range want {
		if got.I[i] != w {
			t.Errorf("%s: element %d = %d, want %d", what, i, got.I[i], w)
			return
		}
	}
}

func f32(shape []int, v ...float32) *tensor.Tensor { return tensor.FromFloat32(shape, v) }
func i64(shape []int, v ...int64) *tensor.Tensor   { return tensor.FromInt64(shape, v) }

// elemRand returns uniform values in [lo, hi) moved at least gap away from
// every kink, so finite differences do not straddle one.
func elemRand(r *rand.Rand, lo, hi float32, kinks []float32, gap float32, shape ...int) *tensor.Tensor {
	x := gradcheck.Rand(r, lo, hi, shape...)
	for i, v := range x.F {
		for _, k := range kinks {
			if d := v - k; d < gap && d > -gap {
				if d >= 0 {
					v = k + gap + d
				} else {
					v = k - gap + d
				}
			}
		}
		x.F[i] = v
	}
	return x
}

func TestUnaryForward(t *testing.T) {
	x := []float32{-2, -0.5, 0, 0.5, 3}
	sh := []int{5}
	sig := func(v float64) float32 { return float32(1 / (1 + math.Exp(-v))) }
	tests := []struct {
		op    string
		attrs []*graph.Attr
		want  []float32
	}{
		{"Relu", nil, []float32{0, 0, 0, 0.5, 3}},
		{"LeakyRelu", nil, []float32{-0.02, -0.005, 0, 0.5, 3}},
		{"LeakyRelu", []*graph.Attr{elemAttrF("alpha", 0.1)}, []float32{-0.2, -0.05, 0, 0.5, 3}},
		{"Elu", nil, []float32{float32(math.Exp(-2) - 1), float32(math.Exp(-0.5) - 1), 0, 0.5, 3}},
		{"Elu", []*graph.Attr{elemAttrF("alpha", 2)}, []float32{float32(2 * (math.Exp(-2) - 1)), float32(2 * (math.Exp(-0.5) - 1)), 0, 0.5, 3}},
		{"Sigmoid", nil, []float32{sig(-2), sig(-0.5), 0.5, sig(0.5), sig(3)}},
		{"HardSigmoid", nil, []float32{0.1, 0.4, 0.5, 0.6, 1}},
		{"HardSigmoid", []*graph.Attr{elemAttrF("alpha", 0.5), elemAttrF("beta", 0.25)}, []float32{0, 0, 0.25, 0.5, 1}},
		// x * relu6(x+3)/6
		{"HardSwish", nil, []float32{-2 * 1.0 / 6, -0.5 * 2.5 / 6, 0, 0.5 * 3.5 / 6, 3}},
		{"Tanh", nil, []float32{float32(math.Tanh(-2)), float32(math.Tanh(-0.5)), 0, float32(math.Tanh(0.5)), float32(math.Tanh(3))}},
		{"Erf", nil, []float32{-0.995322265, -0.520499878, 0, 0.520499878, 0.999977910}},
		{"Neg", nil, []float32{2, 0.5, 0, -0.5, -3}},
		{"Abs", nil, []float32{2, 0.5, 0, 0.5, 3}},
		{"Exp", nil, []float32{float32(math.Exp(-2)), float32(math.Exp(-0.5)), 1, float32(math.Exp(0.5)), float32(math.Exp(3))}},
		{"Reciprocal", nil, []float32{-0.5, -2, float32(math.Inf(1)), 2, 1.0 / 3}},
		{"Identity", nil, x},
	}
	for _, tc := range tests {
		op := elemNode(t, tc.op, 17, 1, tc.attrs...)
		in := f32(sh, append([]float32(nil), x...)...)
		out := elemRun(t, op, in)
		elemClose(t, tc.op, out[0], sh, tc.want, 1e-6)
		for i, v := range in.F {
			if v != x[i] {
				t.Errorf("%s modified its input", tc.op)
			}
		}
	}
	// Functions of positive inputs.
	pos := f32([]int{2, 2}, 0.25, 1, 4, 9)
	for _, tc := range []struct {
		op   string
		want []float32
	}{
		{"Sqrt", []float32{0.5, 1, 2, 3}},
		{"Log", []float32{float32(math.Log(0.25)), 0, float32(math.Log(4)), float32(math.Log(9))}},
	} {
		out := elemRun(t, elemNode(t, tc.op, 13, 1), pos)
		elemClose(t, tc.op, out[0], []int{2, 2}, tc.want, 1e-6)
	}
}

func TestUnaryInt64(t *testing.T) {
	x := i64([]int{4}, -3, -1, 0, 5)
	for _, tc := range []struct {
		op   string
		want []int64
	}{
		{"Relu", []int64{0, 0, 0, 5}},
		{"Neg", []int64{3, 1, 0, -5}},
		{"Abs", []int64{3, 1, 0, 5}},
		{"Identity", []int64{-3, -1, 0, 5}},
	} {
		out := elemRun(t, elemNode(t, tc.op, 14, 1), x)
		elemInts(t, tc.op, out[0], []int{4}, tc.want)
	}
	// Float-only ops refuse int64 in Infer and Forward.
	op := elemNode(t, "Sigmoid", 13, 1)
	if _, err := op.Infer(elemValues([]*tensor.Tensor{x})); err == nil {
		t.Error("Sigmoid Infer accepted int64")
	}
	if _, err := op.Forward(nil, []*tensor.Tensor{x}); err == nil {
		t.Error("Sigmoid Forward accepted int64")
	}
}

func TestSigmoidExtremes(t *testing.T) {
	out := elemRun(t, elemNode(t, "Sigmoid", 13, 1), f32([]int{4}, -200, -90, 90, 200))
	elemClose(t, "Sigmoid", out[0], []int{4}, []float32{0, float32(math.Exp(-90)), 1, 1}, 1e-7)
	for _, v := range out[0].F {
		if math.IsNaN(float64(v)) {
			t.Fatal("Sigmoid gave NaN")
		}
	}
}

func TestClip(t *testing.T) {
	x := f32([]int{2, 3}, -5, -1, 0, 2, 6, 9)
	// Opset 6: attributes, each defaulting to no bound.
	out := elemRun(t, elemNode(t, "Clip", 6, 1, elemAttrF("min", 0), elemAttrF("max", 6)), x)
	elemClose(t, "Clip-6", out[0], x.Shape, []float32{0, 0, 0, 2, 6, 6}, 0)
	out = elemRun(t, elemNode(t, "Clip", 6, 1, elemAttrF("max", 1)), x)
	elemClose(t, "Clip-6 max only", out[0], x.Shape, []float32{-5, -1, 0, 1, 1, 1}, 0)
	// Opset 11 and later: optional scalar inputs, either omitted.
	lo, hi := f32(nil, -1), f32([]int{1}, 2)
	for _, tc := range []struct {
		in   []*tensor.Tensor
		want []float32
	}{
		{[]*tensor.Tensor{x, lo, hi}, []float32{-1, -1, 0, 2, 2, 2}},
		{[]*tensor.Tensor{x, nil, hi}, []float32{-5, -1, 0, 2, 2, 2}},
		{[]*tensor.Tensor{x, lo}, []float32{-1, -1, 0, 2, 6, 9}},
		{[]*tensor.Tensor{x}, []float32{-5, -1, 0, 2, 6, 9}},
		// min > max gives max everywhere.
		{[]*tensor.Tensor{x, f32(nil, 3), f32(nil, 1)}, []float32{1, 1, 1, 1, 1, 1}},
	} {
		out := elemRun(t, elemNode(t, "Clip", 13, 1), tc.in...)
		elemClose(t, "Clip-13", out[0], x.Shape, tc.want, 0)
	}
	// Int64 with int64 bounds (Clip-13).
	out = elemRun(t, elemNode(t, "Clip", 13, 1), i64([]int{4}, -9, 0, 4, 12), i64(nil, -2), i64(nil, 10))
	elemInts(t, "Clip int64", out[0], []int{4}, []int64{-2, 0, 4, 10})
	// A bound that is not a scalar is an error.
	if _, err := elemNode(t, "Clip", 13, 1).Forward(nil, []*tensor.Tensor{x, f32([]int{2}, 0, 1)}); err == nil {
		t.Error("Clip accepted a bound of two elements")
	}
}

// TestKinkGradients pins the gradient at the kinks to PyTorch's choices:
// ReLU and ReLU6/Hardtanh block the gradient at the boundary itself.
func TestKinkGradients(t *testing.T) {
	ones := f32([]int{5}, 1, 1, 1, 1, 1)
	tests := []struct {
		name string
		op   ops.Op
		in   []*tensor.Tensor
		want []float32
	}{
		{"Relu", elemNode(t, "Relu", 14, 1), []*tensor.Tensor{f32([]int{5}, -1, 0, 1e-6, 2, -1e-6)}, []float32{0, 0, 1, 1, 0}},
		{"Clip-13 relu6", elemNode(t, "Clip", 13, 1), []*tensor.Tensor{f32([]int{5}, 0, 6, 3, 6.5, -1), f32(nil, 0), f32(nil, 6)}, []float32{0, 0, 1, 0, 0}},
		{"Relu signed zero", elemNode(t, "Relu", 14, 1), []*tensor.Tensor{f32([]int{5}, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-38, -1e-38)}, []float32{0, 1, 0, 1, 0}},
		{"Clip negative range", elemNode(t, "Clip", 13, 1), []*tensor.Tensor{f32([]int{5}, -1.5, -2.5, -0.5, -2, -1.0001), f32(nil, -2), f32(nil, -1)}, []float32{1, 0, 0, 0, 1}},
		{"Clip across zero", elemNode(t, "Clip", 13, 1), []*tensor.Tensor{f32([]int{5}, -0.5, 0.5, 0, -1, 1), f32(nil, -1), f32(nil, 1)}, []float32{1, 1, 1, 0, 0}},
		{"Clip-6 relu6", elemNode(t, "Clip", 6, 1, elemAttrF("min", 0), elemAttrF("max", 6)), []*tensor.Tensor{f32([]int{5}, 0, 6, 5.99, 0.01, 7)}, []float32{0, 0, 1, 1, 0}},
		{"LeakyRelu", elemNode(t, "LeakyRelu", 6, 1, elemAttrF("alpha", 0.1)), []*tensor.Tensor{f32([]int{5}, 0, 1, -1, 2, -2)}, []float32{0.1, 1, 0.1, 1, 0.1}},
		{"HardSwish", elemNode(t, "HardSwish", 14, 1), []*tensor.Tensor{f32([]int{5}, -3, 3, 0, -4, 4)}, []float32{-0.5, 1.5, 0.5, 0, 1}},
		{"HardSigmoid", elemNode(t, "HardSigmoid", 6, 1), []*tensor.Tensor{f32([]int{5}, -2.5, 2.5, 0, -3, 3)}, []float32{0, 0, 0.2, 0, 0}},
		{"Abs", elemNode(t, "Abs", 13, 1), []*tensor.Tensor{f32([]int{5}, 0, -1, 1, 2, -2)}, []float32{0, -1, 1, 1, -1}},
	}
	for _, tc := range tests {
		d := tc.op.(ops.Differentiable)
		out := elemRun(t, tc.op, tc.in...)
		need := make([]bool, len(tc.in))
		need[0] = true
		g, err := d.Backward(nil, tc.in, out, []*tensor.Tensor{ones}, need)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		elemClose(t, tc.name, g[0], []int{5}, tc.want, 1e-6)
		for i := 1; i < len(g); i++ {
			if g[i] != nil {
				t.Errorf("%s: gradient for input %d not needed but returned", tc.name, i)
			}
		}
	}
}

func TestUnaryGradcheck(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := [][]int{{2, 3, 4, 5}, {7}, {}, {3, 1, 5}}
	tests := []struct {
		op     string
		opset  int64
		attrs  []*graph.Attr
		lo, hi float32
		kinks  []float32
		extra  []*tensor.Tensor // further inputs (Clip bounds)
	}{
		{op: "Relu", lo: -2, hi: 2, kinks: []float32{0}},
		{op: "LeakyRelu", attrs: []*graph.Attr{elemAttrF("alpha", 0.3)}, lo: -2, hi: 2, kinks: []float32{0}},
		{op: "Elu", attrs: []*graph.Attr{elemAttrF("alpha", 1.5)}, lo: -2, hi: 2, kinks: []float32{0}},
		{op: "Sigmoid", lo: -4, hi: 4},
		{op: "HardSigmoid", lo: -4, hi: 4, kinks: []float32{-2.5, 2.5}},
		{op: "HardSigmoid", attrs: []*graph.Attr{elemAttrF("alpha", 0.5), elemAttrF("beta", 0.1)}, lo: -4, hi: 4, kinks: []float32{-0.2, 1.8}},
		{op: "HardSwish", lo: -5, hi: 5, kinks: []float32{-3, 3}},
		{op: "Tanh", lo: -3, hi: 3},
		{op: "Erf", lo: -2, hi: 2},
		{op: "Sqrt", lo: 0.3, hi: 4},
		{op: "Neg", lo: -3, hi: 3},
		{op: "Abs", lo: -3, hi: 3, kinks: []float32{0}},
		{op: "Exp", lo: -2, hi: 2},
		{op: "Log", lo: 0.3, hi: 4},
		{op: "Reciprocal", lo: 0.5, hi: 3},
		{op: "Identity", lo: -3, hi: 3},
		{op: "Dropout", opset: 13, lo: -3, hi: 3},
		{op: "Dropout", opset: 7, attrs: []*graph.Attr{elemAttrF("ratio", 0.3)}, lo: -3, hi: 3},
		{op: "Clip", opset: 6, attrs: []*graph.Attr{elemAttrF("min", -1), elemAttrF("max", 1.5)}, lo: -3, hi: 3, kinks: []float32{-1, 1.5}},
		{op: "Clip", opset: 13, lo: -3, hi: 8, kinks: []float32{0, 6}, extra: []*tensor.Tensor{f32(nil, 0), f32(nil, 6)}},
		{op: "Clip", opset: 12, lo: -3, hi: 3, kinks: []float32{0.5}, extra: []*tensor.Tensor{nil, f32(nil, 0.5)}},
	}
	for _, tc := range tests {
		opset := tc.opset
		if opset == 0 {
			opset = 14
		}
		op := elemNode(t, tc.op, opset, 1, tc.attrs...).(ops.Differentiable)
		for _, sh := range shapes {
			t.Run(fmt.Sprintf("%s/%v", tc.op, sh), func(t *testing.T) {
				x := elemRand(r, tc.lo, tc.hi, tc.kinks, 0.1, sh...)
				in := append([]*tensor.Tensor{x}, tc.extra...)
				need := make([]bool, len(in))
				need[0] = true
				gradcheck.Check(t, op, in, need, gradcheck.Options{Seed: 3})
			})
		}
	}
}

func TestDropout(t *testing.T) {
	x := f32([]int{2, 2}, 1, -2, 3, -4)
	// Opset 13 with a mask output: identity and all-ones mask.
	out := elemRun(t, elemNode(t, "Dropout", 13, 2), x, f32(nil, 0.4))
	elemClose(t, "Dropout", out[0], x.Shape, x.F, 0)
	elemInts(t, "Dropout mask", out[1], x.Shape, []int64{1, 1, 1, 1})
	// Without the mask output there is one output.
	out = elemRun(t, elemNode(t, "Dropout", 10, 1, elemAttrF("ratio", 0.2)), x)
	if len(out) != 1 {
		t.Errorf("Dropout with one output name gave %d outputs", len(out))
	}
	// training_mode = true with a nonzero ratio is refused; with ratio 0 it
	// is the identity.
	op := elemNode(t, "Dropout", 13, 1)
	if _, err := op.Forward(nil, []*tensor.Tensor{x, f32(nil, 0.5), i64(nil, 1)}); err == nil {
		t.Error("Dropout accepted training mode")
	}
	out = elemRun(t, op, x, f32(nil, 0), i64(nil, 1))
	elemClose(t, "Dropout ratio 0", out[0], x.Shape, x.F, 0)
}
