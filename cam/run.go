package cam

import (
	"context"
	"fmt"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// outcome is one run of a method on one (possibly augmented) batch.
type outcome struct {
	res     *Result
	targets [][]Target    // per image, per target
	gb      [][][]float32 // guided backprop, per image, per target (HWC)
}

// perImage splits a rank-4 tensor into per-image channel-major slices
// (x[k*P+p]): views of t for NCHW, copies for NHWC. Callers read them
// only.
func perImage(t *tensor.Tensor, l Layout) [][]float32 {
	n, c, h, w := l.dims(t.Shape)
	p := h * w
	out := make([][]float32, n)
	for i := range out {
		src := t.F[i*c*p : (i+1)*c*p : (i+1)*c*p]
		if l == NCHW {
			out[i] = src
			continue
		}
		d := make([]float32, c*p)
		for q := 0; q < p; q++ {
			for k := 0; k < c; k++ {
				d[k*p+q] = src[q*c+k]
			}
		}
		out[i] = d
	}
	return out
}

// hwc returns image i of a rank-4 tensor as H x W x C.
func hwc(t *tensor.Tensor, l Layout, i int) []float32 {
	_, c, h, w := l.dims(t.Shape)
	p := h * w
	src := t.F[i*c*p : (i+1)*c*p]
	if l == NHWC {
		return append([]float32(nil), src...)
	}
	d := make([]float32, c*p)
	for k := 0; k < c; k++ {
		for q := 0; q < p; q++ {
			d[q*c+k] = src[k*p+q]
		}
	}
	return d
}

// row returns image i's logits.
func (j *job) row(logits *tensor.Tensor, i int) []float32 {
	return logits.F[i*j.classes : (i+1)*j.classes]
}

// allTargets decides every image's targets from the logits.
func (j *job) allTargets(logits *tensor.Tensor) [][]Target {
	out := make([][]Target, j.n)
	for i := range out {
		out[i] = j.targetsFor(j.row(logits, i))
	}
	return out
}

// gradPass runs the model forward and backward from target number ti of
// every image. When *targets is nil the seed decides them from the
// logits first.
func (j *job) gradPass(ctx context.Context, x *tensor.Tensor, targets *[][]Target, ti int, fetch, to []string, rules map[string]engine.Rule) (*engine.Result, error) {
	seed := func(v []*tensor.Tensor) ([]*tensor.Tensor, error) {
		lg := v[0]
		if *targets == nil {
			*targets = j.allTargets(lg)
		}
		g := tensor.New(tensor.Float32, lg.Shape...)
		for i := 0; i < j.n; i++ {
			(*targets)[i][ti].seed(j.row(lg, i), g.F[i*j.classes:(i+1)*j.classes], j.opt.Score)
		}
		return []*tensor.Tensor{g}, nil
	}
	return j.e.m.Run(ctx, x, engine.Pass{
		Fetch:    append([]string{j.e.logits}, fetch...),
		Backward: &engine.Backward{From: []string{j.e.logits}, Seed: seed, To: to, Rules: rules},
	})
}

// layerNames lists the target tensors.
func (j *job) layerNames() []string {
	out := make([]string, len(j.layers))
	for i, l := range j.layers {
		out[i] = l.name
	}
	return out
}

// newOutcome makes the result skeleton once the targets are known.
func (j *job) newOutcome(logits *tensor.Tensor, targets [][]Target) *outcome {
	res := &Result{Method: j.method, Height: j.H, Width: j.W}
	if j.method.usesLayers() {
		res.Layers = j.layerNames()
	}
	res.Images = make([]Image, j.n)
	for i := range res.Images {
		r := j.row(logits, i)
		img := &res.Images[i]
		img.Top5 = top5(r)
		img.Explanations = make([]Explanation, len(targets[i]))
		for t, tg := range targets[i] {
			img.Explanations[t] = Explanation{Target: tg, Score: float32(tg.score(r, j.opt.Score))}
		}
	}
	return &outcome{res: res, targets: targets}
}

// finishMap post-processes the layer maps into the final map.
func (j *job) finishMap(lms []LayerMap) []float32 {
	maps := make([][]float32, len(lms))
	for i, lm := range lms {
		maps[i] = finishLayerMap(lm.Raw, lm.Height, lm.Width, j.H, j.W)
	}
	return fuseLayers(maps)
}

// channelMap returns the layer map of a channel-weighting method.
func (j *job) channelMap(l layerInfo, a, w []float32) LayerMap {
	var raw []float32
	if j.opt.EigenSmooth {
		raw = combine(scaleChannels(a, w, l.c, l.p), l.c, l.p, true)
	} else {
		raw = weightedSum(a, w, l.c, l.p)
	}
	return LayerMap{Layer: l.name, Height: l.h, Width: l.w, Raw: raw, Weights: w}
}

// gradientMap returns the layer map of a gradient method for one image.
func (j *job) gradientMap(l layerInfo, a, g []float32) LayerMap {
	C, P := l.c, l.p
	eigen := j.opt.EigenSmooth
	switch j.method {
	case GradCAM, GuidedGradCAM:
		return j.channelMap(l, a, gradCAMWeights(g, C, P))
	case GradCAMPlusPlus:
		return j.channelMap(l, a, gradCAMPlusPlusWeights(a, g, C, P))
	case XGradCAM:
		return j.channelMap(l, a, xGradCAMWeights(a, g, C, P))
	}
	var x []float32
	switch j.method {
	case HiResCAM:
		x = elementwise(a, g, hiResProduct)
	case GradCAMElementWise:
		x = elementwise(a, g, elementwiseProduct)
	case LayerCAM:
		x = elementwise(a, g, layerCAMProduct)
	case EigenGradCAM:
		x, eigen = elementwise(a, g, hiResProduct), true
	default:
		panic("cam: not a gradient method: " + string(j.method))
	}
	return LayerMap{Layer: l.name, Height: l.h, Width: l.w, Raw: combine(x, C, P, eigen)}
}

// run computes the method on x. fixed, when not nil, gives the targets
// (aug smoothing); otherwise they follow from the options and logits.
func (j *job) run(ctx context.Context, x *tensor.Tensor, fixed [][]Target) (*outcome, error) {
	switch {
	case j.method.usesGradients():
		return j.runGradient(ctx, x, fixed)
	case j.method == FullGrad:
		return j.runFullGrad(ctx, x, fixed)
	case j.method == GuidedBackprop:
		return j.runGuided(ctx, x, fixed, nil)
	case j.method == AblationCAM:
		return j.runAblation(ctx, x, fixed)
	}
	// Forward-only methods: CAM, Eigen-CAM, Score-CAM.
	fetch := append([]string{j.e.logits}, j.layerNames()...)
	r, err := j.e.m.Run(ctx, x, engine.Pass{Fetch: fetch})
	if err != nil {
		return nil, err
	}
	logits := r.Values[j.e.logits]
	targets := fixed
	if targets == nil {
		targets = j.allTargets(logits)
	}
	o := j.newOutcome(logits, targets)
	acts := make([][][]float32, len(j.layers)) // [layer][image]
	for li, l := range j.layers {
		acts[li] = perImage(r.Values[l.name], l.layout)
	}
	var scoreW [][][][]float32 // [layer][image][target][channel]
	if j.method == ScoreCAM {
		scoreW = make([][][][]float32, len(j.layers))
		for li, l := range j.layers {
			if scoreW[li], err = j.scoreCAMWeights(ctx, x, l, acts[li], targets); err != nil {
				return nil, err
			}
		}
	}
	for i := range o.res.Images {
		for t := range o.res.Images[i].Explanations {
			ex := &o.res.Images[i].Explanations[t]
			for li, l := range j.layers {
				a := acts[li][i]
				var lm LayerMap
				switch j.method {
				case CAM:
					lm = j.channelMap(l, a, j.heads[li].weights(ex.Target))
				case EigenCAM:
					lm = LayerMap{Layer: l.name, Height: l.h, Width: l.w, Raw: projection(a, l.c, l.p)}
				case ScoreCAM:
					lm = j.channelMap(l, a, scoreW[li][i][t])
				}
				ex.Layers = append(ex.Layers, lm)
			}
			ex.Map = j.finishMap(ex.Layers)
		}
	}
	return o, nil
}

// weights returns the dense weights of a target: sum_i w_i W[c_i, :].
func (h *denseHead) weights(t Target) []float32 {
	out := make([]float32, h.channels)
	for i, c := range t.Classes {
		wi := t.weight(i)
		for k, v := range h.row(c) {
			out[k] += wi * v
		}
	}
	return out
}

func (j *job) runGradient(ctx context.Context, x *tensor.Tensor, fixed [][]Target) (*outcome, error) {
	targets := fixed
	var o *outcome
	names := j.layerNames()
	for ti := 0; targets == nil || ti < len(targets[0]); ti++ {
		r, err := j.gradPass(ctx, x, &targets, ti, names, names, nil)
		if err != nil {
			return nil, err
		}
		if o == nil {
			o = j.newOutcome(r.Values[j.e.logits], targets)
		}
		for _, l := range j.layers {
			acts := perImage(r.Values[l.name], l.layout)
			grads := perImage(r.Grads[l.name], l.layout)
			for i := range o.res.Images {
				ex := &o.res.Images[i].Explanations[ti]
				ex.Layers = append(ex.Layers, j.gradientMap(l, acts[i], grads[i]))
			}
		}
		for i := range o.res.Images {
			ex := &o.res.Images[i].Explanations[ti]
			ex.Map = j.finishMap(ex.Layers)
		}
	}
	if j.method == GuidedGradCAM {
		if _, err := j.runGuided(ctx, x, o.targets, o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// guidedRelu is guided backpropagation's ReLU backward (Springenberg et
// al. 2015, eq. for "guided backpropagation"): the gradient passes only
// where both the forward input and the incoming gradient are positive.
func guidedRelu(_ *ops.Ctx, _ *graph.Node, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	out := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || gradOut[0] == nil {
		return out, nil
	}
	x, g := in[0], gradOut[0]
	d := tensor.New(tensor.Float32, x.Shape...)
	for i, v := range x.F {
		if gv := g.F[i]; v > 0 && gv > 0 {
			d.F[i] = gv
		}
	}
	out[0] = d
	return out, nil
}

// runGuided computes guided backpropagation for every target. With o
// given (guided Grad-CAM) it multiplies into o's maps; otherwise it makes
// the outcome.
func (j *job) runGuided(ctx context.Context, x *tensor.Tensor, fixed [][]Target, o *outcome) (*outcome, error) {
	targets := fixed
	rules := map[string]engine.Rule{"Relu": guidedRelu}
	for ti := 0; targets == nil || ti < len(targets[0]); ti++ {
		r, err := j.gradPass(ctx, x, &targets, ti, nil, []string{j.e.input}, rules)
		if err != nil {
			return nil, err
		}
		if o == nil {
			o = j.newOutcome(r.Values[j.e.logits], targets)
		}
		if o.gb == nil {
			o.gb = make([][][]float32, j.n)
			for i := range o.gb {
				o.gb[i] = make([][]float32, len(targets[i]))
			}
		}
		for i := range o.res.Images {
			o.gb[i][ti] = hwc(r.Grads[j.e.input], j.inLay, i)
		}
	}
	j.applyGuided(o)
	return o, nil
}

// applyGuided fills Guided and GuidedImage from the guided-backprop
// gradients (and, for guided Grad-CAM, the maps).
func (j *job) applyGuided(o *outcome) {
	for i := range o.res.Images {
		for t := range o.res.Images[i].Explanations {
			ex := &o.res.Images[i].Explanations[t]
			gb := o.gb[i][t]
			g := append([]float32(nil), gb...)
			if ex.Map != nil {
				c := len(g) / len(ex.Map)
				for q, m := range ex.Map {
					for k := 0; k < c; k++ {
						g[q*c+k] *= m
					}
				}
			}
			ex.Guided = g
			ex.GuidedImage = Deprocess(g)
		}
	}
}

// augSmooth replaces o's maps by their mean over the test-time
// augmentations of pytorch-grad-cam's forward_augmentation_smoothing
// (ttach: HorizontalFlip x Multiply(0.9, 1, 1.1)); o is the unaugmented
// run.
func (j *job) augSmooth(ctx context.Context, x *tensor.Tensor, o *outcome) error {
	sums := make([][][]float64, len(o.res.Images))
	for i, img := range o.res.Images {
		sums[i] = make([][]float64, len(img.Explanations))
		for t, ex := range img.Explanations {
			s := make([]float64, len(ex.Map))
			for q, v := range ex.Map {
				s[q] = float64(v)
			}
			sums[i][t] = s
		}
	}
	count := 1
	for _, flip := range []bool{false, true} {
		for _, f := range []float32{0.9, 1, 1.1} {
			if !flip && f == 1 {
				continue
			}
			xa := augment(x, j.inLay, flip, f)
			oa, err := j.run(ctx, xa, o.targets)
			if err != nil {
				return fmt.Errorf("cam: aug_smooth: %w", err)
			}
			for i, img := range oa.res.Images {
				for t, ex := range img.Explanations {
					m := ex.Map
					if flip {
						m = flipRows(m, j.H, j.W)
					}
					for q, v := range m {
						sums[i][t][q] += float64(v)
					}
				}
			}
			count++
		}
	}
	for i := range o.res.Images {
		for t := range o.res.Images[i].Explanations {
			ex := &o.res.Images[i].Explanations[t]
			for q, s := range sums[i][t] {
				ex.Map[q] = float32(s / float64(count))
			}
		}
	}
	if j.method == GuidedGradCAM {
		j.applyGuided(o)
	}
	return nil
}

// augment returns x flipped horizontally (when flip) and multiplied by f.
func augment(x *tensor.Tensor, l Layout, flip bool, f float32) *tensor.Tensor {
	out := tensor.New(tensor.Float32, x.Shape...)
	n, c, h, w := l.dims(x.Shape)
	for i := 0; i < n*c*h*w; i++ {
		src := i
		if flip {
			// Mirror the width coordinate of element i.
			var xw int
			if l == NCHW {
				xw = i % w
				src = i - xw + (w - 1 - xw)
			} else {
				xw = (i / c) % w
				src = i + (w-1-2*xw)*c
			}
		}
		out.F[i] = x.F[src] * f
	}
	return out
}

// flipRows mirrors an h x w map left to right.
func flipRows(m []float32, h, w int) []float32 {
	out := make([]float32, len(m))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			out[y*w+x] = m[y*w+w-1-x]
		}
	}
	return out
}
