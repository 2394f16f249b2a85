package cam

import (
	"math"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// TestLinearStem checks which starts of a graph linearStem takes as
// affine, what it replaces and the clamp it applies, on small graphs: the
// affine ops chained (with constants on either side where that stays
// affine), and the ways a start stops being affine or replaceable.
func TestLinearStem(t *testing.T) {
	inf := float32(math.Inf(1))
	type nd struct {
		op      string
		in, out []string
	}
	for _, tc := range []struct {
		name         string
		nodes        []nd
		out, replace string // "" for no stem
		lo, hi       float32
		clamp        bool
	}{
		{"conv relu", []nd{{"Conv", []string{"x", "w", "b"}, []string{"c"}}, {"Relu", []string{"c"}, []string{"a"}}}, "c", "a", 0, inf, true},
		{"arithmetic conv clip", []nd{
			{"Mul", []string{"k", "x"}, []string{"m"}}, {"Sub", []string{"m", "k"}, []string{"s"}}, {"Div", []string{"s", "k"}, []string{"d"}},
			{"Conv", []string{"d", "w"}, []string{"c"}}, {"Clip", []string{"c", "lo", "hi"}, []string{"a"}},
		}, "c", "a", -1, 6, true},
		{"transpose conv sigmoid", []nd{{"Transpose", []string{"x"}, []string{"t"}}, {"Conv", []string{"t", "w"}, []string{"c"}}, {"Sigmoid", []string{"c"}, []string{"a"}}}, "c", "c", 0, 0, false},
		{"conv batchnorm relu", []nd{{"Conv", []string{"x", "w"}, []string{"c"}}, {"BatchNormalization", []string{"c", "k4", "k4", "k4", "k4"}, []string{"n"}}, {"Relu", []string{"n"}, []string{"a"}}}, "n", "a", 0, inf, true},
		{"conv read twice", []nd{{"Conv", []string{"x", "w"}, []string{"c"}}, {"Relu", []string{"c"}, []string{"a"}}, {"Sigmoid", []string{"c"}, []string{"s"}}}, "c", "c", 0, 0, false},
		{"clip with a computed bound", []nd{{"Conv", []string{"x", "w"}, []string{"c"}}, {"Relu", []string{"k"}, []string{"r"}}, {"Clip", []string{"c", "r"}, []string{"a"}}}, "c", "c", 0, 0, false},
		{"relu first", []nd{{"Relu", []string{"x"}, []string{"r"}}, {"Conv", []string{"r", "w"}, []string{"c"}}}, "", "", 0, 0, false},
		{"no conv", []nd{{"Mul", []string{"x", "k"}, []string{"m"}}, {"Relu", []string{"m"}, []string{"a"}}}, "", "", 0, 0, false},
		{"input read twice", []nd{{"Conv", []string{"x", "w"}, []string{"c"}}, {"Add", []string{"x", "k"}, []string{"s"}}}, "", "", 0, 0, false},
		{"square", []nd{{"Mul", []string{"x", "x"}, []string{"m"}}, {"Conv", []string{"m", "w"}, []string{"c"}}}, "", "", 0, 0, false},
		{"divided by the input", []nd{{"Div", []string{"k", "x"}, []string{"d"}}, {"Conv", []string{"d", "w"}, []string{"c"}}}, "", "", 0, 0, false},
		{"computed weights", []nd{{"Relu", []string{"k"}, []string{"r"}}, {"Conv", []string{"x", "r"}, []string{"c"}}}, "", "", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &graph.Graph{Initializers: map[string]*tensor.Tensor{
				"w":  tensor.Zeros(4, 3, 3, 3),
				"b":  tensor.Zeros(4),
				"k":  tensor.FromFloat32([]int{1}, []float32{2}),
				"k4": tensor.Zeros(4),
				"lo": tensor.FromFloat32([]int{1}, []float32{-1}),
				"hi": tensor.FromFloat32([]int{1}, []float32{6}),
			}}
			g.Inputs = []graph.ValueInfo{{Name: "x", ElemType: 1}}
			for _, n := range tc.nodes {
				g.Nodes = append(g.Nodes, &graph.Node{Name: n.out[0], OpType: n.op, Inputs: n.in, Outputs: n.out})
			}
			last := tc.nodes[len(tc.nodes)-1].out[0]
			g.Outputs = []graph.ValueInfo{{Name: last, ElemType: 1}}
			gi := &graphInfo{g: g, init: func(name string) *tensor.Tensor { return g.Initializers[name] }, producers: g.Producers(), consumers: g.Consumers()}
			st := gi.linearStem("x")
			if tc.out == "" {
				if st != nil {
					t.Fatalf("stem %+v, want none", st)
				}
				return
			}
			if st == nil {
				t.Fatal("no stem")
			}
			if st.out != tc.out || st.replace != tc.replace || st.clamp != tc.clamp || tc.clamp && (st.lo != tc.lo || st.hi != tc.hi) {
				t.Errorf("stem %+v, want out %q, replace %q, clamp %v [%g, %g]", st, tc.out, tc.replace, tc.clamp, tc.lo, tc.hi)
			}
		})
	}
}
