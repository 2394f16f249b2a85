package ops_test

import (
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

func TestConcat(t *testing.T) {
	a := mvF([]int{2, 2}, 1, 2, 3, 4)
	b := mvF([]int{2, 1}, 5, 6)
	c := mvF([]int{1, 2}, 7, 8)
	tests := []struct {
		name string
		axis int64
		in   []*tensor.Tensor
		want *tensor.Tensor // nil: error
	}{
		{"axis1", 1, []*tensor.Tensor{a, b}, mvF([]int{2, 3}, 1, 2, 5, 3, 4, 6)},
		{"axis-1", -1, []*tensor.Tensor{b, a}, mvF([]int{2, 3}, 5, 1, 2, 6, 3, 4)},
		{"axis0", 0, []*tensor.Tensor{a, c}, mvF([]int{3, 2}, 1, 2, 3, 4, 7, 8)},
		{"axis-2", -2, []*tensor.Tensor{c, a, c}, mvF([]int{4, 2}, 7, 8, 1, 2, 3, 4, 7, 8)},
		{"one", 0, []*tensor.Tensor{a}, a},
		{"empty-part", 0, []*tensor.Tensor{mvF([]int{0, 2}), c}, c},
		{"int64", 0, []*tensor.Tensor{mvVec(1), mvVec(2, 3), mvVec(-1)}, mvVec(1, 2, 3, -1)},
		{"mismatch", 0, []*tensor.Tensor{a, b}, nil},
		{"rank", 0, []*tensor.Tensor{a, mvF([]int{2}, 1, 2)}, nil},
		{"types", 0, []*tensor.Tensor{mvVec(1), mvF([]int{1}, 1)}, nil},
		{"axis-range", 2, []*tensor.Tensor{a, a}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := mvBuild(t, mvNode("Concat", 1, mvInt("axis", tc.axis)), 13)
			out, err := mvRun(t, op, tc.in...)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("got %v, want an error", out[0])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mvEqual(t, out[0], tc.want)
		})
	}
	if _, err := ops.New(mvNode("Concat", 1), 13); err == nil {
		t.Error("Concat without axis accepted at opset 13")
	}
}

func TestSplit(t *testing.T) {
	x := mvIota(2, 7)
	row := func(lo, hi int) []float32 { // columns lo..hi-1 of both rows
		var v []float32
		for r := range 2 {
			for c := lo; c < hi; c++ {
				v = append(v, float32(r*7+c))
			}
		}
		return v
	}
	tests := []struct {
		name  string
		opset int64
		nOut  int
		attrs []*graph.Attr
		split *tensor.Tensor // split input
		want  [][2]int       // column ranges of the outputs; nil: error
	}{
		{"attr", 11, 3, []*graph.Attr{mvInt("axis", 1), mvInts("split", 2, 4, 1)}, nil, [][2]int{{0, 2}, {2, 6}, {6, 7}}},
		{"input", 13, 2, []*graph.Attr{mvInt("axis", -1)}, mvVec(5, 2), [][2]int{{0, 5}, {5, 7}}},
		{"zero-size", 13, 3, []*graph.Attr{mvInt("axis", 1)}, mvVec(3, 0, 4), [][2]int{{0, 3}, {3, 3}, {3, 7}}},
		{"num-outputs", 18, 3, []*graph.Attr{mvInt("axis", 1), mvInt("num_outputs", 3)}, nil, [][2]int{{0, 3}, {3, 6}, {6, 7}}},
		{"one", 13, 1, []*graph.Attr{mvInt("axis", 1)}, nil, [][2]int{{0, 7}}},
		{"bad-sum", 13, 2, []*graph.Attr{mvInt("axis", 1)}, mvVec(3, 3), nil},
		{"bad-count", 13, 2, []*graph.Attr{mvInt("axis", 1)}, mvVec(7), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := mvBuild(t, mvNode("Split", tc.nOut, tc.attrs...), tc.opset)
			in := []*tensor.Tensor{x}
			if tc.split != nil {
				in = append(in, tc.split)
			}
			out, err := mvRun(t, op, in...)
			if tc.want == nil {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != len(tc.want) {
				t.Fatalf("%d outputs, want %d", len(out), len(tc.want))
			}
			for i, r := range tc.want {
				mvEqual(t, out[i], mvF([]int{2, r[1] - r[0]}, row(r[0], r[1])...))
			}
		})
	}
	// Equal split along axis 0 (the default), int64 data.
	op := mvBuild(t, mvNode("Split", 2), 13)
	out, err := mvRun(t, op, mvI([]int{4}, 1, 2, 3, 4))
	if err != nil {
		t.Fatal(err)
	}
	mvEqual(t, out[0], mvVec(1, 2))
	mvEqual(t, out[1], mvVec(3, 4))
}

func TestConcatSplitGrads(t *testing.T) {
	cat := mvBuild(t, mvNode("Concat", 1, mvInt("axis", 1)), 13)
	mvGrad(t, cat, []*tensor.Tensor{mvRand(1, 2, 3, 4), mvRand(2, 2, 1, 4), mvRand(3, 2, 2, 4)}, []bool{true, true, true})
	cat0 := mvBuild(t, mvNode("Concat", 1, mvInt("axis", -1)), 13)
	mvGrad(t, cat0, []*tensor.Tensor{mvRand(4, 3, 2), mvRand(5, 3, 5)}, []bool{false, true})

	split := mvBuild(t, mvNode("Split", 3, mvInt("axis", 2)), 13)
	mvGrad(t, split, []*tensor.Tensor{mvRand(6, 2, 3, 7), mvVec(2, 1, 4)}, []bool{true, false})

	// A nil output gradient counts as zero.
	d := split.(ops.Differentiable)
	x := mvIota(1, 1, 7)
	in := []*tensor.Tensor{x, mvVec(2, 1, 4)}
	out, _ := d.Forward(nil, in)
	ones := func(n int) *tensor.Tensor {
		g := tensor.Zeros(1, 1, n)
		for i := range g.F {
			g.F[i] = 1
		}
		return g
	}
	g, err := d.Backward(nil, in, out, []*tensor.Tensor{ones(2), nil, ones(4)}, []bool{true, false})
	if err != nil {
		t.Fatal(err)
	}
	mvEqual(t, g[0], mvF([]int{1, 1, 7}, 1, 1, 0, 1, 1, 1, 1))
	if g[1] != nil {
		t.Error("gradient for the split sizes")
	}
}
