package engine_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// builder assembles small graphs for tests.
type builder struct{ g *graph.Graph }

func newBuilder(input string, dims ...int64) *builder {
	vi := graph.ValueInfo{Name: input, ElemType: 1}
	for i, d := range dims {
		if d < 0 {
			vi.Shape = append(vi.Shape, graph.Dim{Value: -1, Param: "N"})
		} else {
			vi.Shape = append(vi.Shape, graph.Dim{Value: d})
		}
		_ = i
	}
	return &builder{g: &graph.Graph{
		Inputs:       []graph.ValueInfo{vi},
		Initializers: map[string]*tensor.Tensor{},
		Opsets:       map[string]int64{"": 13},
	}}
}

func (b *builder) init(name string, t *tensor.Tensor) string {
	b.g.Initializers[name] = t
	return name
}

func (b *builder) node(op, name string, in []string, out []string, attrs ...*graph.Attr) {
	n := &graph.Node{Name: name, OpType: op, Inputs: in, Outputs: out, Attrs: map[string]*graph.Attr{}}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	b.g.Nodes = append(b.g.Nodes, n)
}

func (b *builder) output(names ...string) *graph.Graph {
	for _, n := range names {
		b.g.Outputs = append(b.g.Outputs, graph.ValueInfo{Name: n, ElemType: 1})
	}
	return b.g
}

func ints(name string, v ...int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInts, Ints: v}
}

func intAttr(name string, v int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInt, I: v}
}

func randT(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.Zeros(shape...)
	for i := range t.F {
		t.F[i] = float32(r.NormFloat64())
	}
	return t
}

// camNet is a tiny classifier: conv 3x3 → relu → GAP → flatten → gemm, with
// the exporter-style shape sub-graph Shape→Gather→Unsqueeze→Concat→Reshape
// in place of Flatten, so that constant folding is exercised.
func camNet(r *rand.Rand) *graph.Graph {
	b := newBuilder("x", -1, 3, 8, 8)
	w := b.init("w", randT(r, 4, 3, 3, 3))
	bias := b.init("b", randT(r, 4))
	b.node("Conv", "conv", []string{"x", w, bias}, []string{"c"}, ints("pads", 1, 1, 1, 1))
	b.node("Relu", "relu", []string{"c"}, []string{"a"})
	b.node("GlobalAveragePool", "gap", []string{"a"}, []string{"p"})
	b.node("Shape", "shape", []string{"p"}, []string{"s"})
	b.init("zero", tensor.FromInt64(nil, []int64{0}))
	b.node("Gather", "gather", []string{"s", "zero"}, []string{"n"}, intAttr("axis", 0))
	b.init("axes0", tensor.FromInt64([]int{1}, []int64{0}))
	b.node("Unsqueeze", "unsq", []string{"n", "axes0"}, []string{"n1"})
	b.init("minus1", tensor.FromInt64([]int{1}, []int64{-1}))
	b.node("Concat", "cat", []string{"n1", "minus1"}, []string{"shp"}, intAttr("axis", 0))
	b.node("Reshape", "flat", []string{"p", "shp"}, []string{"f"})
	fw := b.init("fw", randT(r, 5, 4))
	fb := b.init("fb", randT(r, 5))
	b.node("Gemm", "fc", []string{"f", fw, fb}, []string{"logits"}, intAttr("transB", 1))
	return b.output("logits")
}

func seedClass(c int) func([]*tensor.Tensor) ([]*tensor.Tensor, error) {
	return func(v []*tensor.Tensor) ([]*tensor.Tensor, error) {
		s := tensor.Zeros(v[0].Shape...)
		s.F[c] = 1
		return []*tensor.Tensor{s}, nil
	}
}

func TestFoldingAndLayers(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m, err := engine.New(camNet(r))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := m.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	var target string
	for _, l := range layers {
		ops = append(ops, l.Op)
		if l.Target {
			target = l.Output
		}
	}
	// The shape chain folds away; Reshape stays because its data input is
	// not constant.
	if got, want := strings.Join(ops, ","), "Conv,Relu,GlobalAveragePool,Reshape,Gemm"; got != want {
		t.Errorf("layers %s, want %s", got, want)
	}
	if target != "a" {
		t.Errorf("auto target %q, want %q", target, "a")
	}
	if layers[0].Params != 4*3*3*3+4 || layers[4].Params != 5*4+5 {
		t.Errorf("params %d, %d", layers[0].Params, layers[4].Params)
	}
	if !tensorShapeIs(layers[3].Shape, 1, 4) {
		t.Errorf("reshape output shape %v", layers[3].Shape)
	}
}

func tensorShapeIs(s []int, want ...int) bool { return tensor.EqualShape(s, want) }

// TestGradCAMIdentity checks the engine's gradient at the target layer of a
// GAP + dense head against the closed form dlogit_c/dA[k,i,j] = W[c,k]/(h*w),
// and the input gradient against finite differences of the whole network.
func TestGradCAMIdentity(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	g := camNet(r)
	fw := g.Initializers["fw"]
	m, err := engine.New(g)
	if err != nil {
		t.Fatal(err)
	}
	x := randT(r, 2, 3, 8, 8) // batch of two
	const class = 3
	res, err := m.Run(context.Background(), x, engine.Pass{
		Fetch:    []string{"logits", "a"},
		Backward: &engine.Backward{From: []string{"logits"}, Seed: seedOneHotBatch(class), To: []string{"a", "x"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ga := res.Grads["a"]
	for n := range 2 {
		for k := range 4 {
			for p := range 64 {
				got := ga.F[(n*4+k)*64+p]
				want := fw.F[class*4+k] / 64
				if math.Abs(float64(got-want)) > 1e-6 {
					t.Fatalf("dA[%d,%d,%d] = %g, want %g", n, k, p, got, want)
				}
			}
		}
	}
	// Input gradient against central differences of logit[0, class].
	gx := res.Grads["x"]
	score := func() float64 {
		res, err := m.Run(context.Background(), x, engine.Pass{})
		if err != nil {
			t.Fatal(err)
		}
		return float64(res.Values["logits"].F[class])
	}
	for _, i := range []int{0, 17, 64, 100, 191} {
		orig := x.F[i]
		const h = 1e-2
		x.F[i] = orig + h
		lp := score()
		x.F[i] = orig - h
		lm := score()
		x.F[i] = orig
		num := (lp - lm) / (2 * h)
		if math.Abs(num-float64(gx.F[i])) > 2e-3*(1+math.Abs(num)) {
			t.Errorf("dx[%d] = %g, finite difference %g", i, gx.F[i], num)
		}
	}
}

// seedOneHotBatch seeds the score of class c for every image of a batch.
func seedOneHotBatch(c int) func([]*tensor.Tensor) ([]*tensor.Tensor, error) {
	return func(v []*tensor.Tensor) ([]*tensor.Tensor, error) {
		s := tensor.Zeros(v[0].Shape...)
		k := v[0].Shape[1]
		for n := range v[0].Shape[0] {
			s.F[n*k+c] = 1
		}
		return []*tensor.Tensor{s}, nil
	}
}

func TestReplaceAndRerun(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	m, err := engine.New(camNet(r))
	if err != nil {
		t.Fatal(err)
	}
	x := randT(r, 1, 3, 8, 8)
	ctx := context.Background()
	base, err := m.Run(ctx, x, engine.Pass{Fetch: []string{"logits", "a"}, Editable: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	a := base.Retained("a")
	if a == nil {
		t.Fatal("editable tensor not retained")
	}
	// Zero channel 2 of the activation: rerun from it and replace in a
	// full run must agree.
	ab := a.Clone()
	clear(ab.F[2*64 : 3*64])
	got, err := base.Rerun(ctx, map[string]*tensor.Tensor{"a": ab}, []string{"logits"})
	if err != nil {
		t.Fatal(err)
	}
	full, err := m.Run(ctx, x, engine.Pass{Replace: map[string]*tensor.Tensor{"a": ab}})
	if err != nil {
		t.Fatal(err)
	}
	if d := tensor.MaxAbsDiff(got["logits"].F, full.Values["logits"].F); d != 0 {
		t.Errorf("rerun and full run differ by %g", d)
	}
	if d := tensor.MaxAbsDiff(got["logits"].F, base.Values["logits"].F); d == 0 {
		t.Errorf("zeroing a channel changed nothing")
	}
	// The closed form: the logit changes by W[c,2] * mean(a[2]).
	fw := m.Graph().Initializers["fw"]
	mean := 0.0
	for _, v := range a.F[2*64 : 3*64] {
		mean += float64(v) / 64
	}
	for c := range 5 {
		want := float64(base.Values["logits"].F[c]) - float64(fw.F[c*4+2])*mean
		if math.Abs(float64(got["logits"].F[c])-want) > 1e-5 {
			t.Errorf("class %d: %g, want %g", c, got["logits"].F[c], want)
		}
	}
	if _, err := base.Rerun(ctx, map[string]*tensor.Tensor{"c": a}, []string{"logits"}); err == nil {
		t.Errorf("rerun from a tensor not named Editable: no error")
	}
	if _, err := m.Run(ctx, x, engine.Pass{Replace: map[string]*tensor.Tensor{"a": tensor.Zeros(1, 4, 7, 8)}}); err == nil {
		t.Errorf("replacement of the wrong shape: no error")
	}
}

func TestBackwardRule(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	m, err := engine.New(camNet(r))
	if err != nil {
		t.Fatal(err)
	}
	x := randT(r, 1, 3, 8, 8)
	called := 0
	res, err := m.Run(context.Background(), x, engine.Pass{Backward: &engine.Backward{
		From: []string{"logits"}, Seed: seedClass(1), To: []string{"c"},
		Rules: map[string]engine.Rule{"Relu": func(_ *ops.Ctx, n *graph.Node, in, out, gout []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
			called++
			g := tensor.Zeros(in[0].Shape...)
			for i := range g.F {
				if in[0].F[i] > 0 && gout[0].F[i] > 0 {
					g.F[i] = gout[0].F[i]
				}
			}
			return []*tensor.Tensor{g}, nil
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if called != 1 {
		t.Fatalf("rule called %d times", called)
	}
	for _, v := range res.Grads["c"].F {
		if v < 0 {
			t.Fatalf("guided rule let a negative gradient through: %g", v)
		}
	}
}

func TestBadModels(t *testing.T) {
	b := newBuilder("x", 1, 3, 4, 4)
	b.node("FancyOp", "f1", []string{"x"}, []string{"y"})
	b.node("FancyOp", "f2", []string{"y"}, []string{"z"})
	b.node("OtherOp", "o1", []string{"z"}, []string{"w"})
	_, err := engine.New(b.output("w"))
	if err == nil {
		t.Fatal("no error for unsupported ops")
	}
	for _, s := range []string{"FancyOp", "f1", "f2", "OtherOp", "o1"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}

	r := rand.New(rand.NewPCG(9, 10))
	m, err := engine.New(camNet(r))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Run(context.Background(), tensor.Zeros(1, 3, 9, 8), engine.Pass{})
	if err == nil || !strings.Contains(err.Error(), "[N,3,8,8]") || !strings.Contains(err.Error(), "[1 3 9 8]") {
		t.Errorf("wrong input shape: error %v should name both shapes", err)
	}
	if _, err := m.ResolveLayer("nonesuch"); err == nil || !strings.Contains(err.Error(), "candidates") {
		t.Errorf("unknown layer: %v", err)
	}
	if got, err := m.ResolveLayer("relu"); err != nil || got != "a" {
		t.Errorf("layer by node name: %q, %v", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Run(ctx, tensor.Zeros(1, 3, 8, 8), engine.Pass{}); err == nil {
		t.Errorf("cancelled context: no error")
	}
}

// TestAutoTargetSkipsOneByOneHead builds a MobileNetV3-style head: a global
// pool to 1x1 followed by 1x1 convolutions. The target must be the last
// feature map before the pool, never a 1x1 map.
func TestAutoTargetSkipsOneByOneHead(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	b := newBuilder("x", 1, 3, 8, 8)
	b.node("Conv", "conv", []string{"x", b.init("w", randT(r, 6, 3, 3, 3))}, []string{"c"}, ints("pads", 1, 1, 1, 1))
	b.node("HardSwish", "hs", []string{"c"}, []string{"a"})
	b.node("GlobalAveragePool", "gap", []string{"a"}, []string{"p"})
	b.node("Conv", "pre", []string{"p", b.init("w2", randT(r, 7, 6, 1, 1))}, []string{"q"})
	b.node("HardSwish", "hs2", []string{"q"}, []string{"q2"})
	b.node("Conv", "cls", []string{"q2", b.init("w3", randT(r, 5, 7, 1, 1))}, []string{"l4"})
	b.node("Flatten", "flat", []string{"l4"}, []string{"logits"})
	m, err := engine.New(b.output("logits"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.AutoTarget()
	if err != nil || got != "a" {
		t.Errorf("auto target %q, %v; want a", got, err)
	}
}

// TestParameterGradient asks for the gradient of the dense layer's weights:
// dlogit_c/dW[c,k] = mean over positions of a_k, and zero for other rows.
func TestParameterGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	m, err := engine.New(camNet(r))
	if err != nil {
		t.Fatal(err)
	}
	x := randT(r, 1, 3, 8, 8)
	const class = 2
	res, err := m.Run(context.Background(), x, engine.Pass{Fetch: []string{"a"}, Backward: &engine.Backward{
		From: []string{"logits"}, Seed: seedClass(class), To: []string{"fw", "fb"}}})
	if err != nil {
		t.Fatal(err)
	}
	a, gw, gb := res.Values["a"], res.Grads["fw"], res.Grads["fb"]
	for c := range 5 {
		for k := range 4 {
			want := 0.0
			if c == class {
				for _, v := range a.F[k*64 : (k+1)*64] {
					want += float64(v) / 64
				}
			}
			if math.Abs(float64(gw.F[c*4+k])-want) > 1e-5 {
				t.Errorf("dW[%d,%d] = %g, want %g", c, k, gw.F[c*4+k], want)
			}
		}
		want := float32(0)
		if c == class {
			want = 1
		}
		if gb.F[c] != want {
			t.Errorf("db[%d] = %g, want %g", c, gb.F[c], want)
		}
	}
}
