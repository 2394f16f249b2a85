package ops_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/gradcheck"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// Helpers for the data-movement operator tests (prefixed mv to keep clear
// of other test files in this package).

func mvNode(opType string, nOut int, attrs ...*graph.Attr) *graph.Node {
	n := &graph.Node{OpType: opType, Attrs: map[string]*graph.Attr{}}
	for i := range nOut {
		n.Outputs = append(n.Outputs, "y"+string(rune('0'+i)))
	}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	return n
}

func mvInt(name string, v int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInt, I: v}
}
func mvInts(name string, v ...int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInts, Ints: v}
}
func mvFloat(name string, v float32) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrFloat, F: v}
}
func mvStr(name, v string) *graph.Attr { return &graph.Attr{Name: name, Type: graph.AttrString, S: v} }
func mvTensorAttr(name string, t *tensor.Tensor) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrTensor, T: t}
}

func mvF(shape []int, v ...float32) *tensor.Tensor { return tensor.FromFloat32(shape, v) }
func mvI(shape []int, v ...int64) *tensor.Tensor   { return tensor.FromInt64(shape, v) }
func mvVec(v ...int64) *tensor.Tensor              { return tensor.FromInt64([]int{len(v)}, v) }

// mvIota returns a float tensor holding 0, 1, 2, ...
func mvIota(shape ...int) *tensor.Tensor {
	t := tensor.Zeros(shape...)
	for i := range t.F {
		t.F[i] = float32(i)
	}
	return t
}

// mvBuild builds the operator for n, failing the test on error.
func mvBuild(t *testing.T, n *graph.Node, opset int64) ops.Op {
	t.Helper()
	op, err := ops.New(n, opset)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return op
}

// mvValues describes inputs as the engine would at planning time: every
// int64 input is constant (shape computations), float inputs are not.
func mvValues(in []*tensor.Tensor) []ops.Value {
	v := make([]ops.Value, len(in))
	for i, x := range in {
		if x == nil {
			continue
		}
		v[i] = ops.Value{DType: x.DType, Shape: x.Shape}
		if x.DType == tensor.Int64 {
			v[i].Const = x
		}
	}
	return v
}

// mvRun runs Infer and Forward and checks that they agree on every
// output's type and shape.
func mvRun(t *testing.T, op ops.Op, in ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	t.Helper()
	inf, ierr := op.Infer(mvValues(in))
	out, ferr := op.Forward(nil, in)
	if (ierr == nil) != (ferr == nil) {
		t.Fatalf("Infer error %v, Forward error %v", ierr, ferr)
	}
	if ferr != nil {
		return nil, ferr
	}
	if len(inf) != len(out) {
		t.Fatalf("Infer gives %d outputs, Forward %d", len(inf), len(out))
	}
	for i := range out {
		if inf[i].DType != out[i].DType || !tensor.EqualShape(inf[i].Shape, out[i].Shape) {
			t.Fatalf("output %d: Infer says %s%v, Forward gives %s%v", i, inf[i].DType, inf[i].Shape, out[i].DType, out[i].Shape)
		}
		if out[i].Len() != len(out[i].F)+len(out[i].I) {
			t.Fatalf("output %d: shape %v but %d values", i, out[i].Shape, len(out[i].F)+len(out[i].I))
		}
	}
	return out, nil
}

// mvEqual fails unless got has want's type, shape and values.
func mvEqual(t *testing.T, got, want *tensor.Tensor) {
	t.Helper()
	if got.DType != want.DType || !tensor.EqualShape(got.Shape, want.Shape) {
		t.Fatalf("got %s%v, want %s%v", got.DType, got.Shape, want.DType, want.Shape)
	}
	if want.DType == tensor.Int64 {
		if !slices.Equal(got.I, want.I) {
			t.Fatalf("got %v, want %v", got.I, want.I)
		}
		return
	}
	if !slices.Equal(got.F, want.F) {
		t.Fatalf("got %v, want %v", got.F, want.F)
	}
}

// mvGrad runs the gradient check on a differentiable op.
func mvGrad(t *testing.T, op ops.Op, in []*tensor.Tensor, need []bool) {
	t.Helper()
	d, ok := op.(ops.Differentiable)
	if !ok {
		t.Fatalf("%T is not differentiable", op)
	}
	gradcheck.Check(t, d, in, need, gradcheck.Options{Seed: 3})
}

func mvRand(seed uint64, shape ...int) *tensor.Tensor {
	return gradcheck.Rand(rand.New(rand.NewPCG(seed, 1)), -1, 1, shape...)
}

func TestShapeOp(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		attrs []*graph.Attr
		want  []int64
	}{
		{"all", []int{2, 3, 4}, nil, []int64{2, 3, 4}},
		{"scalar", []int{}, nil, []int64{}},
		{"start", []int{2, 3, 4}, []*graph.Attr{mvInt("start", 1)}, []int64{3, 4}},
		{"end-1", []int{2, 3, 4}, []*graph.Attr{mvInt("end", -1)}, []int64{2, 3}},
		{"clamped", []int{2, 3, 4}, []*graph.Attr{mvInt("start", -2), mvInt("end", 10)}, []int64{3, 4}},
		{"start-clamped", []int{2, 3, 4}, []*graph.Attr{mvInt("start", -10)}, []int64{2, 3, 4}},
		{"empty", []int{2, 3, 4}, []*graph.Attr{mvInt("start", 2), mvInt("end", 1)}, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := mvBuild(t, mvNode("Shape", 1, tc.attrs...), 15)
			x := tensor.Zeros(tc.shape...)
			out, err := mvRun(t, op, x)
			if err != nil {
				t.Fatal(err)
			}
			mvEqual(t, out[0], mvVec(tc.want...))
			inf, _ := op.Infer([]ops.Value{{DType: tensor.Float32, Shape: tc.shape}})
			if inf[0].Const == nil {
				t.Fatal("Infer left Const nil")
			}
			mvEqual(t, inf[0].Const, mvVec(tc.want...))
		})
	}
}

func TestSizeOp(t *testing.T) {
	for _, tc := range []struct {
		shape []int
		want  int64
	}{{[]int{2, 3, 4}, 24}, {[]int{}, 1}, {[]int{0, 3}, 0}} {
		op := mvBuild(t, mvNode("Size", 1), 13)
		out, err := mvRun(t, op, tensor.Zeros(tc.shape...))
		if err != nil {
			t.Fatal(err)
		}
		mvEqual(t, out[0], mvI([]int{}, tc.want))
		inf, _ := op.Infer([]ops.Value{{DType: tensor.Float32, Shape: tc.shape}})
		mvEqual(t, inf[0].Const, mvI([]int{}, tc.want))
	}
}

func TestReshape(t *testing.T) {
	tests := []struct {
		name      string
		in        []int
		req       []int64
		allowZero bool
		want      []int // nil: error
	}{
		{"infer", []int{2, 3, 4}, []int64{4, -1}, false, []int{4, 6}},
		{"copy-zero", []int{2, 3, 4}, []int64{0, -1}, false, []int{2, 12}},
		{"copy-zeros", []int{2, 3, 4}, []int64{0, 0, 4}, false, []int{2, 3, 4}},
		{"flat", []int{2, 3, 4}, []int64{-1}, false, []int{24}},
		{"to-scalar", []int{1, 1}, []int64{}, false, []int{}},
		{"extend", []int{2, 3}, []int64{1, 2, 1, 3}, false, []int{1, 2, 1, 3}},
		{"empty-infer", []int{2, 0, 4}, []int64{-1, 4}, false, []int{0, 4}},
		{"allowzero", []int{0, 3}, []int64{3, 0}, true, []int{3, 0}},
		{"bad-count", []int{2, 3, 4}, []int64{5, -1}, false, nil},
		{"two-infer", []int{2, 3, 4}, []int64{-1, -1}, false, nil},
		{"zero-past-rank", []int{6}, []int64{1, 0}, false, nil},
		{"size-mismatch", []int{2, 3}, []int64{4, 2}, false, nil},
		{"allowzero-mismatch", []int{2, 3}, []int64{0, -1}, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var attrs []*graph.Attr
			if tc.allowZero {
				attrs = append(attrs, mvInt("allowzero", 1))
			}
			op := mvBuild(t, mvNode("Reshape", 1, attrs...), 14)
			x := mvIota(tc.in...)
			out, err := mvRun(t, op, x, mvVec(tc.req...))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("got %v, want an error", out[0].Shape)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mvEqual(t, out[0], tensor.FromFloat32(tc.want, x.F))
		})
	}
}

func TestReshapeSharesDataAndOpset1(t *testing.T) {
	x := mvIota(2, 3)
	op := mvBuild(t, mvNode("Reshape", 1), 13)
	out, err := mvRun(t, op, x, mvVec(3, 2))
	if err != nil {
		t.Fatal(err)
	}
	if &out[0].F[0] != &x.F[0] {
		t.Error("Reshape copied its input; want shared data")
	}
	op1 := mvBuild(t, mvNode("Reshape", 1, mvInts("shape", 3, -1)), 1)
	out, err = mvRun(t, op1, x)
	if err != nil {
		t.Fatal(err)
	}
	mvEqual(t, out[0], tensor.FromFloat32([]int{3, 2}, x.F))
	// Infer needs the shape as a constant.
	if _, err := op.Infer([]ops.Value{{DType: tensor.Float32, Shape: []int{2, 3}}, {DType: tensor.Int64, Shape: []int{2}}}); err == nil {
		t.Error("Infer accepted a non-constant shape")
	}
}

func TestFlatten(t *testing.T) {
	tests := []struct {
		axis int64
		want []int
	}{
		{0, []int{1, 120}}, {1, []int{2, 60}}, {2, []int{6, 20}}, {4, []int{120, 1}},
		{-1, []int{24, 5}}, {-4, []int{1, 120}}, {5, nil}, {-5, nil},
	}
	for _, tc := range tests {
		op := mvBuild(t, mvNode("Flatten", 1, mvInt("axis", tc.axis)), 13)
		x := mvIota(2, 3, 4, 5)
		out, err := mvRun(t, op, x)
		if tc.want == nil {
			if err == nil {
				t.Errorf("axis %d: got %v, want an error", tc.axis, out[0].Shape)
			}
			continue
		}
		if err != nil {
			t.Fatalf("axis %d: %v", tc.axis, err)
		}
		mvEqual(t, out[0], tensor.FromFloat32(tc.want, x.F))
	}
	out, err := mvRun(t, mvBuild(t, mvNode("Flatten", 1), 13), mvIota(2, 3, 4))
	if err != nil || !tensor.EqualShape(out[0].Shape, []int{2, 12}) {
		t.Errorf("default axis: %v %v, want [2 12]", out, err)
	}
}

func TestSqueezeUnsqueeze(t *testing.T) {
	tests := []struct {
		name   string
		op     string
		opset  int64
		in     []int
		axes   []int64 // nil: none given
		asAttr bool
		want   []int // nil: error
	}{
		{"squeeze-all", "Squeeze", 13, []int{1, 3, 1, 5}, nil, false, []int{3, 5}},
		{"squeeze-attr", "Squeeze", 11, []int{1, 3, 1, 5}, []int64{0}, true, []int{3, 1, 5}},
		{"squeeze-input-neg", "Squeeze", 13, []int{1, 3, 1, 5}, []int64{-2}, false, []int{1, 3, 5}},
		{"squeeze-two", "Squeeze", 13, []int{1, 3, 1, 5}, []int64{2, 0}, false, []int{3, 5}},
		{"squeeze-to-scalar", "Squeeze", 13, []int{1, 1}, nil, false, []int{}},
		{"squeeze-not-one", "Squeeze", 13, []int{1, 3}, []int64{1}, false, nil},
		{"squeeze-range", "Squeeze", 13, []int{1, 3}, []int64{2}, false, nil},
		{"unsqueeze-attr", "Unsqueeze", 11, []int{3, 4}, []int64{0, 3}, true, []int{1, 3, 4, 1}},
		{"unsqueeze-neg", "Unsqueeze", 13, []int{3, 4}, []int64{-1}, false, []int{3, 4, 1}},
		{"unsqueeze-unsorted", "Unsqueeze", 13, []int{3, 4}, []int64{2, 0}, false, []int{1, 3, 1, 4}},
		{"unsqueeze-scalar", "Unsqueeze", 13, []int{}, []int64{0}, false, []int{1}},
		{"unsqueeze-dup", "Unsqueeze", 13, []int{3}, []int64{0, 0}, false, nil},
		{"unsqueeze-range", "Unsqueeze", 13, []int{3}, []int64{2}, false, nil},
		{"unsqueeze-missing", "Unsqueeze", 13, []int{3}, nil, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var attrs []*graph.Attr
			x := mvIota(tc.in...)
			in := []*tensor.Tensor{x}
			if tc.axes != nil {
				if tc.asAttr {
					attrs = append(attrs, mvInts("axes", tc.axes...))
				} else {
					in = append(in, mvVec(tc.axes...))
				}
			}
			op := mvBuild(t, mvNode(tc.op, 1, attrs...), tc.opset)
			out, err := mvRun(t, op, in...)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("got %v, want an error", out[0].Shape)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mvEqual(t, out[0], tensor.FromFloat32(tc.want, x.F))
		})
	}
}

func TestExpand(t *testing.T) {
	op := mvBuild(t, mvNode("Expand", 1), 13)
	tests := []struct {
		name  string
		x     *tensor.Tensor
		shape []int64
		want  *tensor.Tensor
	}{
		{"column", mvF([]int{3, 1}, 1, 2, 3), []int64{2, 3, 2},
			mvF([]int{2, 3, 2}, 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3)},
		{"bidirectional", mvF([]int{1, 3}, 1, 2, 3), []int64{2, 1},
			mvF([]int{2, 3}, 1, 2, 3, 1, 2, 3)},
		{"smaller-shape", mvF([]int{2, 2}, 1, 2, 3, 4), []int64{2},
			mvF([]int{2, 2}, 1, 2, 3, 4)},
		{"scalar", mvF([]int{}, 7), []int64{2, 2}, mvF([]int{2, 2}, 7, 7, 7, 7)},
		{"int64", mvI([]int{2, 1}, 5, 6), []int64{2, 3}, mvI([]int{2, 3}, 5, 5, 5, 6, 6, 6)},
		{"empty", mvF([]int{1, 2}, 1, 2), []int64{0, 2}, mvF([]int{0, 2})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := mvRun(t, op, tc.x, mvVec(tc.shape...))
			if err != nil {
				t.Fatal(err)
			}
			mvEqual(t, out[0], tc.want)
		})
	}
	if _, err := mvRun(t, op, mvF([]int{3}, 1, 2, 3), mvVec(2)); err == nil {
		t.Error("Expand of [3] to [2] succeeded")
	}
}

func TestTile(t *testing.T) {
	op := mvBuild(t, mvNode("Tile", 1), 13)
	out, err := mvRun(t, op, mvF([]int{2, 2}, 1, 2, 3, 4), mvVec(2, 3))
	if err != nil {
		t.Fatal(err)
	}
	mvEqual(t, out[0], mvF([]int{4, 6},
		1, 2, 1, 2, 1, 2,
		3, 4, 3, 4, 3, 4,
		1, 2, 1, 2, 1, 2,
		3, 4, 3, 4, 3, 4))
	out, err = mvRun(t, op, mvI([]int{3}, 7, 8, 9), mvVec(2))
	if err != nil {
		t.Fatal(err)
	}
	mvEqual(t, out[0], mvI([]int{6}, 7, 8, 9, 7, 8, 9))
	if _, err := mvRun(t, op, mvI([]int{3}, 7, 8, 9), mvVec(2, 2)); err == nil {
		t.Error("Tile with too many repeats succeeded")
	}
}

func TestConstantOfShape(t *testing.T) {
	tests := []struct {
		name  string
		attrs []*graph.Attr
		shape []int64
		want  *tensor.Tensor
	}{
		{"default", nil, []int64{2, 3}, tensor.Zeros(2, 3)},
		{"float", []*graph.Attr{mvTensorAttr("value", mvF([]int{1}, 1.5))}, []int64{3}, mvF([]int{3}, 1.5, 1.5, 1.5)},
		{"int", []*graph.Attr{mvTensorAttr("value", mvI([]int{1}, 7))}, []int64{2, 1}, mvI([]int{2, 1}, 7, 7)},
		{"scalar", []*graph.Attr{mvTensorAttr("value", mvI([]int{1}, 4))}, []int64{}, mvI([]int{}, 4)},
		{"empty", []*graph.Attr{mvTensorAttr("value", mvI([]int{1}, 4))}, []int64{0}, mvI([]int{0})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := mvBuild(t, mvNode("ConstantOfShape", 1, tc.attrs...), 13)
			out, err := mvRun(t, op, mvVec(tc.shape...))
			if err != nil {
				t.Fatal(err)
			}
			mvEqual(t, out[0], tc.want)
		})
	}
}

// TestInt64ShapeChain computes what exporters emit for x.view(x.size(0),
// x.size(1), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape, once
// through Infer with constant propagation as the engine plans it, once
// through Forward.
func TestInt64ShapeChain(t *testing.T) {
	shapeOp := mvBuild(t, mvNode("Shape", 1), 13)
	gather := mvBuild(t, mvNode("Gather", 1, mvInt("axis", 0)), 13)
	unsq := mvBuild(t, mvNode("Unsqueeze", 1), 13)
	concat := mvBuild(t, mvNode("Concat", 1, mvInt("axis", 0)), 13)
	reshape := mvBuild(t, mvNode("Reshape", 1), 13)

	x := mvIota(2, 3, 4, 5)
	must := func(out []*tensor.Tensor, err error) *tensor.Tensor {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	s := must(shapeOp.Forward(nil, []*tensor.Tensor{x}))
	d0 := must(gather.Forward(nil, []*tensor.Tensor{s, mvI([]int{}, 0)}))
	d1 := must(gather.Forward(nil, []*tensor.Tensor{s, mvI([]int{}, -3)}))
	mvEqual(t, d1, mvI([]int{}, 3))
	u0 := must(unsq.Forward(nil, []*tensor.Tensor{d0, mvVec(0)}))
	u1 := must(unsq.Forward(nil, []*tensor.Tensor{d1, mvVec(0)}))
	target := must(concat.Forward(nil, []*tensor.Tensor{u0, u1, mvVec(-1)}))
	mvEqual(t, target, mvVec(2, 3, -1))
	y := must(reshape.Forward(nil, []*tensor.Tensor{x, target}))
	mvEqual(t, y, tensor.FromFloat32([]int{2, 3, 20}, x.F))

	// Planning: only Shape's Infer knows values; the rest is folded by
	// calling Forward on the constants, as the engine does.
	sv, err := shapeOp.Infer([]ops.Value{{DType: tensor.Float32, Shape: x.Shape}})
	if err != nil {
		t.Fatal(err)
	}
	mvEqual(t, sv[0].Const, mvVec(2, 3, 4, 5))
	rv, err := reshape.Infer([]ops.Value{{DType: tensor.Float32, Shape: x.Shape}, {DType: tensor.Int64, Shape: []int{3}, Const: target}})
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.EqualShape(rv[0].Shape, []int{2, 3, 20}) {
		t.Fatalf("Reshape infers %v, want [2 3 20]", rv[0].Shape)
	}
}

func TestShapeGrads(t *testing.T) {
	tests := []struct {
		name string
		op   ops.Op
		in   []*tensor.Tensor
	}{
		{"reshape", mvBuild(t, mvNode("Reshape", 1), 13), []*tensor.Tensor{mvRand(1, 2, 3, 4), mvVec(4, -1)}},
		{"flatten", mvBuild(t, mvNode("Flatten", 1, mvInt("axis", 2)), 13), []*tensor.Tensor{mvRand(2, 2, 3, 4)}},
		{"squeeze", mvBuild(t, mvNode("Squeeze", 1), 13), []*tensor.Tensor{mvRand(3, 2, 1, 4), mvVec(1)}},
		{"unsqueeze", mvBuild(t, mvNode("Unsqueeze", 1, mvInts("axes", 0, 3)), 11), []*tensor.Tensor{mvRand(4, 2, 3)}},
		{"expand", mvBuild(t, mvNode("Expand", 1), 13), []*tensor.Tensor{mvRand(5, 3, 1), mvVec(2, 3, 4)}},
		{"expand-middle", mvBuild(t, mvNode("Expand", 1), 13), []*tensor.Tensor{mvRand(6, 2, 1, 3), mvVec(2, 4, 3)}},
		{"tile", mvBuild(t, mvNode("Tile", 1), 13), []*tensor.Tensor{mvRand(7, 2, 3), mvVec(2, 2)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			need := make([]bool, len(tc.in))
			need[0] = true
			mvGrad(t, tc.op, tc.in, need)
		})
	}
}

// TestShapeBackwardIsZero checks that the shape-only operators give a zero
// gradient to a float input instead of failing.
func TestShapeBackwardIsZero(t *testing.T) {
	for _, typ := range []string{"Shape", "Size"} {
		op := mvBuild(t, mvNode(typ, 1), 13).(ops.Differentiable)
		x := mvRand(1, 2, 3)
		out, _ := op.Forward(nil, []*tensor.Tensor{x})
		g, err := op.Backward(nil, []*tensor.Tensor{x}, out, []*tensor.Tensor{nil}, []bool{true})
		if err != nil || g[0] == nil || !tensor.EqualShape(g[0].Shape, x.Shape) {
			t.Fatalf("%s: Backward gave %v, %v", typ, g, err)
		}
		for _, v := range g[0].F {
			if v != 0 {
				t.Fatalf("%s: nonzero gradient %v", typ, g[0].F)
			}
		}
	}
}
