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

// reduceNode builds a reduction with the given axes, as an attribute or
// as the second input according to the op's opset; it returns the op and
// the inputs to pass after x.
func reduceNode(t testing.TB, name string, opset int64, axes []int64, attrs ...*graph.Attr) (ops.Op, []*tensor.Tensor) {
	t.Helper()
	input := opset >= 18 || (name == "ReduceSum" && opset >= 13)
	var extra []*tensor.Tensor
	if axes != nil {
		if input {
			extra = append(extra, i64([]int{len(axes)}, axes...))
		} else {
			attrs = append(attrs, elemAttrInts("axes", axes...))
		}
	}
	return elemNode(t, name, opset, 1, attrs...), extra
}

func TestReduceForward(t *testing.T) {
	// x = [[1, -2, 3], [4, 5, -6]]
	x := f32([]int{2, 3}, 1, -2, 3, 4, 5, -6)
	l2 := func(v ...float64) float32 {
		s := 0.0
		for _, a := range v {
			s += a * a
		}
		return float32(math.Sqrt(s))
	}
	lse := func(v ...float64) float32 {
		s := 0.0
		for _, a := range v {
			s += math.Exp(a)
		}
		return float32(math.Log(s))
	}
	tests := []struct {
		name  string
		axes  []int64
		keep  bool
		shape []int
		want  []float32
	}{
		{"ReduceSum", []int64{1}, true, []int{2, 1}, []float32{2, 3}},
		{"ReduceSum", []int64{0}, false, []int{3}, []float32{5, 3, -3}},
		{"ReduceSum", nil, true, []int{1, 1}, []float32{5}},
		{"ReduceSum", nil, false, []int{}, []float32{5}},
		{"ReduceSum", []int64{-1, 0}, false, []int{}, []float32{5}},
		{"ReduceMean", []int64{1}, false, []int{2}, []float32{2.0 / 3, 1}},
		{"ReduceMean", []int64{-2}, true, []int{1, 3}, []float32{2.5, 1.5, -1.5}},
		{"ReduceMax", []int64{1}, true, []int{2, 1}, []float32{3, 5}},
		{"ReduceMax", []int64{0}, false, []int{3}, []float32{4, 5, 3}},
		{"ReduceMin", []int64{1}, false, []int{2}, []float32{-2, -6}},
		{"ReduceProd", []int64{1}, false, []int{2}, []float32{-6, -120}},
		{"ReduceProd", nil, false, []int{}, []float32{720}},
		{"ReduceSumSquare", []int64{0}, false, []int{3}, []float32{17, 29, 45}},
		{"ReduceL1", []int64{1}, false, []int{2}, []float32{6, 15}},
		{"ReduceL2", []int64{1}, false, []int{2}, []float32{l2(1, -2, 3), l2(4, 5, -6)}},
		{"ReduceLogSumExp", []int64{1}, false, []int{2}, []float32{lse(1, -2, 3), lse(4, 5, -6)}},
	}
	for _, tc := range tests {
		for _, opset := range []int64{13, 18} {
			var attrs []*graph.Attr
			if !tc.keep {
				attrs = append(attrs, elemAttrI("keepdims", 0))
			}
			op, extra := reduceNode(t, tc.name, opset, tc.axes, attrs...)
			out := elemRun(t, op, append([]*tensor.Tensor{x}, extra...)...)
			elemClose(t, fmt.Sprintf("%s-%d axes %v keepdims %v", tc.name, opset, tc.axes, tc.keep), out[0], tc.shape, tc.want, 1e-6)
		}
	}
}

func TestReduceEmptyAxes(t *testing.T) {
	x := f32([]int{2, 2}, 1, 2, 3, 4)
	empty := i64([]int{0})
	for _, tc := range []struct {
		name  string
		opset int64
		noop  bool
		in    []*tensor.Tensor
		shape []int
		want  []float32
	}{
		{"ReduceSum", 13, true, []*tensor.Tensor{x, empty}, []int{2, 2}, []float32{1, 2, 3, 4}},
		{"ReduceSum", 13, true, []*tensor.Tensor{x}, []int{2, 2}, []float32{1, 2, 3, 4}},
		{"ReduceSum", 13, false, []*tensor.Tensor{x, empty}, []int{1, 1}, []float32{10}},
		{"ReduceSum", 13, false, []*tensor.Tensor{x, nil}, []int{1, 1}, []float32{10}},
		{"ReduceMax", 18, true, []*tensor.Tensor{x, empty}, []int{2, 2}, []float32{1, 2, 3, 4}},
		{"ReduceMean", 18, false, []*tensor.Tensor{x}, []int{1, 1}, []float32{2.5}},
		// Before the axes input, noop_with_empty_axes does not exist.
		{"ReduceMean", 13, true, []*tensor.Tensor{x}, []int{1, 1}, []float32{2.5}},
		{"ReduceSum", 11, true, []*tensor.Tensor{x}, []int{1, 1}, []float32{10}},
	} {
		op := elemNode(t, tc.name, tc.opset, 1, elemAttrI("noop_with_empty_axes", map[bool]int64{true: 1}[tc.noop]))
		out := elemRun(t, op, tc.in...)
		elemClose(t, fmt.Sprintf("%s-%d noop %v", tc.name, tc.opset, tc.noop), out[0], tc.shape, tc.want, 1e-6)
	}
}

func TestReduceAxesInputMustBeConst(t *testing.T) {
	op := elemNode(t, "ReduceSum", 13, 1)
	in := []ops.Value{{DType: tensor.Float32, Shape: []int{2, 3}}, {DType: tensor.Int64, Shape: []int{1}}}
	if _, err := op.Infer(in); err == nil {
		t.Error("Infer accepted an axes input that is not constant")
	}
	// The axes attribute is ignored from ReduceSum-13 on; at opset 11 it
	// is the only source.
	op, extra := reduceNode(t, "ReduceSum", 11, []int64{0})
	out := elemRun(t, op, append([]*tensor.Tensor{f32([]int{2, 2}, 1, 2, 3, 4)}, extra...)...)
	elemClose(t, "ReduceSum-11", out[0], []int{1, 2}, []float32{4, 6}, 0)
}

func TestReduceAxisErrors(t *testing.T) {
	x := tensor.Zeros(2, 3)
	for _, axes := range [][]int64{{2}, {-3}, {0, -2}} {
		op, extra := reduceNode(t, "ReduceMean", 13, axes)
		if _, err := op.Forward(nil, append([]*tensor.Tensor{x}, extra...)); err == nil {
			t.Errorf("axes %v accepted for rank 2", axes)
		}
	}
}

func TestReduceInt64(t *testing.T) {
	x := i64([]int{2, 3}, 1, 2, 3, 4, 5, -7)
	for _, tc := range []struct {
		name string
		want []int64
	}{
		{"ReduceSum", []int64{6, 2}},
		{"ReduceProd", []int64{6, -140}},
		{"ReduceMax", []int64{3, 5}},
		{"ReduceMin", []int64{1, -7}},
		{"ReduceMean", []int64{2, 0}},
	} {
		op, extra := reduceNode(t, tc.name, 18, []int64{1}, elemAttrI("keepdims", 0))
		out := elemRun(t, op, append([]*tensor.Tensor{x}, extra...)...)
		elemInts(t, tc.name, out[0], []int{2}, tc.want)
	}
	op, _ := reduceNode(t, "ReduceL2", 13, nil)
	if _, err := op.Forward(nil, []*tensor.Tensor{x}); err == nil {
		t.Error("ReduceL2 accepted int64")
	}
}

// TestReduceExtremumTies pins ReduceMax's and ReduceMin's rule: the
// gradient is split evenly among the elements equal to the extremum.
func TestReduceExtremumTies(t *testing.T) {
	x := f32([]int{2, 3}, 5, 1, 5, 2, 2, 2)
	g := f32([]int{2, 1}, 6, 3)
	for _, tc := range []struct {
		name string
		want []float32
	}{
		{"ReduceMax", []float32{3, 0, 3, 1, 1, 1}},
		{"ReduceMin", []float32{0, 6, 0, 1, 1, 1}},
	} {
		op, extra := reduceNode(t, tc.name, 13, []int64{1})
		in := append([]*tensor.Tensor{x}, extra...)
		out := elemRun(t, op, in...)
		grads, err := op.(ops.Differentiable).Backward(nil, in, out, []*tensor.Tensor{g}, []bool{true})
		if err != nil {
			t.Fatal(err)
		}
		elemClose(t, tc.name, grads[0], x.Shape, tc.want, 1e-6)
	}
}

// TestReduceProdZeros checks ReduceProd's gradient where elements are 0:
// with one zero only that element has a gradient (the product of the
// others); with two, none has.
func TestReduceProdZeros(t *testing.T) {
	x := f32([]int{3, 3}, 2, 0, 3, 0, 4, 0, 1, 2, 3)
	op, extra := reduceNode(t, "ReduceProd", 13, []int64{1})
	in := append([]*tensor.Tensor{x}, extra...)
	out := elemRun(t, op, in...)
	grads, err := op.(ops.Differentiable).Backward(nil, in, out, []*tensor.Tensor{f32([]int{3, 1}, 1, 1, 1)}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	elemClose(t, "ReduceProd", grads[0], x.Shape, []float32{0, 6, 0, 0, 0, 0, 6, 3, 2}, 1e-6)
}

func TestReduceGradcheck(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	cases := []struct {
		shape []int
		axes  []int64
	}{
		{[]int{2, 3, 4, 5}, []int64{2, 3}},
		{[]int{2, 3, 4, 5}, []int64{1}},
		{[]int{2, 3, 4, 5}, []int64{0, 2}},
		{[]int{2, 3, 4, 5}, nil},
		{[]int{3, 1, 5}, []int64{-1}},
		{[]int{7}, []int64{0}},
	}
	names := []string{"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp"}
	for _, name := range names {
		for _, keep := range []int64{0, 1} {
			for _, tc := range cases {
				op, extra := reduceNode(t, name, 18, tc.axes, elemAttrI("keepdims", keep))
				t.Run(fmt.Sprintf("%s/keep%d/%v/%v", name, keep, tc.shape, tc.axes), func(t *testing.T) {
					var x *tensor.Tensor
					switch name {
					case "ReduceMax", "ReduceMin":
						x = elemDistinct(r, tc.shape)[0]
					case "ReduceProd":
						// Magnitudes near 1 keep the product of 120 finite.
						x = elemRand(r, 0.7, 1.3, nil, 0, tc.shape...)
						for i := range x.F {
							if r.IntN(2) == 0 {
								x.F[i] = -x.F[i]
							}
						}
					default:
						x = elemRand(r, -2, 2, []float32{0}, 0.1, tc.shape...)
					}
					in := append([]*tensor.Tensor{x}, extra...)
					need := make([]bool, len(in))
					need[0] = true
					gradcheck.Check(t, op.(ops.Differentiable), in, need, gradcheck.Options{Seed: 7, Step: 0.01})
				})
			}
		}
	}
}
