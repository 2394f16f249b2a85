package cam

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// TestLinearStem checks which starts of a graph linearStem takes as
// affine, what it replaces, the clamp it applies and whether it pools
// (when a pooling with one output alone reads what it clamps), on small
// graphs: the
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
		{"conv relu maxpool", []nd{{"Conv", []string{"x", "w", "b"}, []string{"c"}}, {"Relu", []string{"c"}, []string{"a"}}, {"MaxPool", []string{"a"}, []string{"p"}}, {"Relu", []string{"p"}, []string{"r"}}}, "c", "p", 0, inf, true},
		{"conv averagepool", []nd{{"Conv", []string{"x", "w", "b"}, []string{"c"}}, {"AveragePool", []string{"c"}, []string{"p"}}, {"Relu", []string{"p"}, []string{"r"}}}, "c", "p", 0, 0, false},
		{"maxpool with indices", []nd{{"Conv", []string{"x", "w", "b"}, []string{"c"}}, {"Relu", []string{"c"}, []string{"a"}}, {"MaxPool", []string{"a"}, []string{"p", "i"}}}, "c", "a", 0, inf, true},
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
				nd := &graph.Node{Name: n.out[0], OpType: n.op, Inputs: n.in, Outputs: n.out}
				if strings.HasSuffix(n.op, "Pool") {
					nd.Attrs = map[string]*graph.Attr{"kernel_shape": {Name: "kernel_shape", Type: graph.AttrInts, Ints: []int64{2, 2}}}
				}
				g.Nodes = append(g.Nodes, nd)
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
			pools := strings.HasSuffix(gi.producers[st.replace].OpType, "Pool")
			if st.out != tc.out || st.replace != tc.replace || st.clamp != tc.clamp || tc.clamp && (st.lo != tc.lo || st.hi != tc.hi) || pools != (st.pool != nil) {
				t.Errorf("stem %+v, want out %q, replace %q, clamp %v [%g, %g]", st, tc.out, tc.replace, tc.clamp, tc.lo, tc.hi)
			}
		})
	}
}

// TestExtremes compares resizer.extremes with the least and greatest
// values of the whole resized map: never outside them (it reads a subset),
// off by rounding at most, equal on maps whose extremes lie on the grid's
// rows of cell edges; NaN reported.
func TestExtremes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][4]int{{7, 7, 224, 224}, {4, 6, 16, 13}, {1, 1, 5, 5}, {14, 14, 224, 224}, {3, 3, 3, 3}} {
		h, w, H, W := sz[0], sz[1], sz[2], sz[3]
		rz := newResizer(h, w, H, W, true)
		out := make([]float32, H*W)
		for trial := range 50 {
			a := make([]float32, h*w)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
				if trial%5 == 0 {
					a[i] = max(a[i], 0) // ReLU maps: zeros at the minimum
				}
			}
			rz.resize(out, a)
			lo, hi := slices.Min(out), slices.Max(out)
			glo, ghi, ok := rz.extremes(a)
			if !ok || glo < lo || ghi > hi || float64(glo-lo) > 1e-6*float64(hi-lo) || float64(hi-ghi) > 1e-6*float64(hi-lo) {
				t.Fatalf("%v, trial %d: extremes %v %v %v, resized map's [%v, %v]", sz, trial, glo, ghi, ok, lo, hi)
			}
		}
		a := make([]float32, h*w)
		a[len(a)/2] = float32(math.NaN())
		if _, _, ok := rz.extremes(a); ok {
			t.Errorf("%v: a NaN gave ok", sz)
		}
	}
}
