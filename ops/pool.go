package ops

// MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool, after the ONNX
// operator specification (https://onnx.ai/onnx/operators/onnx__MaxPool.html,
// onnx__AveragePool.html, onnx__GlobalAveragePool.html,
// onnx__GlobalMaxPool.html). Window geometry (strides, dilations, pads,
// auto_pad, ceil_mode) is resolved by winAttrs in conv.go. Padding never
// takes part in a max; an average divides by the number of input elements
// in the window, or with count_include_pad by the number of window taps
// inside the padded input (as PyTorch does, so a ceil_mode window reaching
// past the end padding does not count the taps beyond it).
//
// Backward sends each max-pool gradient to the first maximal element of its
// window in scan order (PyTorch's rule for ties) and spreads each
// average-pool gradient evenly over the elements the average counted.

import (
	"errors"
	"fmt"
	"math"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("MaxPool", newMaxPool)
	Register("AveragePool", newAveragePool)
	Register("GlobalAveragePool", newGlobalPool(false))
	Register("GlobalMaxPool", newGlobalPool(true))
}

// poolOp is a built MaxPool or AveragePool node.
type poolOp struct {
	max      bool
	attrs    winAttrs
	countPad bool // AveragePool count_include_pad
	indices  bool // MaxPool's Indices output is wanted
	colMajor bool // MaxPool storage_order 1: Indices count in column-major order
}

func newMaxPool(n *graph.Node, opset int64) (Op, error) {
	o, err := newPoolOp(n, true)
	if err != nil {
		return nil, err
	}
	o.indices = len(n.Outputs) > 1 && n.Outputs[1] != ""
	o.colMajor = n.AttrInt("storage_order", 0) != 0
	return o, nil
}

func newAveragePool(n *graph.Node, opset int64) (Op, error) {
	o, err := newPoolOp(n, false)
	if err != nil {
		return nil, err
	}
	o.countPad = n.AttrInt("count_include_pad", 0) != 0
	return o, nil
}

func newPoolOp(n *graph.Node, isMax bool) (*poolOp, error) {
	a, err := parseWinAttrs(n)
	if err != nil {
		return nil, err
	}
	if a.kernel == nil {
		return nil, errors.New("kernel_shape attribute is required")
	}
	return &poolOp{max: isMax, attrs: a}, nil
}

func (o *poolOp) name() string {
	if o.max {
		return "MaxPool"
	}
	return "AveragePool"
}

// poolGeom checks the input shape and resolves the window.
func (o *poolOp) poolGeom(x []int) (*winGeom, error) {
	if len(x) < 3 {
		return nil, fmt.Errorf("%s input has shape %v; want rank 3 or more (N, C, spatial...)", o.name(), x)
	}
	g, err := o.attrs.resolve(x[2:], o.attrs.kernel)
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// Infer implements Op.
func (o *poolOp) Infer(in []Value) ([]Value, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("%s needs an input", o.name())
	}
	if in[0].DType != tensor.Float32 && !(o.max && in[0].DType == tensor.Int64) {
		return nil, fmt.Errorf("%s of %s input is not supported", o.name(), in[0].DType)
	}
	g, err := o.poolGeom(in[0].Shape)
	if err != nil {
		return nil, err
	}
	shape := append([]int{in[0].Shape[0], in[0].Shape[1]}, g.outShape()...)
	out := []Value{{DType: in[0].DType, Shape: shape}}
	if o.indices {
		out = append(out, Value{DType: tensor.Int64, Shape: append([]int(nil), shape...)})
	}
	return out, nil
}

// poolWindows holds, for every output position along each spatial axis,
// the range of kernel taps that fall inside the input, and for
// count_include_pad the number inside the padded input.
type poolWindows struct {
	lo, hi, padded [winMaxDims][]int
}

func newPoolWindows(g *winGeom) *poolWindows {
	w := &poolWindows{}
	for a := range winMaxDims {
		n := g.out[a]
		w.lo[a], w.hi[a], w.padded[a] = make([]int, n), make([]int, n), make([]int, n)
		for o := range n {
			start := o*g.s[a] - g.pb[a]
			w.lo[a][o], w.hi[a][o] = winRange(g.k[a], g.d[a], start, g.in[a])
			plo, phi := winRange(g.k[a], g.d[a], o*g.s[a], g.in[a]+g.pb[a]+g.pe[a])
			w.padded[a][o] = phi - plo
		}
	}
	return w
}

// poolVisit calls fn for every output position: its flat index o within
// the plane and its coordinates.
func poolVisit(g *winGeom, fn func(o, od, oh, ow int)) {
	o := 0
	for od := range g.out[0] {
		for oh := range g.out[1] {
			for ow := range g.out[2] {
				fn(o, od, oh, ow)
				o++
			}
		}
	}
}

// poolMaxPlane computes one plane of max pooling, with the flat in-plane
// input index of each maximum (the first in scan order on ties; -1 for a
// window with no input element, whose output is the lowest value).
func poolMaxPlane[T float32 | int64](g *winGeom, w *poolWindows, x []T, y []T, arg []int, lowest T) {
	h, wd := g.in[1], g.in[2]
	poolVisit(g, func(o, od, oh, ow int) {
		best, bi := lowest, -1
		for kd := w.lo[0][od]; kd < w.hi[0][od]; kd++ {
			id := od*g.s[0] - g.pb[0] + kd*g.d[0]
			for kh := w.lo[1][oh]; kh < w.hi[1][oh]; kh++ {
				ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
				row := (id*h + ih) * wd
				for kw := w.lo[2][ow]; kw < w.hi[2][ow]; kw++ {
					iw := ow*g.s[2] - g.pb[2] + kw*g.d[2]
					if v := x[row+iw]; bi < 0 || v > best {
						best, bi = v, row+iw
					}
				}
			}
		}
		y[o] = best
		arg[o] = bi
	})
}

// poolMax2D computes one plane of 2-D max pooling without indices, a row
// of outputs at a time, with vector maxima: the rows under the window are
// reduced into one padded row (-Inf outside the input), whose windows
// are then reduced at every position and kept at the stride. A window
// with no input element gives the lowest value, as in poolMaxPlane. NaN
// inputs are not treated consistently.
func poolMax2D(g *winGeom, x, y []float32, buf *[]float32) {
	ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
	sw, dw, pl := g.s[2], g.d[2], g.pb[2]
	full := (ow-1)*sw + 1        // positions at stride 1
	span := full + (g.k[2]-1)*dw // padded positions they read
	width := max(span, pl+iw)    // padded row
	need := width + full
	if cap(*buf) < need {
		*buf = make([]float32, need)
	}
	pc, h := (*buf)[:width], (*buf)[width:need]
	lowest := float32(math.Inf(-1))
	for oy := range oh {
		yr := y[oy*ow : (oy+1)*ow]
		first := true
		for kh := range g.k[1] {
			r := oy*g.s[1] - g.pb[1] + kh*g.d[1]
			if r < 0 || r >= ih {
				continue
			}
			xr := x[r*iw : (r+1)*iw]
			if first {
				copy(pc[pl:pl+iw], xr)
				first = false
			} else {
				vmax2(pc[pl:pl+iw], xr, pc[pl:pl+iw])
			}
		}
		if first {
			for i := range yr {
				yr[i] = lowest
			}
			continue
		}
		for i := range pc[:pl] {
			pc[i] = lowest
		}
		for i := pl + iw; i < width; i++ {
			pc[i] = lowest
		}
		switch {
		case g.k[2] == 1:
			copy(h, pc[:full])
		default:
			vmax2(h, pc[dw:dw+full], pc[:full])
			for kw := 2; kw < g.k[2]; kw++ {
				vmax2(h, pc[kw*dw:kw*dw+full], h)
			}
		}
		switch sw {
		case 1:
			copy(yr, h[:ow])
		case 2:
			evens(yr, h)
		default:
			for i := range yr {
				yr[i] = h[i*sw]
			}
		}
	}
}

// poolAvgPlane computes one plane of average pooling; dx, when not nil,
// instead receives the backward pass of dy (y unused).
func poolAvgPlane(g *winGeom, w *poolWindows, countPad bool, x, y, dy, dx []float32) {
	h, wd := g.in[1], g.in[2]
	poolVisit(g, func(o, od, oh, ow int) {
		var cnt int
		if countPad {
			cnt = w.padded[0][od] * w.padded[1][oh] * w.padded[2][ow]
		} else {
			cnt = (w.hi[0][od] - w.lo[0][od]) * (w.hi[1][oh] - w.lo[1][oh]) * (w.hi[2][ow] - w.lo[2][ow])
		}
		if cnt == 0 {
			if dx == nil {
				y[o] = 0
			}
			return
		}
		inv := 1 / float32(cnt)
		var gv float32
		if dx != nil {
			gv = dy[o] * inv
		}
		var sum float32
		for kd := w.lo[0][od]; kd < w.hi[0][od]; kd++ {
			id := od*g.s[0] - g.pb[0] + kd*g.d[0]
			for kh := w.lo[1][oh]; kh < w.hi[1][oh]; kh++ {
				ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
				row := (id*h + ih) * wd
				for kw := w.lo[2][ow]; kw < w.hi[2][ow]; kw++ {
					iw := ow*g.s[2] - g.pb[2] + kw*g.d[2]
					if dx != nil {
						dx[row+iw] += gv
					} else {
						sum += x[row+iw]
					}
				}
			}
		}
		if dx == nil {
			y[o] = sum * inv
		}
	})
}

// Forward implements Op.
func (o *poolOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("%s needs an input", o.name())
	}
	x := in[0]
	if x.DType != tensor.Float32 && !(o.max && x.DType == tensor.Int64) {
		return nil, fmt.Errorf("%s of %s input is not supported", o.name(), x.DType)
	}
	g, err := o.poolGeom(x.Shape)
	if err != nil {
		return nil, err
	}
	return o.forward(ctx, x, g, nil), nil
}

// ForwardInto implements Into for float input without the indices output.
// It declines, leaving Forward to report the problem, when the input's
// shape does not pool to len(y) elements.
func (o *poolOp) ForwardInto(ctx *Ctx, in []*tensor.Tensor, y []float32) (bool, error) {
	if o.indices || len(in) < 1 || in[0] == nil || in[0].DType != tensor.Float32 || len(in[0].Shape) < 3 {
		return false, nil
	}
	g, err := o.poolGeom(in[0].Shape)
	if err != nil || in[0].Shape[0]*in[0].Shape[1]*g.outSize() != len(y) {
		return false, nil
	}
	o.forward(ctx, in[0], g, y)
	return true, nil
}

// forward computes the outputs of pooling x, checked, with geometry g;
// the pooled values go into into when it is not nil (float input), which
// has the output's size.
func (o *poolOp) forward(ctx *Ctx, x *tensor.Tensor, g *winGeom, into []float32) []*tensor.Tensor {
	w := newPoolWindows(g)
	shape := append([]int{x.Shape[0], x.Shape[1]}, g.outShape()...)
	var y *tensor.Tensor
	if into != nil {
		y = tensor.FromFloat32(shape, into)
	} else {
		y = tensor.New(x.DType, shape...)
	}
	planes, inSz, p := x.Shape[0]*x.Shape[1], g.inSize(), g.outSize()
	var idx *tensor.Tensor
	if o.indices {
		idx = tensor.New(tensor.Int64, shape...)
	}
	grain := max(1, 1<<14/(p*g.kSize()+1))
	var l *dwLayout // 3x3 max pooling on the depthwise path
	s2 := false     // ... with the stride-2 kernel
	if o.max && x.DType == tensor.Float32 && idx == nil && dw3x3OK(g) {
		s2 = maxPool3s2OK(g) && maxPool3s2Vec(g)
		if s2 || !dwUsePadded {
			l = newDwLayout(g)
		}
	}
	crewFor(ctx, planes, grain, func(lo, hi int) {
		var arg []int
		var rows []float32
		if l != nil {
			if s2 {
				v := getScratch(maxPool3s2Len(g))
				defer putScratch(v)
				for i := range *v {
					(*v)[i] = float32(math.Inf(-1))
				}
				if maxPool3s2(g, x.F[lo*inSz:lo*inSz+inSz], y.F[lo*p:lo*p+p], *v) {
					for pl := lo + 1; pl < hi; pl++ {
						maxPool3s2(g, x.F[pl*inSz:(pl+1)*inSz], y.F[pl*p:(pl+1)*p], *v)
					}
					return
				}
			}
			buf := getScratch(l.scratch(false))
			defer putScratch(buf)
			for pl := lo; pl < hi; pl++ {
				maxPool3x3Plane(l, x.F[pl*inSz:(pl+1)*inSz], y.F[pl*p:(pl+1)*p], *buf)
			}
			return
		}
		if o.max {
			arg = make([]int, p)
		}
		for pl := lo; pl < hi; pl++ {
			switch {
			case !o.max:
				poolAvgPlane(g, w, o.countPad, x.F[pl*inSz:(pl+1)*inSz], y.F[pl*p:(pl+1)*p], nil, nil)
				continue
			case x.DType == tensor.Float32 && idx == nil && g.k[0] == 1 && g.in[0] == 1:
				poolMax2D(g, x.F[pl*inSz:(pl+1)*inSz], y.F[pl*p:(pl+1)*p], &rows)
				continue
			case x.DType == tensor.Float32:
				poolMaxPlane(g, w, x.F[pl*inSz:(pl+1)*inSz], y.F[pl*p:(pl+1)*p], arg, float32(math.Inf(-1)))
			default:
				poolMaxPlane(g, w, x.I[pl*inSz:(pl+1)*inSz], y.I[pl*p:(pl+1)*p], arg, math.MinInt64)
			}
			if idx != nil {
				for i, a := range arg {
					idx.I[pl*p+i] = poolFlatIndex(g, pl, a, o.colMajor)
				}
			}
		}
	})
	out := []*tensor.Tensor{y}
	if idx != nil {
		out = append(out, idx)
	}
	return out
}

// poolFlatIndex converts an in-plane row-major index to the index ONNX
// MaxPool reports: flat over the whole input, with the spatial part in
// column-major order when colMajor.
func poolFlatIndex(g *winGeom, plane, a int, colMajor bool) int64 {
	if a < 0 {
		return -1
	}
	inSz := g.inSize()
	if colMajor {
		ih, iw := a/g.in[2]%g.in[1], a%g.in[2]
		id := a / (g.in[1] * g.in[2])
		a = (iw*g.in[1]+ih)*g.in[0] + id
	}
	return int64(plane*inSz + a)
}

// Backward implements Differentiable for float input.
func (o *poolOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || len(in) == 0 || in[0] == nil || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	x := in[0]
	g, err := o.poolGeom(x.Shape)
	if err != nil {
		return nil, err
	}
	dx := tensor.Zeros(x.Shape...)
	grads[0] = dx
	if len(gradOut) == 0 || gradOut[0] == nil {
		return grads, nil
	}
	dy := gradOut[0].F
	w := newPoolWindows(g)
	planes, inSz, p := x.Shape[0]*x.Shape[1], g.inSize(), g.outSize()
	if len(dy) != planes*p {
		return nil, fmt.Errorf("%s output gradient has %d elements; want %d", o.name(), len(dy), planes*p)
	}
	grain := max(1, 1<<14/(p*g.kSize()+1))
	crewFor(ctx, planes, grain, func(lo, hi int) {
		var arg []int
		var ybuf []float32
		if o.max {
			arg, ybuf = make([]int, p), make([]float32, p)
		}
		for pl := lo; pl < hi; pl++ {
			xp, dxp, dyp := x.F[pl*inSz:(pl+1)*inSz], dx.F[pl*inSz:(pl+1)*inSz], dy[pl*p:(pl+1)*p]
			if !o.max {
				poolAvgPlane(g, w, o.countPad, nil, nil, dyp, dxp)
				continue
			}
			poolMaxPlane(g, w, xp, ybuf, arg, float32(math.Inf(-1)))
			for i, a := range arg {
				if a >= 0 {
					dxp[a] += dyp[i]
				}
			}
		}
	})
	return grads, nil
}

// globalPoolOp is a built GlobalAveragePool or GlobalMaxPool node: a
// reduction over all spatial dimensions keeping them as size 1.
type globalPoolOp struct{ max bool }

func newGlobalPool(isMax bool) Builder {
	return func(n *graph.Node, opset int64) (Op, error) { return globalPoolOp{max: isMax}, nil }
}

func (o globalPoolOp) name() string {
	if o.max {
		return "GlobalMaxPool"
	}
	return "GlobalAveragePool"
}

func (o globalPoolOp) outShape(x []int) ([]int, error) {
	if len(x) < 2 {
		return nil, fmt.Errorf("%s input has shape %v; want rank 2 or more (N, C, spatial...)", o.name(), x)
	}
	out := append([]int(nil), x...)
	for i := 2; i < len(out); i++ {
		out[i] = 1
	}
	return out, nil
}

// Infer implements Op.
func (o globalPoolOp) Infer(in []Value) ([]Value, error) {
	if len(in) < 1 || in[0].DType != tensor.Float32 {
		return nil, fmt.Errorf("%s needs a float input", o.name())
	}
	s, err := o.outShape(in[0].Shape)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: tensor.Float32, Shape: s}}, nil
}

// Forward implements Op.
func (o globalPoolOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) < 1 || in[0] == nil || in[0].DType != tensor.Float32 {
		return nil, fmt.Errorf("%s needs a float input", o.name())
	}
	x := in[0]
	s, err := o.outShape(x.Shape)
	if err != nil {
		return nil, err
	}
	y := tensor.Zeros(s...)
	planes := x.Shape[0] * x.Shape[1]
	inner := tensor.Size(x.Shape[2:])
	crewFor(ctx, planes, max(1, 1<<14/(inner+1)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xp := x.F[pl*inner : (pl+1)*inner]
			if o.max {
				_, y.F[pl] = globalArgMax(xp)
				continue
			}
			y.F[pl] = float32(sum64(xp) / float64(inner))
		}
	})
	return []*tensor.Tensor{y}, nil
}

// sum64Go returns the sum of x in float64, in four interleaved partial
// sums (see sum64).
func sum64Go(x []float32) float64 {
	var a0, a1, a2, a3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a0 += float64(x[i])
		a1 += float64(x[i+1])
		a2 += float64(x[i+2])
		a3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		a0 += float64(x[i])
	}
	return (a0 + a1) + (a2 + a3)
}

// globalArgMax returns the index and value of the first maximum of xp.
func globalArgMax(xp []float32) (int, float32) {
	bi, best := -1, float32(math.Inf(-1))
	for i, v := range xp {
		if bi < 0 || v > best {
			bi, best = i, v
		}
	}
	return bi, best
}

// Backward implements Differentiable.
func (o globalPoolOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || len(in) == 0 || in[0] == nil {
		return grads, nil
	}
	x := in[0]
	dx := tensor.Zeros(x.Shape...)
	grads[0] = dx
	if len(gradOut) == 0 || gradOut[0] == nil {
		return grads, nil
	}
	dy := gradOut[0].F
	planes := x.Shape[0] * x.Shape[1]
	inner := tensor.Size(x.Shape[2:])
	if len(dy) != planes {
		return nil, fmt.Errorf("%s output gradient has %d elements; want %d", o.name(), len(dy), planes)
	}
	crewFor(ctx, planes, max(1, 1<<14/(inner+1)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			dxp := dx.F[pl*inner : (pl+1)*inner]
			if o.max {
				if i, _ := globalArgMax(x.F[pl*inner : (pl+1)*inner]); i >= 0 {
					dxp[i] = dy[pl]
				}
				continue
			}
			gv := dy[pl] / float32(inner)
			for i := range dxp {
				dxp[i] = gv
			}
		}
	})
	return grads, nil
}
