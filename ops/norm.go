package ops

// BatchNormalization (inference form), LayerNormalization and LRN, after
// the ONNX operator specification
// (https://onnx.ai/onnx/operators/onnx__BatchNormalization.html,
// onnx__LayerNormalization.html, onnx__LRN.html).

import (
	"errors"
	"fmt"
	"math"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("BatchNormalization", newBatchNorm)
	Register("LayerNormalization", newLayerNorm)
	Register("LRN", newLRN)
}

// batchNormOp is a built BatchNormalization node in inference form:
// Y = (X - mean) / sqrt(var + epsilon) * scale + B with the running mean
// and variance given as inputs 3 and 4.
type batchNormOp struct {
	eps float32
}

func newBatchNorm(n *graph.Node, opset int64) (Op, error) {
	// Older opsets carry consumed_inputs (before 6), is_test (before 7)
	// and spatial (before 9); the inference computation is the same
	// whatever they say, spatial=0 being handled by accepting per-element
	// parameters.
	if n.AttrInt("training_mode", 0) != 0 {
		return nil, errors.New("BatchNormalization with training_mode=1 is not supported (inference form only)")
	}
	for i, o := range n.Outputs {
		if i > 0 && o != "" {
			return nil, errors.New("BatchNormalization training outputs (running or saved mean and variance) are not supported")
		}
	}
	return &batchNormOp{eps: n.AttrFloat("epsilon", 1e-5)}, nil
}

// bnLayout checks the shapes and returns the number of channels, the
// number of elements per (image, channel) and how many consecutive
// elements share one parameter: inner for per-channel parameters, 1 for
// the per-element ones of spatial=0.
func bnLayout(x []int, params [][]int) (c, inner, per int, err error) {
	if len(x) < 2 {
		return 0, 0, 0, fmt.Errorf("BatchNormalization input has shape %v; want rank 2 or more (N, C, ...)", x)
	}
	c, inner = x[1], tensor.Size(x[2:])
	size := -1
	for i, p := range params {
		n := tensor.Size(p)
		if size >= 0 && n != size {
			return 0, 0, 0, fmt.Errorf("BatchNormalization parameter %d has shape %v, unlike the others", i+1, p)
		}
		size = n
	}
	switch size {
	case c:
		return c, inner, inner, nil
	case c * inner:
		return c, inner, 1, nil
	}
	return 0, 0, 0, fmt.Errorf("BatchNormalization parameters of shape %v do not fit input %v", params[0], x)
}

// Infer implements Op.
func (o *batchNormOp) Infer(in []Value) ([]Value, error) {
	if len(in) < 5 {
		return nil, errors.New("BatchNormalization needs inputs X, scale, B, mean and var")
	}
	params := make([][]int, 4)
	for i, v := range in[:5] {
		if v.DType != tensor.Float32 {
			return nil, fmt.Errorf("BatchNormalization input %d is %s; want float", i, v.DType)
		}
		if i > 0 {
			params[i-1] = v.Shape
		}
	}
	if _, _, _, err := bnLayout(in[0].Shape, params); err != nil {
		return nil, err
	}
	return []Value{{DType: tensor.Float32, Shape: append([]int(nil), in[0].Shape...)}}, nil
}

// bnArgs checks the inputs and returns the layout and the per-parameter
// multiplier a = scale / sqrt(var + eps).
func (o *batchNormOp) bnArgs(in []*tensor.Tensor) (c, inner, per int, a []float32, err error) {
	if len(in) < 5 {
		return 0, 0, 0, nil, errors.New("BatchNormalization needs inputs X, scale, B, mean and var")
	}
	params := make([][]int, 4)
	for i, t := range in[:5] {
		if t == nil || t.DType != tensor.Float32 {
			return 0, 0, 0, nil, fmt.Errorf("BatchNormalization input %d is missing or not float", i)
		}
		if i > 0 {
			params[i-1] = t.Shape
		}
	}
	c, inner, per, err = bnLayout(in[0].Shape, params)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	scale, vr := in[1].F, in[4].F
	a = make([]float32, len(scale))
	for i := range a {
		a[i] = float32(float64(scale[i]) / math.Sqrt(float64(vr[i])+float64(o.eps)))
	}
	return c, inner, per, a, nil
}

// Forward implements Op.
func (o *batchNormOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	c, inner, per, a, err := o.bnArgs(in)
	if err != nil {
		return nil, err
	}
	x, b, mean := in[0], in[2].F, in[3].F
	y := tensor.Zeros(x.Shape...)
	planes := x.Shape[0] * c
	parallelFor(ctx, planes, max(1, 1<<15/(inner+1)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			base := (pl % c) * inner / per
			xp, yp := x.F[pl*inner:(pl+1)*inner], y.F[pl*inner:(pl+1)*inner]
			if per == inner {
				av, mv, bv := a[base], mean[base], b[base]
				for i, v := range xp {
					yp[i] = (v-mv)*av + bv
				}
				continue
			}
			for i, v := range xp {
				j := base + i
				yp[i] = (v-mean[j])*a[j] + b[j]
			}
		}
	})
	return []*tensor.Tensor{y}, nil
}

// Backward implements Differentiable. With a = scale/sqrt(var+eps) and
// xhat = (x-mean)/sqrt(var+eps): dX = a*dY, dscale = Σ dY*xhat, dB = Σ dY,
// dmean = -a*Σ dY and dvar = -a/(2(var+eps)) * Σ dY*(x-mean).
func (o *batchNormOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	c, inner, per, a, err := o.bnArgs(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.Tensor, len(in))
	needs := func(i int) bool { return i < len(need) && need[i] }
	x, mean, vr := in[0], in[3].F, in[4].F
	var dy []float32
	if len(gradOut) > 0 && gradOut[0] != nil {
		dy = gradOut[0].F
	}
	if needs(0) {
		dx := tensor.Zeros(x.Shape...)
		if dy != nil {
			for pl := range x.Shape[0] * c {
				base := (pl % c) * inner / per
				dyp, dxp := dy[pl*inner:(pl+1)*inner], dx.F[pl*inner:(pl+1)*inner]
				for i, v := range dyp {
					dxp[i] = v * a[base+bnOff(i, per)]
				}
			}
		}
		grads[0] = dx
	}
	if !needs(1) && !needs(2) && !needs(3) && !needs(4) {
		return grads, nil
	}
	// Per-parameter sums Σ dY and Σ dY*(x-mean).
	n := len(a)
	sdy, sdyx := make([]float64, n), make([]float64, n)
	if dy != nil {
		for pl := range x.Shape[0] * c {
			base := (pl % c) * inner / per
			dyp, xp := dy[pl*inner:(pl+1)*inner], x.F[pl*inner:(pl+1)*inner]
			for i, v := range dyp {
				j := base + bnOff(i, per)
				sdy[j] += float64(v)
				sdyx[j] += float64(v) * float64(xp[i]-mean[j])
			}
		}
	}
	param := func(i int, f func(j int) float64) {
		if !needs(i) {
			return
		}
		g := tensor.Zeros(in[i].Shape...)
		for j := range g.F {
			g.F[j] = float32(f(j))
		}
		grads[i] = g
	}
	scale := in[1].F
	param(1, func(j int) float64 { return sdyx[j] / math.Sqrt(float64(vr[j])+float64(o.eps)) })
	param(2, func(j int) float64 { return sdy[j] })
	param(3, func(j int) float64 { return -float64(a[j]) * sdy[j] })
	param(4, func(j int) float64 {
		ve := float64(vr[j]) + float64(o.eps)
		return -0.5 * float64(scale[j]) * math.Pow(ve, -1.5) * sdyx[j]
	})
	return grads, nil
}

// bnOff is the parameter offset of element i of a plane: 0 for
// per-channel parameters (per == plane size), i for per-element ones.
func bnOff(i, per int) int {
	if per == 1 {
		return i
	}
	return 0
}

// layerNormOp is a built LayerNormalization node: each slice
// X[i0..i(axis-1), ...] is normalised to zero mean and unit variance, then
// scaled and shifted; Mean and InvStdDev are optional outputs.
type layerNormOp struct {
	axis int
	eps  float32
}

func newLayerNorm(n *graph.Node, opset int64) (Op, error) {
	return &layerNormOp{axis: int(n.AttrInt("axis", -1)), eps: n.AttrFloat("epsilon", 1e-5)}, nil
}

// lnLayout normalises the axis and checks that scale and bias (nil when
// absent) broadcast to the normalised shape X.shape[axis:].
func (o *layerNormOp) lnLayout(x, scale, bias []int) (axis, outer, inner int, err error) {
	axis = o.axis
	if axis < 0 {
		axis += len(x)
	}
	if axis < 0 || axis >= len(x) {
		return 0, 0, 0, fmt.Errorf("LayerNormalization axis %d is out of range for input shape %v", o.axis, x)
	}
	norm := x[axis:]
	for _, p := range [][]int{scale, bias} {
		if p == nil {
			continue
		}
		if b, err := tensor.BroadcastShape(norm, p); err != nil || !tensor.EqualShape(b, norm) {
			return 0, 0, 0, fmt.Errorf("LayerNormalization parameter of shape %v does not broadcast to the normalised shape %v", p, norm)
		}
	}
	return axis, tensor.Size(x[:axis]), tensor.Size(norm), nil
}

// lnStatShape is the shape of the Mean and InvStdDev outputs.
func lnStatShape(x []int, axis int) []int {
	s := append([]int(nil), x...)
	for i := axis; i < len(s); i++ {
		s[i] = 1
	}
	return s
}

// Infer implements Op.
func (o *layerNormOp) Infer(in []Value) ([]Value, error) {
	if len(in) < 2 {
		return nil, errors.New("LayerNormalization needs inputs X and Scale")
	}
	var bias []int
	if len(in) > 2 && in[2].DType != 0 {
		bias = in[2].Shape
		if bias == nil {
			bias = []int{}
		}
	}
	scale := in[1].Shape
	if scale == nil {
		scale = []int{}
	}
	for i, v := range in {
		if v.DType != 0 && v.DType != tensor.Float32 {
			return nil, fmt.Errorf("LayerNormalization input %d is %s; want float", i, v.DType)
		}
	}
	axis, _, _, err := o.lnLayout(in[0].Shape, scale, bias)
	if err != nil {
		return nil, err
	}
	st := lnStatShape(in[0].Shape, axis)
	return []Value{
		{DType: tensor.Float32, Shape: append([]int(nil), in[0].Shape...)},
		{DType: tensor.Float32, Shape: st},
		{DType: tensor.Float32, Shape: append([]int(nil), st...)},
	}, nil
}

// lnArgs checks the inputs and returns the layout and the scale and bias
// expanded to the normalised shape (bias nil when absent).
func (o *layerNormOp) lnArgs(in []*tensor.Tensor) (x *tensor.Tensor, axis, outer, inner int, scale, bias []float32, err error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, 0, 0, 0, nil, nil, errors.New("LayerNormalization needs inputs X and Scale")
	}
	x = in[0]
	var b *tensor.Tensor
	if len(in) > 2 {
		b = in[2]
	}
	shapeOf := func(t *tensor.Tensor) []int {
		if t == nil {
			return nil
		}
		if t.Shape == nil {
			return []int{}
		}
		return t.Shape
	}
	for _, t := range []*tensor.Tensor{x, in[1], b} {
		if t != nil && t.DType != tensor.Float32 {
			return nil, 0, 0, 0, nil, nil, errors.New("LayerNormalization needs float inputs")
		}
	}
	axis, outer, inner, err = o.lnLayout(x.Shape, shapeOf(in[1]), shapeOf(b))
	if err != nil {
		return nil, 0, 0, 0, nil, nil, err
	}
	scale = lnExpand(in[1], x.Shape[axis:])
	if b != nil {
		bias = lnExpand(b, x.Shape[axis:])
	}
	return x, axis, outer, inner, scale, bias, nil
}

// lnExpand broadcasts t to shape (already checked to be possible).
func lnExpand(t *tensor.Tensor, shape []int) []float32 {
	if t.Len() == tensor.Size(shape) {
		return t.F
	}
	idx := mmBatchIndex(shape, t.Shape)
	out := make([]float32, len(idx))
	for i, j := range idx {
		out[i] = t.F[j]
	}
	return out
}

// lnReduce sums g, laid out in shape, into a tensor of t's shape: the
// adjoint of lnExpand.
func lnReduce(g []float64, shape []int, t *tensor.Tensor) *tensor.Tensor {
	r := tensor.Zeros(t.Shape...)
	if t.Len() == len(g) {
		for i, v := range g {
			r.F[i] = float32(v)
		}
		return r
	}
	acc := make([]float64, len(r.F))
	for i, j := range mmBatchIndex(shape, t.Shape) {
		acc[j] += g[i]
	}
	for i, v := range acc {
		r.F[i] = float32(v)
	}
	return r
}

// lnStats returns the mean and 1/sqrt(var+eps) of one slice.
func (o *layerNormOp) lnStats(xs []float32) (mean, rstd float64) {
	for _, v := range xs {
		mean += float64(v)
	}
	mean /= float64(len(xs))
	var vr float64
	for _, v := range xs {
		d := float64(v) - mean
		vr += d * d
	}
	vr /= float64(len(xs))
	return mean, 1 / math.Sqrt(vr+float64(o.eps))
}

// Forward implements Op.
func (o *layerNormOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, axis, outer, inner, scale, bias, err := o.lnArgs(in)
	if err != nil {
		return nil, err
	}
	y := tensor.Zeros(x.Shape...)
	st := lnStatShape(x.Shape, axis)
	mt, rt := tensor.Zeros(st...), tensor.Zeros(st...)
	parallelFor(ctx, outer, max(1, 1<<14/(inner+1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xs, ys := x.F[r*inner:(r+1)*inner], y.F[r*inner:(r+1)*inner]
			mean, rstd := o.lnStats(xs)
			mt.F[r], rt.F[r] = float32(mean), float32(rstd)
			for i, v := range xs {
				h := float32((float64(v) - mean) * rstd)
				ys[i] = h * scale[i]
				if bias != nil {
					ys[i] += bias[i]
				}
			}
		}
	})
	return []*tensor.Tensor{y, mt, rt}, nil
}

// Backward implements Differentiable. Per slice of n elements, with
// xhat = (x-mean)*r and g = dY*scale:
// dX = r*(g - mean(g) - xhat*mean(g*xhat)) + dMean/n - dInvStdDev*r²*xhat/n,
// dScale = Σ dY*xhat and dB = Σ dY over the slices.
func (o *layerNormOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	x, axis, outer, inner, scale, _, err := o.lnArgs(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.Tensor, len(in))
	needs := func(i int) bool { return i < len(need) && need[i] && i < len(in) && in[i] != nil }
	gout := func(j int) []float32 {
		if j < len(gradOut) && gradOut[j] != nil {
			return gradOut[j].F
		}
		return nil
	}
	dy, dmean, drstd := gout(0), gout(1), gout(2)
	var dx []float32
	if needs(0) {
		t := tensor.Zeros(x.Shape...)
		grads[0], dx = t, t.F
	}
	var dsc, db []float64
	if needs(1) {
		dsc = make([]float64, inner)
	}
	if needs(2) {
		db = make([]float64, inner)
	}
	xhat := make([]float64, inner)
	n := float64(inner)
	for r := range outer {
		xs := x.F[r*inner : (r+1)*inner]
		mean, rstd := o.lnStats(xs)
		for i, v := range xs {
			xhat[i] = (float64(v) - mean) * rstd
		}
		var dys []float32
		if dy != nil {
			dys = dy[r*inner : (r+1)*inner]
			for i, g := range dys {
				if dsc != nil {
					dsc[i] += float64(g) * xhat[i]
				}
				if db != nil {
					db[i] += float64(g)
				}
			}
		}
		if dx == nil {
			continue
		}
		var mg, mgx float64
		for i, g := range dys {
			gs := float64(g) * float64(scale[i])
			mg += gs
			mgx += gs * xhat[i]
		}
		mg /= n
		mgx /= n
		var cm, cr float64
		if dmean != nil {
			cm = float64(dmean[r]) / n
		}
		if drstd != nil {
			cr = -float64(drstd[r]) * rstd * rstd / n
		}
		dxs := dx[r*inner : (r+1)*inner]
		for i := range dxs {
			v := cm + cr*xhat[i]
			if dys != nil {
				v += rstd * (float64(dys[i])*float64(scale[i]) - mg - xhat[i]*mgx)
			}
			dxs[i] = float32(v)
		}
	}
	if dsc != nil {
		grads[1] = lnReduce(dsc, x.Shape[axis:], in[1])
	}
	if db != nil {
		grads[2] = lnReduce(db, x.Shape[axis:], in[2])
	}
	return grads, nil
}

// lrnOp is a built LRN node: local response normalisation across channels,
// Y = X / (bias + alpha/size * Σ X²)^beta, the sum running over channels
// c-floor((size-1)/2) to c+ceil((size-1)/2) (clipped to the valid ones).
type lrnOp struct {
	alpha, beta, bias float64
	size              int
}

func newLRN(n *graph.Node, opset int64) (Op, error) {
	size := n.AttrInt("size", 0)
	if size < 1 {
		return nil, errors.New("LRN needs a positive size attribute")
	}
	return &lrnOp{
		alpha: float64(n.AttrFloat("alpha", 1e-4)),
		beta:  float64(n.AttrFloat("beta", 0.75)),
		bias:  float64(n.AttrFloat("bias", 1)),
		size:  int(size),
	}, nil
}

// Infer implements Op.
func (o *lrnOp) Infer(in []Value) ([]Value, error) {
	if len(in) < 1 || in[0].DType != tensor.Float32 || len(in[0].Shape) < 2 {
		return nil, errors.New("LRN needs a float input of rank 2 or more (N, C, ...)")
	}
	return []Value{{DType: tensor.Float32, Shape: append([]int(nil), in[0].Shape...)}}, nil
}

// lrnWindow returns the channel range [lo, hi) summed for channel c.
func (o *lrnOp) lrnWindow(c, channels int) (lo, hi int) {
	return max(0, c-(o.size-1)/2), min(channels, c+o.size/2+1)
}

// lrnScale computes s = bias + alpha/size * Σ x² for plane (n, c) into s.
func (o *lrnOp) lrnScale(x []float32, n, c, channels, inner int, s []float64) {
	for i := range s {
		s[i] = 0
	}
	lo, hi := o.lrnWindow(c, channels)
	for k := lo; k < hi; k++ {
		for i, v := range x[(n*channels+k)*inner:][:inner] {
			s[i] += float64(v) * float64(v)
		}
	}
	f := o.alpha / float64(o.size)
	for i := range s {
		s[i] = o.bias + f*s[i]
	}
}

func lrnInput(in []*tensor.Tensor) (*tensor.Tensor, error) {
	if len(in) < 1 || in[0] == nil || in[0].DType != tensor.Float32 || len(in[0].Shape) < 2 {
		return nil, errors.New("LRN needs a float input of rank 2 or more (N, C, ...)")
	}
	return in[0], nil
}

// Forward implements Op.
func (o *lrnOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, err := lrnInput(in)
	if err != nil {
		return nil, err
	}
	channels, inner := x.Shape[1], tensor.Size(x.Shape[2:])
	y := tensor.Zeros(x.Shape...)
	parallelFor(ctx, x.Shape[0]*channels, max(1, 1<<12/(inner*o.size+1)), func(lo, hi int) {
		s := make([]float64, inner)
		for pl := lo; pl < hi; pl++ {
			o.lrnScale(x.F, pl/channels, pl%channels, channels, inner, s)
			xp, yp := x.F[pl*inner:(pl+1)*inner], y.F[pl*inner:(pl+1)*inner]
			for i, v := range xp {
				yp[i] = float32(float64(v) * math.Pow(s[i], -o.beta))
			}
		}
	})
	return []*tensor.Tensor{y}, nil
}

// Backward implements Differentiable: with s_c the denominator base of
// channel c, dX_j = dY_j s_j^-beta - (2 alpha beta/size) X_j Σ_c dY_c X_c
// s_c^(-beta-1), the sum over the channels c whose window holds j.
func (o *lrnOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] {
		return grads, nil
	}
	x, err := lrnInput(in)
	if err != nil {
		return nil, err
	}
	dx := tensor.Zeros(x.Shape...)
	grads[0] = dx
	if len(gradOut) == 0 || gradOut[0] == nil {
		return grads, nil
	}
	dy := gradOut[0].F
	channels, inner := x.Shape[1], tensor.Size(x.Shape[2:])
	f := 2 * o.alpha * o.beta / float64(o.size)
	// t[n, c] = dY_c X_c s_c^(-beta-1), and each plane's own term.
	t := make([]float64, len(x.F))
	parallelFor(ctx, x.Shape[0]*channels, max(1, 1<<12/(inner*o.size+1)), func(lo, hi int) {
		s := make([]float64, inner)
		for pl := lo; pl < hi; pl++ {
			o.lrnScale(x.F, pl/channels, pl%channels, channels, inner, s)
			xp, dyp := x.F[pl*inner:(pl+1)*inner], dy[pl*inner:(pl+1)*inner]
			tp, dxp := t[pl*inner:(pl+1)*inner], dx.F[pl*inner:(pl+1)*inner]
			for i, v := range xp {
				p := math.Pow(s[i], -o.beta)
				dxp[i] = float32(float64(dyp[i]) * p)
				tp[i] = float64(dyp[i]) * float64(v) * p / s[i]
			}
		}
	})
	// Channel c's window holds j exactly when j's mirrored window holds c:
	// c in [j - size/2, j + (size-1)/2].
	parallelFor(ctx, x.Shape[0]*channels, max(1, 1<<12/(inner*o.size+1)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			n, j := pl/channels, pl%channels
			clo, chi := max(0, j-o.size/2), min(channels, j+(o.size-1)/2+1)
			xp, dxp := x.F[pl*inner:(pl+1)*inner], dx.F[pl*inner:(pl+1)*inner]
			for i := range xp {
				var acc float64
				for c := clo; c < chi; c++ {
					acc += t[(n*channels+c)*inner+i]
				}
				dxp[i] -= float32(f * float64(xp[i]) * acc)
			}
		}
	})
	return grads, nil
}
