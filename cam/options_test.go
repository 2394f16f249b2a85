package cam

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func explain(t *testing.T, ex *Explainer, x *tensor.Tensor, opt Options) *Result {
	t.Helper()
	res, err := ex.Explain(context.Background(), x, opt)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestTopK(t *testing.T) {
	m, x := toyModel(t, NCHW)
	ex := New(m)
	for _, method := range []Method{GradCAM, ScoreCAM, AblationCAM} {
		res := explain(t, ex, x, Options{Method: method, TopK: 3})
		for i, img := range res.Images {
			z := toyLogitsOf(toyActs(toyX[i]))
			if len(img.Explanations) != 3 {
				t.Fatalf("%s: %d explanations for top-3", method, len(img.Explanations))
			}
			for r, e := range img.Explanations {
				c := e.Target.Classes[0]
				if r > 0 && z[c] > z[img.Explanations[r-1].Target.Classes[0]] {
					t.Errorf("%s image %d: top-k order %v not by decreasing logit %v", method, i, img.Explanations, z)
				}
				if img.Top5[r].Class != c || math.Abs(float64(img.Top5[r].Logit)-z[c]) > 1e-6 {
					t.Errorf("%s image %d: top5[%d] = %+v, explanation of class %d (logit %g)", method, i, r, img.Top5[r], c, z[c])
				}
				_, _, final := toyExpect(t, method, i, c)
				if d := maxDiff64(e.Map, final[:]); d > 1e-4 {
					t.Errorf("%s image %d class %d: map differs by %.3g", method, i, c, d)
				}
			}
			var ps float64
			for _, p := range img.Top5 {
				ps += float64(p.Prob)
			}
			if math.Abs(ps-1) > 1e-6 { // 3 classes: the top-5 holds them all
				t.Errorf("top-5 probabilities sum to %g", ps)
			}
		}
	}
	// Default: the top-1 class.
	res := explain(t, ex, x, Options{})
	for i, img := range res.Images {
		if res.Method != GradCAM || len(img.Explanations) != 1 || img.Explanations[0].Target.Classes[0] != img.Top5[0].Class {
			t.Errorf("default options, image %d: method %s, %d explanations, target %v, top-1 %d", i, res.Method, len(img.Explanations), img.Explanations[0].Target, img.Top5[0].Class)
		}
	}
}

func TestWeightedTarget(t *testing.T) {
	m, x := toyModel(t, NCHW)
	ex := New(m)
	weights := map[int]float32{0: 0.5, 2: 1.5}
	for _, method := range []Method{CAM, GradCAM} {
		res := explain(t, ex, x, Options{Method: method, Weights: weights})
		for i, img := range res.Images {
			e := img.Explanations[0]
			if e.Target.String() != "0.5*0+1.5*2" {
				t.Errorf("target %q", e.Target.String())
			}
			z := toyLogitsOf(toyActs(toyX[i]))
			if d := math.Abs(float64(e.Score) - (0.5*z[0] + 1.5*z[2])); d > 1e-5 {
				t.Errorf("image %d: score %g, want %g", i, e.Score, 0.5*z[0]+1.5*z[2])
			}
			scale := 0.25 // Grad-CAM's weights are the dense weights over h*w
			if method == CAM {
				scale = 1
			}
			want := make([]float64, 2)
			for k := range want {
				want[k] = scale * (0.5*toyW[0][k] + 1.5*toyW[2][k])
			}
			if d := maxDiff64(e.Layers[0].Weights, want); d > 1e-6 {
				t.Errorf("%s image %d: weights %v, want %v", method, i, e.Layers[0].Weights, want)
			}
		}
	}
}

func TestProbabilityScore(t *testing.T) {
	m, x := toyModel(t, NCHW)
	ex := New(m)
	for _, class := range []int{0, 1} {
		res := explain(t, ex, x, Options{Method: GradCAM, Classes: []int{class}, Score: Probability})
		for i, img := range res.Images {
			z := toyLogitsOf(toyActs(toyX[i]))
			var p [3]float64
			var s float64
			for c := range p {
				p[c] = math.Exp(z[c])
				s += p[c]
			}
			for c := range p {
				p[c] /= s
			}
			e := img.Explanations[0]
			if d := math.Abs(float64(e.Score) - p[class]); d > 1e-6 {
				t.Errorf("image %d: score %g, want probability %g", i, e.Score, p[class])
			}
			// d p_c / d A_k = sum_j p_c (δ_cj - p_j) W[j,k] / 4.
			want := make([]float64, 2)
			for k := range want {
				for jc := 0; jc < 3; jc++ {
					d := -p[jc]
					if jc == class {
						d++
					}
					want[k] += p[class] * d * toyW[jc][k] / 4
				}
			}
			if d := maxDiff64(e.Layers[0].Weights, want); d > 1e-6 {
				t.Errorf("image %d class %d: weights %v, want %v", i, class, e.Layers[0].Weights, want)
			}
		}
	}
}

func TestMultipleLayers(t *testing.T) {
	m, x := toyModel(t, NCHW)
	ex := New(m)
	res := explain(t, ex, x, Options{Method: GradCAM, Layers: []string{"relu", "c"}, Classes: []int{1}})
	if got := strings.Join(res.Layers, ","); got != "a,c" {
		t.Fatalf("layers %s, want a,c (the node relu names its output a)", got)
	}
	for i, img := range res.Images {
		e := img.Explanations[0]
		// At the conv output the gradient is W[c,k]/4 where c_k > 0.
		c := toyConv(toyX[i])
		var w [2]float64
		for k := range w {
			for p := 0; p < 4; p++ {
				if c[k][p] > 0 {
					w[k] += toyW[1][k] / 4 / 4
				}
			}
		}
		rawC := toyWeighted(c, w)
		if d := maxDiff64(e.Layers[1].Raw, rawC[:]); d > 1e-6 {
			t.Errorf("image %d: conv-layer raw %v, want %v", i, e.Layers[1].Raw, rawC)
		}
		rawA, _, _ := toyExpect(t, GradCAM, i, 1)
		// Fusion: per layer ReLU, min-max, resize, ReLU; mean; min-max.
		var sum [16]float64
		for _, raw := range [][4]float64{rawA, rawC} {
			for p := range raw {
				raw[p] = math.Max(raw[p], 0)
			}
			minMax64(raw[:], 1e-7)
			up := toyUp(raw)
			for q := range up {
				sum[q] += math.Max(up[q], 0) / 2
			}
		}
		minMax64(sum[:], 1e-7)
		if d := maxDiff64(e.Map, sum[:]); d > 1e-5 {
			t.Errorf("image %d: fused map %v, want %v", i, e.Map, sum)
		}
	}
}

func TestEigenSmooth(t *testing.T) {
	m, x := toyModel(t, NCHW)
	ex := New(m)
	for _, method := range []Method{GradCAM, LayerCAM, EigenCAM} {
		res := explain(t, ex, x, Options{Method: method, Classes: []int{0}, EigenSmooth: true})
		for i, img := range res.Images {
			a := toyActs(toyX[i])
			var wa [2][4]float64
			for k := range wa {
				g := toyW[0][k] / 4
				if method == LayerCAM {
					g = math.Max(g, 0)
				}
				for p := range wa[k] {
					wa[k][p] = g * a[k][p]
					if method == EigenCAM {
						wa[k][p] = a[k][p]
					}
				}
			}
			want := toyProjection(wa)
			if d := maxDiff64(img.Explanations[0].Layers[0].Raw, want[:]); d > 1e-6 {
				t.Errorf("%s image %d: raw %v, want the projection %v", method, i, img.Explanations[0].Layers[0].Raw, want)
			}
		}
	}
	// FullGrad's eigen_smooth runs (its map is a normalised projection).
	res := explain(t, ex, x, Options{Method: FullGrad, EigenSmooth: true})
	for _, v := range res.Images[0].Explanations[0].Map {
		if v < 0 || v > 1 || math.IsNaN(float64(v)) {
			t.Fatalf("fullgrad eigen_smooth map value %g", v)
		}
	}
}

// flipNCHW returns x flipped left to right and multiplied by f, built
// directly (not with the package's augment).
func flipNCHW(x *tensor.Tensor, flip bool, f float32) *tensor.Tensor {
	out := x.Clone()
	w := x.Shape[3]
	for i := range out.F {
		src := i
		if flip {
			col := i % w
			src = i - col + w - 1 - col
		}
		out.F[i] = x.F[src] * f
	}
	return out
}

func TestAugSmooth(t *testing.T) {
	for _, lay := range []Layout{NCHW, NHWC} {
		m, x := toyModel(t, lay)
		ex := New(m)
		for _, method := range []Method{GradCAM, EigenCAM, GuidedGradCAM} {
			res := explain(t, ex, x, Options{Method: method, AugSmooth: true})
			classes := []int{res.Images[0].Top5[0].Class} // both images have top-1 class 1
			want := make([][16]float64, 2)
			for _, flip := range []bool{false, true} {
				for _, f := range []float32{0.9, 1, 1.1} {
					xa := flipNCHW(x.Reshaped(2, 1, 4, 4), flip, f)
					if lay == NHWC {
						xa = xa.Reshaped(2, 4, 4, 1)
					}
					r := explain(t, ex, xa, Options{Method: method, Classes: classes})
					for i := range want {
						mp := r.Images[i].Explanations[0].Map
						for q := range mp {
							src := q
							if flip {
								src = q - q%4 + 3 - q%4
							}
							want[i][q] += float64(mp[src]) / 6
						}
					}
				}
			}
			for i := range want {
				e := res.Images[i].Explanations[0]
				if d := maxDiff64(e.Map, want[i][:]); d > 1e-6 {
					t.Errorf("%s %s image %d: smoothed map %v, want %v", lay, method, i, e.Map, want[i])
				}
				if method == GuidedGradCAM {
					gb := toyGuided(i, classes[0])
					for q := range gb {
						gb[q] *= want[i][q]
					}
					if d := maxDiff64(e.Guided, gb[:]); d > 1e-6 {
						t.Errorf("%s image %d: guided grad-cam does not use the smoothed map", lay, i)
					}
				}
			}
		}
	}
}

func TestBatchEqualsSingle(t *testing.T) {
	m, x := toyModel(t, NCHW)
	ex := New(m)
	for _, method := range Methods() {
		batch := explain(t, ex, x, Options{Method: method, TopK: 2, BatchSize: 3})
		for i := 0; i < 2; i++ {
			single := explain(t, ex, toyInput(i), Options{Method: method, TopK: 2})
			for r := 0; r < 2; r++ {
				a, b := batch.Images[i].Explanations[r], single.Images[0].Explanations[r]
				if a.Target.String() != b.Target.String() {
					t.Fatalf("%s image %d: targets %v and %v", method, i, a.Target, b.Target)
				}
				if d := tensor.MaxAbsDiff(a.Map, b.Map); d > 1e-6 {
					t.Errorf("%s image %d rank %d: batch and single maps differ by %.3g", method, i, r, d)
				}
				if d := tensor.MaxAbsDiff(a.Guided, b.Guided); d > 1e-6 {
					t.Errorf("%s image %d rank %d: batch and single guided images differ by %.3g", method, i, r, d)
				}
			}
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	m, x := toyModel(t, NCHW)
	ex := New(m)
	want := map[Method]*Result{}
	for _, method := range Methods() {
		want[method] = explain(t, ex, x, Options{Method: method, TopK: 2})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 4; g++ {
		for _, method := range Methods() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := ex.Explain(context.Background(), x, Options{Method: method, TopK: 2})
				if err != nil {
					errs <- err
					return
				}
				for i, img := range res.Images {
					for r, e := range img.Explanations {
						w := want[method].Images[i].Explanations[r]
						if tensor.MaxAbsDiff(e.Map, w.Map) != 0 || tensor.MaxAbsDiff(e.Guided, w.Guided) != 0 {
							errs <- errors.New(string(method) + ": a concurrent result differs")
							return
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCancel(t *testing.T) {
	m, x := toyModel(t, NCHW)
	ex := New(m)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, method := range Methods() {
		if _, err := ex.Explain(ctx, x, Options{Method: method}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: error %v", method, err)
		}
	}
}

func TestErrors(t *testing.T) {
	m, x := toyModel(t, NCHW)
	ex := New(m)
	for _, tc := range []struct {
		name string
		x    *tensor.Tensor
		opt  Options
		want []string // substrings of the error
	}{
		{"unknown method", x, Options{Method: "gradcan"}, []string{`unknown method "gradcan"`, "gradcam++", "guided-gradcam", "eigencam"}},
		{"unknown layer", x, Options{Layers: []string{"layer4"}}, []string{`no layer or tensor named "layer4"`, "candidates"}},
		{"class out of range", x, Options{Classes: []int{3}}, []string{"class 3 is out of range", "3 classes"}},
		{"negative class", x, Options{Weights: map[int]float32{-1: 1}}, []string{"class -1 is out of range"}},
		{"top-k out of range", x, Options{TopK: 4}, []string{"top-k 4", "3 classes"}},
		{"two kinds of target", x, Options{Classes: []int{1}, TopK: 2}, []string{"at most one of"}},
		{"cam on a conv output", x, Options{Method: CAM, Layers: []string{"c"}}, []string{"global average pooling", "Relu node \"relu\""}},
		{"rank-2 layer", x, Options{Layers: []string{"f"}}, []string{`"f" has shape [2 2]`, "rank-4"}},
		{"bad input", tensor.New(tensor.Float32, 4, 4), Options{}, []string{"rank 4"}},
		{"guided smoothing", x, Options{Method: GuidedBackprop, AugSmooth: true}, []string{"guided-backprop"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ex.Explain(context.Background(), tc.x, tc.opt)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// A head without global pooling: flatten the feature map into the
	// dense layer.
	g := toyGraph(NCHW)
	g.Nodes = g.Nodes[:2]
	g.Initializers["W8"] = tensor.New(tensor.Float32, 3, 8)
	g.Nodes = append(g.Nodes,
		toyGraph(NCHW).Nodes[3], // Flatten g → f, rewired below
		toyGraph(NCHW).Nodes[4])
	g.Nodes[2].Inputs = []string{"a"}
	g.Nodes[3].Inputs = []string{"f", "W8", "B"}
	mf, err := engine.New(g)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(mf).Explain(context.Background(), x, Options{Method: CAM})
	if err == nil || !strings.Contains(err.Error(), "Flatten") || !strings.Contains(err.Error(), "global average pooling") {
		t.Errorf("cam on a flatten + dense head: error %v", err)
	}
	if _, err := New(mf).Explain(context.Background(), x, Options{Method: GradCAM}); err != nil {
		t.Errorf("gradcam on a flatten + dense head: %v", err)
	}
}

func TestParseMethod(t *testing.T) {
	for _, m := range Methods() {
		got, err := ParseMethod(strings.ToUpper(string(m)))
		if err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %q, %v", strings.ToUpper(string(m)), got, err)
		}
	}
	if len(Methods()) != 14 {
		t.Errorf("%d methods", len(Methods()))
	}
}

func TestInput(t *testing.T) {
	for _, lay := range []Layout{NCHW, NHWC} {
		m, _ := toyModel(t, lay)
		l, c, h, w := New(m).Input()
		if l != lay || c != 1 || h != 4 || w != 4 {
			t.Errorf("%s toy: Input() = %s, %d, %d, %d", lay, l, c, h, w)
		}
	}
}

// TestCAMExporterFlatten runs CAM on the toy with the flatten written as
// PyTorch's older exporters do: Shape → Gather → Unsqueeze → Concat →
// Reshape, so the pooled tensor has a Shape reader beside the Reshape.
func TestCAMExporterFlatten(t *testing.T) {
	g := toyGraph(NCHW)
	var nodes []*graph.Node
	for _, n := range g.Nodes {
		if n.OpType != "Flatten" {
			nodes = append(nodes, n)
			continue
		}
		g.Initializers["zero"] = tensor.FromInt64(nil, []int64{0})
		g.Initializers["axes0"] = tensor.FromInt64([]int{1}, []int64{0})
		g.Initializers["minus1"] = tensor.FromInt64([]int{1}, []int64{-1})
		nodes = append(nodes,
			&graph.Node{Name: "shape", OpType: "Shape", Inputs: []string{"g"}, Outputs: []string{"s"}},
			&graph.Node{Name: "gather", OpType: "Gather", Inputs: []string{"s", "zero"}, Outputs: []string{"n"}},
			&graph.Node{Name: "unsq", OpType: "Unsqueeze", Inputs: []string{"n", "axes0"}, Outputs: []string{"n1"}},
			&graph.Node{Name: "cat", OpType: "Concat", Inputs: []string{"n1", "minus1"}, Outputs: []string{"shp"},
				Attrs: map[string]*graph.Attr{"axis": {Name: "axis", Type: graph.AttrInt, I: 0}}},
			&graph.Node{Name: "flatten", OpType: "Reshape", Inputs: []string{"g", "shp"}, Outputs: []string{"f"}})
	}
	g.Nodes = nodes
	m, err := engine.New(g)
	if err != nil {
		t.Fatal(err)
	}
	res := explain(t, New(m), toyInput(0, 1), Options{Method: CAM, Classes: []int{0}})
	for i, img := range res.Images {
		_, w, final := toyExpect(t, CAM, i, 0)
		e := img.Explanations[0]
		if maxDiff64(e.Layers[0].Weights, w) > 1e-6 || maxDiff64(e.Map, final[:]) > 1e-4 {
			t.Errorf("image %d: weights %v, want %v", i, e.Layers[0].Weights, w)
		}
	}
}
