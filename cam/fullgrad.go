package cam

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gradcam/gradcam/tensor"
)

// biasLayer is a node whose output FullGrad weighs by its bias.
type biasLayer struct {
	out  string
	bias []float32
}

// biasLayers lists, in graph order, the layers with a per-channel bias
// that pytorch-grad-cam's FullGrad uses (its Conv2d and BatchNorm2d
// modules with a bias): every Conv with a constant bias input and every
// BatchNormalization, whose effective bias is B - mean * scale /
// sqrt(var + epsilon), both with rank-4 outputs. PyTorch exporters fold
// BatchNorm into the preceding Conv; the folded Conv's bias is then that
// effective bias and its output the BatchNorm's, so both forms give the
// same terms.
func (gi *graphInfo) biasLayers(shapes map[string][]int) []biasLayer {
	var out []biasLayer
	for _, n := range gi.g.Nodes {
		if len(n.Outputs) == 0 || len(shapes[n.Outputs[0]]) != 4 {
			continue
		}
		switch n.OpType {
		case "Conv":
			if b := gi.constant(n.Input(2)); b != nil {
				out = append(out, biasLayer{out: n.Outputs[0], bias: b.Float32s()})
			}
		case "BatchNormalization":
			scale, b := gi.constant(n.Input(1)), gi.constant(n.Input(2))
			mean, vr := gi.constant(n.Input(3)), gi.constant(n.Input(4))
			if scale == nil || b == nil || mean == nil || vr == nil {
				continue
			}
			eps := float64(n.AttrFloat("epsilon", 1e-5))
			s, bb, m, v := scale.Float32s(), b.Float32s(), mean.Float32s(), vr.Float32s()
			eff := make([]float32, len(bb))
			for k := range eff {
				eff[k] = float32(float64(bb[k]) - float64(m[k])*float64(s[k])/math.Sqrt(float64(v[k])+eps))
			}
			out = append(out, biasLayer{out: n.Outputs[0], bias: eff})
		}
	}
	return out
}

// runFullGrad computes FullGrad (Srinivas & Fleuret 2019, eq. 6, as
// pytorch-grad-cam computes it): the input-gradient term |x * dx| per
// input channel, plus for every biased layer the sum over its channels of
// |b_k * G_k| (G the gradient at the layer's output), each channel map
// min-max normalised and resized to the input size; everything summed and
// min-max normalised once, without ReLU. Resizing is linear, so each
// layer's normalised channels are summed before its one resize.
func (j *job) runFullGrad(ctx context.Context, x *tensor.Tensor, fixed [][]Target) (*outcome, error) {
	shapes, err := j.e.m.Shapes(x.Shape)
	if err != nil {
		return nil, err
	}
	layers := j.e.gi.biasLayers(shapes)
	to := []string{j.e.input}
	for _, b := range layers {
		to = append(to, b.out)
	}
	xs := perImage(x, j.inLay)
	HW := j.H * j.W
	targets := fixed
	var o *outcome
	for ti := 0; targets == nil || ti < len(targets[0]); ti++ {
		r, err := j.gradPass(ctx, x, &targets, ti, nil, to, nil)
		if err != nil {
			return nil, err
		}
		if o == nil {
			o = j.newOutcome(r.Values[j.e.logits], targets)
		}
		dx := perImage(r.Grads[j.e.input], j.inLay)
		for i := range o.res.Images {
			maps := make([][]float32, j.cin+len(layers))
			for c := 0; c < j.cin; c++ {
				m := make([]float32, HW)
				xc, gc := xs[i][c*HW:(c+1)*HW], dx[i][c*HW:(c+1)*HW]
				for p := range m {
					m[p] = float32(math.Abs(float64(xc[p] * gc[p])))
				}
				minMax(m, minMaxEps)
				maps[c] = m
			}
			j.fullGradLayerMaps(maps[j.cin:], layers, r.Grads, i)
			ex := &o.res.Images[i].Explanations[ti]
			ex.Map = j.fullGradCombine(maps)
		}
	}
	return o, nil
}

// fullGradLayerMaps writes into maps[l] the bias term of layers[l] for
// image i: sum_k norm(|b_k * G_k|) at the layer's resolution, resized to
// the input size. The layers are shared among the model's threads (each
// layer's map is computed by one of them, in the same order of operations
// as alone, so the result does not depend on the number of threads).
func (j *job) fullGradLayerMaps(maps [][]float32, layers []biasLayer, grads map[string]*tensor.Tensor, i int) {
	// Largest layers first, so that the threads finish together.
	order := make([]int, len(layers))
	size := make([]int, len(layers))
	for l, b := range layers {
		order[l] = l
		size[l] = tensor.Size(grads[b.out].Shape[1:])
	}
	slices.SortStableFunc(order, func(a, b int) int { return size[b] - size[a] })
	workers := max(min(j.threads(), len(layers)), 1)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var sum []float64
			var m []float32
			for {
				q := int(next.Add(1) - 1)
				if q >= len(order) {
					return
				}
				l := order[q]
				g := grads[layers[l].out]
				_, C, h, w := NCHW.dims(g.Shape)
				P := h * w
				sum = slices.Grow(sum[:0], P)[:P]
				clear(sum)
				m = slices.Grow(m[:0], P)[:P]
				biasTerm(sum, m, g.F[i*C*P:(i+1)*C*P], layers[l].bias)
				s := make([]float32, P)
				for p, v := range sum {
					s[p] = float32(v)
				}
				maps[l] = resizeHalfPixel(s, h, w, j.H, j.W)
			}
		})
	}
	wg.Wait()
}

// biasTerm adds to sum, for every channel k of the gradient g (C planes of
// len(sum) values, C = len(bias)), the plane |bias_k * g_k| min-max
// normalised as minMax does with minMaxEps; m is scratch of len(sum).
// The values are never negative (nor -0), so plain comparisons find the
// same minimum and maximum as math.Min and math.Max.
func biasTerm(sum []float64, m, g, bias []float32) {
	P := len(sum)
	m = m[:P]
	for k, bk := range bias {
		gk := g[k*P : (k+1)*P]
		gk = gk[:len(m)]
		lo := float32(math.Inf(1))
		hi := float32(0)
		for p, v := range gk {
			a := float32(math.Abs(float64(bk * v)))
			m[p] = a
			if a < lo {
				lo = a
			}
			if a > hi {
				hi = a
			}
		}
		lo64 := float64(lo)
		d := float64(hi) - lo64 + minMaxEps
		s := sum[:len(m)]
		for p, a := range m {
			s[p] += float64(float32((float64(a) - lo64) / d))
		}
	}
}

// fullGradCombine sums the FullGrad terms and normalises the sum. With
// eigen_smooth it does what pytorch-grad-cam does instead: every term is
// normalised and shrunk to an eighth of the input size, their first
// principal component is taken, normalised and resized back (at least one
// pixel each way for tiny inputs).
func (j *job) fullGradCombine(maps [][]float32) []float32 {
	HW := j.H * j.W
	out := make([]float32, HW)
	if !j.opt.EigenSmooth {
		for p := range out {
			var s float64
			for _, m := range maps {
				s += float64(m[p])
			}
			out[p] = float32(s)
		}
		minMax(out, minMaxEps)
		return out
	}
	h, w := max(j.H/8, 1), max(j.W/8, 1)
	P := h * w
	stack := make([]float32, 0, len(maps)*P)
	for _, m := range maps {
		s := append([]float32(nil), m...)
		minMax(s, minMaxEps)
		stack = append(stack, resizeHalfPixel(s, j.H, j.W, h, w)...)
	}
	proj := projection(stack, len(maps), P)
	minMax(proj, minMaxEps)
	out = resizeHalfPixel(proj, h, w, j.H, j.W)
	minMax(out, minMaxEps)
	return out
}
