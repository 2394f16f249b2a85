package cam

import (
	"context"
	"math"
	"testing"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// A toy classifier small enough to work every method out by hand:
//
//	x [N,1,4,4] → Conv 2x2 stride 2, 2 channels (weights toyWc, bias toyBc)
//	→ Relu = A [N,2,2,2] (the target layer) → global average pool
//	→ dense 2 → 3 (toyW, toyB) = logits.
//
// With P = 4 positions, logit_c = sum_k W[c,k] mean_p A_k(p) + B_c, so the
// gradient at A is G_k(p) = W[c,k] / 4 everywhere, and every method has a
// closed form computed below in float64 straight from its definition.
// The same network is also built NHWC, Keras style (Transpose, ReduceMean
// over axes [1,2], MatMul + Add), and must give the same answers.

var (
	toyWc = [2][4]float64{{1, 0.5, -0.5, 1}, {-1, 1, 0.5, 0.25}} // [k][dy*2+dx]
	toyBc = [2]float64{0.1, -0.3}
	toyW  = [3][2]float64{{1, -2}, {0.5, 1}, {-1, 0.25}}
	toyB  = [3]float64{0.1, -0.2, 0.3}
	// Image 0 has activations cut to zero by the ReLU, image 1 none.
	toyX = [2][16]float64{
		{0.2, -0.4, 0.9, 0.3, 0.5, 0.1, -0.2, 0.7, -0.6, 0.8, 0.4, -0.3, 0.3, -0.1, 0.6, 0.2},
		{0.1, 0.9, 0.3, 1.2, 0.8, 0.6, 0.7, 0.9, 0.2, 1.1, 0.4, 0.8, 0.9, 0.7, 1.0, 0.5},
	}
)

func f32s(v ...float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// toyGraph builds the toy network in the given layout.
func toyGraph(l Layout) *graph.Graph {
	g := &graph.Graph{
		Initializers: map[string]*tensor.Tensor{},
		Opsets:       map[string]int64{"": 13},
	}
	node := func(op, name string, in, out []string, attrs ...*graph.Attr) {
		n := &graph.Node{Name: name, OpType: op, Inputs: in, Outputs: out, Attrs: map[string]*graph.Attr{}}
		for _, a := range attrs {
			n.Attrs[a.Name] = a
		}
		g.Nodes = append(g.Nodes, n)
	}
	ints := func(name string, v ...int64) *graph.Attr {
		return &graph.Attr{Name: name, Type: graph.AttrInts, Ints: v}
	}
	var wc []float64
	for _, k := range toyWc {
		wc = append(wc, k[:]...)
	}
	g.Initializers["wc"] = tensor.FromFloat32([]int{2, 1, 2, 2}, f32s(wc...))
	g.Initializers["bc"] = tensor.FromFloat32([]int{2}, f32s(toyBc[:]...))
	g.Initializers["B"] = tensor.FromFloat32([]int{3}, f32s(toyB[:]...))
	batch := graph.Dim{Value: -1, Param: "N"}
	conv := []*graph.Attr{ints("kernel_shape", 2, 2), ints("strides", 2, 2)}
	if l == NCHW {
		g.Inputs = []graph.ValueInfo{{Name: "x", ElemType: 1, Shape: []graph.Dim{batch, {Value: 1}, {Value: 4}, {Value: 4}}}}
		var w []float64
		for _, r := range toyW {
			w = append(w, r[:]...)
		}
		g.Initializers["W"] = tensor.FromFloat32([]int{3, 2}, f32s(w...))
		node("Conv", "conv", []string{"x", "wc", "bc"}, []string{"c"}, conv...)
		node("Relu", "relu", []string{"c"}, []string{"a"})
		node("GlobalAveragePool", "gap", []string{"a"}, []string{"g"})
		node("Flatten", "flatten", []string{"g"}, []string{"f"})
		node("Gemm", "fc", []string{"f", "W", "B"}, []string{"logits"}, &graph.Attr{Name: "transB", Type: graph.AttrInt, I: 1})
	} else {
		g.Inputs = []graph.ValueInfo{{Name: "x", ElemType: 1, Shape: []graph.Dim{batch, {Value: 4}, {Value: 4}, {Value: 1}}}}
		var w []float64
		for k := 0; k < 2; k++ {
			for c := 0; c < 3; c++ {
				w = append(w, toyW[c][k])
			}
		}
		g.Initializers["Wt"] = tensor.FromFloat32([]int{2, 3}, f32s(w...))
		node("Transpose", "to_nchw", []string{"x"}, []string{"xt"}, ints("perm", 0, 3, 1, 2))
		node("Conv", "conv", []string{"xt", "wc", "bc"}, []string{"c"}, conv...)
		node("Relu", "relu", []string{"c"}, []string{"r"})
		node("Transpose", "to_nhwc", []string{"r"}, []string{"a"}, ints("perm", 0, 2, 3, 1))
		node("ReduceMean", "gap", []string{"a"}, []string{"f"}, ints("axes", 1, 2), &graph.Attr{Name: "keepdims", Type: graph.AttrInt, I: 0})
		node("MatMul", "fc", []string{"f", "Wt"}, []string{"mm"})
		node("Add", "bias", []string{"mm", "B"}, []string{"logits"})
	}
	g.Outputs = []graph.ValueInfo{{Name: "logits", ElemType: 1}}
	return g
}

// toyInput returns the images in the layout (1 channel: NCHW and NHWC
// hold the same numbers).
func toyInput(images ...int) *tensor.Tensor {
	var v []float64
	for _, i := range images {
		v = append(v, toyX[i][:]...)
	}
	return tensor.FromFloat32([]int{len(images), 1, 4, 4}, f32s(v...))
}

func toyModel(t *testing.T, l Layout) (*engine.Model, *tensor.Tensor) {
	t.Helper()
	m, err := engine.New(toyGraph(l))
	if err != nil {
		t.Fatal(err)
	}
	x := toyInput(0, 1)
	if l == NHWC {
		x = x.Reshaped(2, 4, 4, 1)
	}
	return m, x
}

// toyConv returns the conv output c[k][p] of an image (p = py*2+px).
func toyConv(x [16]float64) (c [2][4]float64) {
	for k := 0; k < 2; k++ {
		for p := 0; p < 4; p++ {
			py, px := p/2, p%2
			s := toyBc[k]
			for d := 0; d < 4; d++ {
				s += toyWc[k][d] * x[(2*py+d/2)*4+2*px+d%2]
			}
			c[k][p] = s
		}
	}
	return c
}

func toyActs(x [16]float64) (a [2][4]float64) {
	c := toyConv(x)
	for k := range c {
		for p, v := range c[k] {
			a[k][p] = math.Max(v, 0)
		}
	}
	return a
}

func toyLogitsOf(a [2][4]float64) (z [3]float64) {
	for c := 0; c < 3; c++ {
		z[c] = toyB[c]
		for k := 0; k < 2; k++ {
			z[c] += toyW[c][k] * (a[k][0] + a[k][1] + a[k][2] + a[k][3]) / 4
		}
	}
	return z
}

// toyWeighted returns sum_k w_k a_k.
func toyWeighted(a [2][4]float64, w [2]float64) (raw [4]float64) {
	for p := range raw {
		raw[p] = w[0]*a[0][p] + w[1]*a[1][p]
	}
	return raw
}

// toyProjection is the first principal component of two channels over
// four positions: the top eigenvector of the 2x2 Gram matrix [[a b][b d]]
// of the centred data is (cos t, sin t) with t = atan2(2b, a-d)/2; its
// sign makes its entries sum to a non-negative value.
func toyProjection(x [2][4]float64) (out [4]float64) {
	var xc [2][4]float64
	for k := range x {
		m := (x[k][0] + x[k][1] + x[k][2] + x[k][3]) / 4
		for p := range x[k] {
			xc[k][p] = x[k][p] - m
		}
	}
	var a, b, d float64
	for p := 0; p < 4; p++ {
		a += xc[0][p] * xc[0][p]
		b += xc[0][p] * xc[1][p]
		d += xc[1][p] * xc[1][p]
	}
	th := math.Atan2(2*b, a-d) / 2
	v0, v1 := math.Cos(th), math.Sin(th)
	if v0+v1 < 0 {
		v0, v1 = -v0, -v1
	}
	for p := range out {
		out[p] = xc[0][p]*v0 + xc[1][p]*v1
	}
	return out
}

// cv2Up2to4 is OpenCV's INTER_LINEAR resize from 2 to 4 samples:
// src = (dst + 0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped.
var cv2Up2to4 = [4][2]float64{{1, 0}, {0.75, 0.25}, {0.25, 0.75}, {0, 1}}

// toyUp resizes a 2x2 map to 4x4 with cv2Up2to4.
func toyUp(m [4]float64) (out [16]float64) {
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			var s float64
			for i := 0; i < 2; i++ {
				for j := 0; j < 2; j++ {
					s += cv2Up2to4[y][i] * cv2Up2to4[x][j] * m[i*2+j]
				}
			}
			out[y*4+x] = s
		}
	}
	return out
}

func minMax64(v []float64, eps float64) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	for i := range v {
		v[i] = (v[i] - lo) / (hi - lo + eps)
	}
}

// toyFinal is the reference's post-processing of one 2x2 raw map: ReLU,
// min-max, resize to 4x4, ReLU, min-max.
func toyFinal(raw [4]float64) [16]float64 {
	for p := range raw {
		raw[p] = math.Max(raw[p], 0)
	}
	minMax64(raw[:], 1e-7)
	up := toyUp(raw)
	for p := range up {
		up[p] = math.Max(up[p], 0)
	}
	minMax64(up[:], 1e-7)
	return up
}

// toyExpect is a method's expected raw map, weights (nil when the method
// has none) and final map for one image and class, explaining the logit.
func toyExpect(t *testing.T, method Method, img, class int) (raw [4]float64, w []float64, final [16]float64) {
	x := toyX[img]
	a := toyActs(x)
	var g [2]float64 // G_k, the same at every position
	for k := range g {
		g[k] = toyW[class][k] / 4
	}
	var sa [2]float64
	for k := range sa {
		sa[k] = a[k][0] + a[k][1] + a[k][2] + a[k][3]
	}
	channelWeights := func(wk [2]float64) {
		w = wk[:]
		raw = toyWeighted(a, wk)
	}
	switch method {
	case GradCAM, GuidedGradCAM:
		channelWeights(g)
	case CAM:
		channelWeights([2]float64{toyW[class][0], toyW[class][1]})
	case GradCAMPlusPlus:
		var wk [2]float64
		for k := range wk {
			if g[k] != 0 {
				alpha := g[k] * g[k] / (2*g[k]*g[k] + sa[k]*g[k]*g[k]*g[k] + 1e-6)
				wk[k] = 4 * math.Max(g[k], 0) * alpha
			}
		}
		channelWeights(wk)
	case XGradCAM:
		var wk [2]float64
		for k := range wk {
			wk[k] = g[k] * sa[k] / (sa[k] + 1e-7)
		}
		channelWeights(wk)
	case HiResCAM:
		raw = toyWeighted(a, g)
	case GradCAMElementWise:
		for p := range raw {
			raw[p] = math.Max(g[0]*a[0][p], 0) + math.Max(g[1]*a[1][p], 0)
		}
	case LayerCAM:
		raw = toyWeighted(a, [2]float64{math.Max(g[0], 0), math.Max(g[1], 0)})
	case EigenCAM:
		raw = toyProjection(a)
	case EigenGradCAM:
		var ga [2][4]float64
		for k := range ga {
			for p := range ga[k] {
				ga[k][p] = g[k] * a[k][p]
			}
		}
		raw = toyProjection(ga)
	case AblationCAM:
		mn := math.Inf(1)
		for k := range a {
			for _, v := range a[k] {
				mn = math.Min(mn, v)
			}
		}
		fill := 0.0
		if mn != 0 {
			fill = mn - 1e7
		}
		s0 := toyLogitsOf(a)[class]
		var wk [2]float64
		for k := range wk {
			ab := a
			ab[k] = [4]float64{fill, fill, fill, fill}
			wk[k] = (s0 - toyLogitsOf(ab)[class]) / s0
		}
		channelWeights(wk)
	case ScoreCAM:
		// Each channel upsampled 2x2 → 4x4 with aligned corners: the
		// source coordinate of output i is i/3.
		var s [2]float64
		for k := range s {
			var u [16]float64
			for y := 0; y < 4; y++ {
				for xx := 0; xx < 4; xx++ {
					fy, fx := float64(y)/3, float64(xx)/3
					u[y*4+xx] = (1-fy)*(1-fx)*a[k][0] + (1-fy)*fx*a[k][1] + fy*(1-fx)*a[k][2] + fy*fx*a[k][3]
				}
			}
			minMax64(u[:], 1e-8)
			var xm [16]float64
			for i := range xm {
				xm[i] = x[i] * u[i]
			}
			s[k] = toyLogitsOf(toyActs(xm))[class]
		}
		e0, e1 := math.Exp(s[0]), math.Exp(s[1])
		channelWeights([2]float64{e0 / (e0 + e1), e1 / (e0 + e1)})
	default:
		t.Fatalf("no closed form for %s", method)
	}
	return raw, w, toyFinal(raw)
}

// toyFullGrad is FullGrad's map: |x dx| (one input channel) min-max
// normalised, plus for the conv layer sum_k minmax(|b_k dc_k|) resized,
// the sum min-max normalised. dc_k(p) = W[c,k]/4 where c_k(p) > 0, and
// dx is dc pushed back through the stride-2 conv.
func toyFullGrad(img, class int) [16]float64 {
	x := toyX[img]
	c := toyConv(x)
	var dc [2][4]float64
	var dx [16]float64
	for k := range dc {
		for p := range dc[k] {
			if c[k][p] > 0 {
				dc[k][p] = toyW[class][k] / 4
			}
			py, px := p/2, p%2
			for d := 0; d < 4; d++ {
				dx[(2*py+d/2)*4+2*px+d%2] += dc[k][p] * toyWc[k][d]
			}
		}
	}
	var in [16]float64
	for i := range in {
		in[i] = math.Abs(x[i] * dx[i])
	}
	minMax64(in[:], 1e-7)
	var layer [4]float64
	for k := range dc {
		var m [4]float64
		for p := range m {
			m[p] = math.Abs(toyBc[k] * dc[k][p])
		}
		minMax64(m[:], 1e-7)
		for p := range m {
			layer[p] += m[p]
		}
	}
	up := toyUp(layer)
	var out [16]float64
	for i := range out {
		out[i] = in[i] + up[i]
	}
	minMax64(out[:], 1e-7)
	return out
}

// toyGuided is guided backprop's input gradient: through the ReLU only
// where c_k(p) > 0 and W[c,k]/4 > 0.
func toyGuided(img, class int) (dx [16]float64) {
	c := toyConv(toyX[img])
	for k := 0; k < 2; k++ {
		for p := 0; p < 4; p++ {
			if c[k][p] <= 0 || toyW[class][k] <= 0 {
				continue
			}
			py, px := p/2, p%2
			for d := 0; d < 4; d++ {
				dx[(2*py+d/2)*4+2*px+d%2] += toyW[class][k] / 4 * toyWc[k][d]
			}
		}
	}
	return dx
}

func maxAbs64(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

func maxDiff64(got []float32, want []float64) float64 {
	var d float64
	for i, w := range want {
		d = math.Max(d, math.Abs(float64(got[i])-w))
	}
	return d
}

func TestToyMethods(t *testing.T) {
	for _, lay := range []Layout{NCHW, NHWC} {
		m, x := toyModel(t, lay)
		ex := New(m)
		for _, method := range Methods() {
			t.Run(lay.String()+"/"+string(method), func(t *testing.T) {
				classes := []int{0, 1, 2}
				res, err := ex.Explain(context.Background(), x, Options{Method: method, Classes: classes})
				if err != nil {
					t.Fatal(err)
				}
				if res.Height != 4 || res.Width != 4 || len(res.Images) != 2 {
					t.Fatalf("result %dx%d with %d images", res.Height, res.Width, len(res.Images))
				}
				for i, img := range res.Images {
					for ci, class := range classes {
						e := img.Explanations[ci]
						if e.Target.Classes[0] != class {
							t.Fatalf("image %d, explanation %d is of class %v", i, ci, e.Target)
						}
						z := toyLogitsOf(toyActs(toyX[i]))
						if d := math.Abs(float64(e.Score) - z[class]); d > 1e-5 {
							t.Errorf("image %d class %d: score %g, want %g", i, class, e.Score, z[class])
						}
						switch method {
						case FullGrad:
							want := toyFullGrad(i, class)
							if d := maxDiff64(e.Map, want[:]); d > 1e-5 {
								t.Errorf("image %d class %d: map %v differs by %.3g from %v", i, class, e.Map, d, want)
							}
							continue
						case GuidedBackprop:
							want := toyGuided(i, class)
							if d := maxDiff64(e.Guided, want[:]); d > 1e-6 {
								t.Errorf("image %d class %d: guided %v, want %v", i, class, e.Guided, want)
							}
							if e.Map != nil || len(e.GuidedImage) != 16 {
								t.Errorf("guided backprop: map %v, image of %d values", e.Map, len(e.GuidedImage))
							}
							continue
						}
						raw, w, final := toyExpect(t, method, i, class)
						l := e.Layers[0]
						if l.Height != 2 || l.Width != 2 {
							t.Fatalf("layer map %dx%d", l.Height, l.Width)
						}
						if d := maxDiff64(l.Raw, raw[:]); d > 1e-5*(1+maxAbs64(raw[:])) {
							t.Errorf("image %d class %d: raw %v, want %v", i, class, l.Raw, raw)
						}
						if (w == nil) != (l.Weights == nil) {
							t.Errorf("image %d class %d: weights %v, want %v", i, class, l.Weights, w)
						} else if w != nil {
							// Ablation weights divide by a logit near
							// zero for image 0, class 0: compare
							// relative to their size.
							if d := maxDiff64(l.Weights, w); d > 1e-5*(1+maxAbs64(w)) {
								t.Errorf("image %d class %d: weights %v, want %v", i, class, l.Weights, w)
							}
						}
						if d := maxDiff64(e.Map, final[:]); d > 1e-4 {
							t.Errorf("image %d class %d: map %v differs by %.3g from %v", i, class, e.Map, d, final)
						}
						if method == GuidedGradCAM {
							gb := toyGuided(i, class)
							for q := range gb {
								gb[q] *= final[q]
							}
							if d := maxDiff64(e.Guided, gb[:]); d > 1e-5 {
								t.Errorf("image %d class %d: guided grad-cam %v, want %v", i, class, e.Guided, gb)
							}
						}
					}
				}
			})
		}
	}
}

// TestToySetup checks the premises the toy's expected values rely on.
func TestToySetup(t *testing.T) {
	a0, a1 := toyActs(toyX[0]), toyActs(toyX[1])
	zeros0, zeros1 := 0, 0
	for k := 0; k < 2; k++ {
		for p := 0; p < 4; p++ {
			if a0[k][p] == 0 {
				zeros0++
			}
			if a1[k][p] == 0 {
				zeros1++
			}
		}
	}
	if zeros0 == 0 || zeros1 != 0 {
		t.Fatalf("image 0 needs ReLU zeros (has %d), image 1 none (has %d)", zeros0, zeros1)
	}
	for _, lay := range []Layout{NCHW, NHWC} {
		m, x := toyModel(t, lay)
		r, err := m.Run(context.Background(), x, engine.Pass{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			z := toyLogitsOf(toyActs(toyX[i]))
			if d := maxDiff64(r.Values["logits"].F[3*i:3*i+3], z[:]); d > 1e-6 {
				t.Errorf("%s: image %d logits %v, want %v", lay, i, r.Values["logits"].F[3*i:3*i+3], z)
			}
		}
	}
}
