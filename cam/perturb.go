package cam

import (
	"context"
	"slices"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/tensor"
)

// scoreCAMEps is the epsilon of Score-CAM's per-channel normalisation in
// pytorch-grad-cam: (u - min) / (max - min + 1e-8).
const scoreCAMEps = 1e-8

// scoreCAMWeights computes Score-CAM's channel weights (Wang et al. 2020,
// eq. 5 and 6) for one layer, per image and target: the softmax over
// channels of the scores scoreCAMScores gives.
func (j *job) scoreCAMWeights(ctx context.Context, x *tensor.Tensor, l layerInfo, acts [][]float32, targets [][]Target) ([][][]float32, error) {
	channels := make([]int, l.c)
	for k := range channels {
		channels[k] = k
	}
	scores, err := j.scoreCAMScores(ctx, x, l, acts, targets, channels)
	if err != nil {
		return nil, err
	}
	w := make([][][]float32, j.n)
	for i := range w {
		w[i] = make([][]float32, len(targets[i]))
		for t := range w[i] {
			w[i][t] = softmax64(scores[i][t])
		}
	}
	return w, nil
}

// scoreCAMScores returns, per image and target, the score of the input
// masked by each of the given channels: the channel upsampled to the
// input size with corner-aligned bilinear interpolation (PyTorch's
// UpsamplingBilinear2d), min-max normalised with eps 1e-8, multiplied
// into every input channel. The masked inputs run in batches of
// Options.BatchSize (16, or the model's batch size when its input
// declares a fixed one); cancelling ctx stops between batches.
func (j *job) scoreCAMScores(ctx context.Context, x *tensor.Tensor, l layerInfo, acts [][]float32, targets [][]Target, channels []int) ([][][]float64, error) {
	bs := j.opt.BatchSize
	if bs == 0 {
		bs = 16
		if in := j.e.m.Inputs(); len(in) == 1 && len(in[0].Shape) > 0 && in[0].Shape[0].Value > 0 {
			bs = int(in[0].Shape[0].Value)
		}
	}
	HW := j.H * j.W
	img := j.cin * HW
	rz := newResizer(l.h, l.w, j.H, j.W, true)
	nc := len(channels)
	scores := make([][][]float64, j.n)
	for i := range scores {
		scores[i] = make([][]float64, len(targets[i]))
		for t := range scores[i] {
			scores[i][t] = make([]float64, nc)
		}
	}
	total := j.n * nc
	mask := make([]float32, HW)
	for start := 0; start < total; start += bs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := min(bs, total-start)
		shape := slices.Clone(x.Shape)
		shape[0] = b
		batch := tensor.New(tensor.Float32, shape...)
		for q := 0; q < b; q++ {
			i, k := (start+q)/nc, channels[(start+q)%nc]
			rz.resize(mask, acts[i][k*l.p:(k+1)*l.p])
			minMax(mask, scoreCAMEps)
			src, dst := x.F[i*img:(i+1)*img], batch.F[q*img:(q+1)*img]
			if j.inLay == NCHW {
				for c := 0; c < j.cin; c++ {
					s, d := src[c*HW:(c+1)*HW], dst[c*HW:(c+1)*HW]
					for p, m := range mask {
						d[p] = s[p] * m
					}
				}
			} else {
				for p, m := range mask {
					for c := 0; c < j.cin; c++ {
						dst[p*j.cin+c] = src[p*j.cin+c] * m
					}
				}
			}
		}
		r, err := j.e.m.Run(ctx, batch, engine.Pass{Fetch: []string{j.e.logits}})
		if err != nil {
			return nil, err
		}
		lg := r.Values[j.e.logits]
		for q := 0; q < b; q++ {
			i, kk := (start+q)/nc, (start+q)%nc
			row := lg.F[q*j.classes : (q+1)*j.classes]
			for t, tg := range targets[i] {
				scores[i][t][kk] = tg.score(row, j.opt.Score)
			}
		}
	}
	return scores, nil
}

// ablationValue is what Ablation-CAM writes into an ablated channel when
// the activation has values other than zero at its minimum, as
// pytorch-grad-cam's AblationLayer does: min - 1e7.
const ablationValue = 1e7

// runAblation computes Ablation-CAM (Desai & Ramaswamy 2020, eq. 3):
// with s0 the target score and s_k the score when channel k of the
// target layer is ablated, w_k = (s0 - s_k) / s0. The channel is set to 0
// when the image's activation has minimum 0 (after ReLU), else to
// min - 1e7 (pytorch-grad-cam's AblationLayer; for such layers the
// reference lowers the value further for every channel of a batch of 32,
// a side effect we do not copy). Only the graph downstream of the target
// layer runs per channel (engine Editable + Rerun); cancelling ctx stops
// between channels.
func (j *job) runAblation(ctx context.Context, x *tensor.Tensor, fixed [][]Target) (*outcome, error) {
	targets := fixed
	var o *outcome
	for _, l := range j.layers {
		r, err := j.e.m.Run(ctx, x, engine.Pass{Fetch: []string{j.e.logits, l.name}, Editable: []string{l.name}})
		if err != nil {
			return nil, err
		}
		logits := r.Values[j.e.logits]
		if targets == nil {
			targets = j.allTargets(logits)
		}
		if o == nil {
			o = j.newOutcome(logits, targets)
		}
		a := r.Values[l.name]
		acts := perImage(a, l.layout)
		s0 := make([][]float32, j.n)
		sk := make([][][]float32, j.n)
		fill := make([]float32, j.n)
		for i := range s0 {
			row := j.row(logits, i)
			s0[i] = make([]float32, len(targets[i]))
			sk[i] = make([][]float32, len(targets[i]))
			for t, tg := range targets[i] {
				s0[i][t] = float32(tg.score(row, j.opt.Score))
				sk[i][t] = make([]float32, l.c)
			}
			if mn := slices.Min(acts[i]); mn != 0 {
				fill[i] = mn - ablationValue
			}
		}
		work := a.Clone()
		idx := func(i, k, p int) int {
			if l.layout == NHWC {
				return (i*l.p+p)*l.c + k
			}
			return (i*l.c+k)*l.p + p
		}
		for k := 0; k < l.c; k++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			for i := 0; i < j.n; i++ {
				for p := 0; p < l.p; p++ {
					work.F[idx(i, k, p)] = fill[i]
				}
			}
			out, err := r.Rerun(ctx, map[string]*tensor.Tensor{l.name: work}, []string{j.e.logits})
			if err != nil {
				return nil, err
			}
			lg := out[j.e.logits]
			for i := 0; i < j.n; i++ {
				row := j.row(lg, i)
				for t, tg := range targets[i] {
					sk[i][t][k] = float32(tg.score(row, j.opt.Score))
				}
				for p := 0; p < l.p; p++ {
					q := idx(i, k, p)
					work.F[q] = a.F[q]
				}
			}
		}
		for i := range o.res.Images {
			for t := range o.res.Images[i].Explanations {
				w := make([]float32, l.c)
				for k := range w {
					w[k] = (s0[i][t] - sk[i][t][k]) / s0[i][t]
				}
				ex := &o.res.Images[i].Explanations[t]
				ex.Layers = append(ex.Layers, j.channelMap(l, acts[i], w))
			}
		}
	}
	for i := range o.res.Images {
		for t := range o.res.Images[i].Explanations {
			ex := &o.res.Images[i].Explanations[t]
			ex.Map = j.finishMap(ex.Layers)
		}
	}
	return o, nil
}
