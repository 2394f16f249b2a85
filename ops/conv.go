package ops

// Conv, after the ONNX operator specification (Conv-1, -11, -22:
// https://onnx.ai/onnx/operators/onnx__Conv.html). The sliding-window
// geometry here (winAttrs, winGeom) is shared with the pooling operators in
// pool.go.
//
// Layout is NCHW (NCL for 1-D, NCDHW for 3-D). Internally every window
// computation works on three spatial dimensions D, H, W; lower ranks take
// size-1 leading dimensions.
//
// The forward pass lowers each (image, group) pair to one matrix product,
// Y_g = W_g · col(X_g), where col is the im2col unfolding: one row per
// (input channel, kernel tap), one column per output position. A 1x1
// convolution with unit strides and no padding multiplies X directly, and a
// depthwise convolution (one input channel per group) runs a direct kernel.
// The backward pass is the transpose: dcol = W_gᵀ · dY_g folded back by
// col2im for dX, and dW_g = Σ_n dY_g · col(X_g)ᵀ.

import (
	"errors"
	"fmt"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("Conv", newConv)
}

// winMaxDims is the most spatial dimensions the window operators handle.
const winMaxDims = 3

// winAttrs holds the sliding-window attributes of Conv and the pooling
// operators, as written in the node. Empty lists mean the defaults.
type winAttrs struct {
	kernel    []int
	strides   []int
	dilations []int
	pads      []int // begin values for each axis, then end values
	autoPad   string
	ceil      bool
}

// winInts converts an attribute list.
func winInts(v []int64) []int {
	if v == nil {
		return nil
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// parseWinAttrs reads kernel_shape, strides, dilations, pads, auto_pad and
// ceil_mode.
func parseWinAttrs(n *graph.Node) (winAttrs, error) {
	a := winAttrs{
		kernel:    winInts(n.AttrInts("kernel_shape", nil)),
		strides:   winInts(n.AttrInts("strides", nil)),
		dilations: winInts(n.AttrInts("dilations", nil)),
		pads:      winInts(n.AttrInts("pads", nil)),
		autoPad:   n.AttrString("auto_pad", "NOTSET"),
		ceil:      n.AttrInt("ceil_mode", 0) != 0,
	}
	switch a.autoPad {
	case "":
		a.autoPad = "NOTSET"
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
	default:
		return a, fmt.Errorf("unknown auto_pad %q", a.autoPad)
	}
	for _, v := range a.kernel {
		if v < 1 {
			return a, fmt.Errorf("kernel_shape %v has a non-positive size", a.kernel)
		}
	}
	for _, v := range a.strides {
		if v < 1 {
			return a, fmt.Errorf("strides %v has a non-positive stride", a.strides)
		}
	}
	for _, v := range a.dilations {
		if v < 1 {
			return a, fmt.Errorf("dilations %v has a non-positive dilation", a.dilations)
		}
	}
	for _, v := range a.pads {
		if v < 0 {
			return a, fmt.Errorf("pads %v has a negative pad", a.pads)
		}
	}
	return a, nil
}

// winGeom is a resolved window geometry on three spatial dimensions (D, H,
// W), lower ranks right-aligned with size-1 leading dimensions.
type winGeom struct {
	nsp int // spatial dimensions of the tensors (1 to 3)
	in  [winMaxDims]int
	out [winMaxDims]int
	k   [winMaxDims]int
	s   [winMaxDims]int
	d   [winMaxDims]int
	pb  [winMaxDims]int // padding before
	pe  [winMaxDims]int // padding after
}

func (g *winGeom) inSize() int  { return g.in[0] * g.in[1] * g.in[2] }
func (g *winGeom) outSize() int { return g.out[0] * g.out[1] * g.out[2] }
func (g *winGeom) kSize() int   { return g.k[0] * g.k[1] * g.k[2] }

// outShape returns the output spatial dimensions, nsp of them.
func (g *winGeom) outShape() []int {
	return append([]int(nil), g.out[winMaxDims-g.nsp:]...)
}

// identity reports whether the window is a single unpadded tap moving by
// one, so that the output positions are the input positions.
func (g *winGeom) identity() bool {
	for i := range winMaxDims {
		if g.k[i] != 1 || g.s[i] != 1 || g.pb[i] != 0 || g.pe[i] != 0 {
			return false
		}
	}
	return true
}

// resolve applies the attributes to an input of spatial shape inSp with the
// given kernel (the attribute's, or the weights' for Conv). It follows the
// output-shape rules of the ONNX Conv and MaxPool specifications: explicit
// pads with floor (or, with ceil_mode, ceiling) rounding, where a last
// window that would start in the end padding is dropped; SAME_UPPER and
// SAME_LOWER giving ceil(in/stride) outputs with the odd pad at the end or
// the beginning; VALID giving floor((in - window)/stride) + 1.
func (a *winAttrs) resolve(inSp, kernel []int) (winGeom, error) {
	var g winGeom
	nsp := len(inSp)
	if nsp < 1 || nsp > winMaxDims {
		return g, fmt.Errorf("%d spatial dimensions are not supported (1 to %d are)", nsp, winMaxDims)
	}
	if len(kernel) != nsp {
		return g, fmt.Errorf("kernel_shape %v does not match %d spatial dimensions", kernel, nsp)
	}
	if a.strides != nil && len(a.strides) != nsp {
		return g, fmt.Errorf("strides %v do not match %d spatial dimensions", a.strides, nsp)
	}
	if a.dilations != nil && len(a.dilations) != nsp {
		return g, fmt.Errorf("dilations %v do not match %d spatial dimensions", a.dilations, nsp)
	}
	if a.pads != nil && len(a.pads) != 2*nsp && a.autoPad == "NOTSET" {
		return g, fmt.Errorf("pads %v do not match %d spatial dimensions", a.pads, nsp)
	}
	g.nsp = nsp
	off := winMaxDims - nsp
	for i := range winMaxDims {
		g.in[i], g.out[i], g.k[i], g.s[i], g.d[i] = 1, 1, 1, 1, 1
	}
	for i := range nsp {
		j := off + i
		g.in[j], g.k[j] = inSp[i], kernel[i]
		if a.strides != nil {
			g.s[j] = a.strides[i]
		}
		if a.dilations != nil {
			g.d[j] = a.dilations[i]
		}
		if g.in[j] < 1 {
			return g, fmt.Errorf("empty spatial dimension in input shape %v", inSp)
		}
		eff := (g.k[j]-1)*g.d[j] + 1 // extent of the dilated window
		in, s := g.in[j], g.s[j]
		switch a.autoPad {
		case "NOTSET":
			if a.pads != nil {
				g.pb[j], g.pe[j] = a.pads[i], a.pads[nsp+i]
			}
			span := in + g.pb[j] + g.pe[j] - eff
			if span < 0 {
				return g, fmt.Errorf("window of extent %d is larger than the padded input (%d) on spatial axis %d", eff, in+g.pb[j]+g.pe[j], i)
			}
			if a.ceil {
				g.out[j] = (span+s-1)/s + 1
				// The last window must start inside the input or the
				// beginning padding.
				if (g.out[j]-1)*s >= in+g.pb[j] {
					g.out[j]--
				}
			} else {
				g.out[j] = span/s + 1
			}
		case "VALID":
			if in < eff {
				return g, fmt.Errorf("window of extent %d is larger than the input (%d) on spatial axis %d", eff, in, i)
			}
			g.out[j] = (in-eff)/s + 1
		case "SAME_UPPER", "SAME_LOWER":
			g.out[j] = (in + s - 1) / s
			total := max(0, (g.out[j]-1)*s+eff-in)
			if a.autoPad == "SAME_UPPER" {
				g.pb[j] = total / 2
			} else {
				g.pb[j] = total - total/2
			}
			g.pe[j] = total - g.pb[j]
		}
	}
	return g, nil
}

// winRange returns the range [lo, hi) of o in [0, n) for which o*s + off
// lies in [0, size).
func winRange(n, s, off, size int) (lo, hi int) {
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	if size-off > 0 {
		hi = (size-off-1)/s + 1
	}
	hi = min(hi, n)
	lo = min(lo, hi)
	return lo, hi
}

// convOp is a built Conv node.
type convOp struct {
	attrs winAttrs
	group int
}

func newConv(n *graph.Node, opset int64) (Op, error) {
	a, err := parseWinAttrs(n)
	if err != nil {
		return nil, err
	}
	g := n.AttrInt("group", 1)
	if g < 1 {
		return nil, fmt.Errorf("group %d is not positive", g)
	}
	return &convOp{attrs: a, group: int(g)}, nil
}

// convShape is a Conv resolved for concrete input shapes.
type convShape struct {
	n, c, m, group int
	g              winGeom
}

func (s *convShape) cg() int { return s.c / s.group } // input channels per group
func (s *convShape) mg() int { return s.m / s.group } // output channels per group

// kRows is the number of rows of the unfolded input of one group, the
// inner dimension of the forward product.
func (s *convShape) kRows() int { return s.cg() * s.g.kSize() }

// depthwise reports whether each group reads one input channel, which the
// direct kernel handles.
func (s *convShape) depthwise() bool { return s.group > 1 && s.cg() == 1 }

func (s *convShape) outShape() []int {
	return append([]int{s.n, s.m}, s.g.outShape()...)
}

// shape checks the input shapes (bias may be nil) and resolves the geometry.
func (o *convOp) shape(x, w, b []int) (*convShape, error) {
	if len(x) < 3 {
		return nil, fmt.Errorf("input X has shape %v; want rank 3 or more (N, C, spatial...)", x)
	}
	if len(w) != len(x) {
		return nil, fmt.Errorf("weight W has shape %v, input X %v; want the same rank", w, x)
	}
	s := &convShape{n: x[0], c: x[1], m: w[0], group: o.group}
	if s.c%s.group != 0 || s.m%s.group != 0 {
		return nil, fmt.Errorf("group %d does not divide input channels %d and output channels %d", s.group, s.c, s.m)
	}
	if w[1] != s.cg() {
		return nil, fmt.Errorf("weight W has shape %v; want %d input channels per group (X %v, group %d)", w, s.cg(), x, s.group)
	}
	kernel := w[2:]
	if o.attrs.kernel != nil && !tensor.EqualShape(o.attrs.kernel, kernel) {
		return nil, fmt.Errorf("kernel_shape %v does not match weight shape %v", o.attrs.kernel, w)
	}
	if b != nil && (len(b) != 1 || b[0] != s.m) {
		return nil, fmt.Errorf("bias B has shape %v; want [%d]", b, s.m)
	}
	g, err := o.attrs.resolve(x[2:], kernel)
	if err != nil {
		return nil, err
	}
	s.g = g
	return s, nil
}

func convInputsFloat(in []Value) error {
	for i, v := range in {
		if i < 3 && v.DType != 0 && v.DType != tensor.Float32 {
			return fmt.Errorf("input %d is %s; Conv needs float", i, v.DType)
		}
	}
	return nil
}

// Infer implements Op.
func (o *convOp) Infer(in []Value) ([]Value, error) {
	if len(in) < 2 {
		return nil, errors.New("Conv needs inputs X and W")
	}
	if err := convInputsFloat(in); err != nil {
		return nil, err
	}
	var b []int
	if len(in) > 2 && in[2].DType != 0 {
		b = in[2].Shape
		if b == nil {
			b = []int{}
		}
	}
	s, err := o.shape(in[0].Shape, in[1].Shape, b)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: tensor.Float32, Shape: s.outShape()}}, nil
}

// convArgs unpacks and checks Forward/Backward inputs.
func (o *convOp) convArgs(in []*tensor.Tensor) (s *convShape, x, w, b *tensor.Tensor, err error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, nil, nil, nil, errors.New("Conv needs inputs X and W")
	}
	x, w = in[0], in[1]
	if len(in) > 2 {
		b = in[2]
	}
	for i, t := range []*tensor.Tensor{x, w, b} {
		if t != nil && t.DType != tensor.Float32 {
			return nil, nil, nil, nil, fmt.Errorf("input %d is %s; Conv needs float", i, t.DType)
		}
	}
	var bs []int
	if b != nil {
		bs = b.Shape
		if bs == nil {
			bs = []int{}
		}
	}
	s, err = o.shape(x.Shape, w.Shape, bs)
	return s, x, w, b, err
}

// Forward implements Op.
func (o *convOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	s, x, w, b, err := o.convArgs(in)
	if err != nil {
		return nil, err
	}
	y := tensor.Zeros(s.outShape()...)
	var bias []float32
	if b != nil {
		bias = b.F
	}
	convForward(ctx, s, x.F, w.F, bias, y.F)
	return []*tensor.Tensor{y}, nil
}

// Backward implements Differentiable: dX, dW and dB, each only when needed.
func (o *convOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	s, x, w, b, err := o.convArgs(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.Tensor, len(in))
	needs := func(i int) bool { return i < len(need) && need[i] && i < len(in) && in[i] != nil }
	var dy []float32
	if len(gradOut) > 0 && gradOut[0] != nil {
		if !tensor.EqualShape(gradOut[0].Shape, s.outShape()) {
			return nil, fmt.Errorf("output gradient has shape %v; want %v", gradOut[0].Shape, s.outShape())
		}
		dy = gradOut[0].F
	}
	if needs(0) {
		dx := tensor.Zeros(x.Shape...)
		if dy != nil {
			convBackwardData(ctx, s, dy, w.F, dx.F)
		}
		grads[0] = dx
	}
	if needs(1) {
		dw := tensor.Zeros(w.Shape...)
		if dy != nil {
			convBackwardFilter(ctx, s, x.F, dy, dw.F)
		}
		grads[1] = dw
	}
	if needs(2) {
		db := tensor.Zeros(b.Shape...)
		if dy != nil {
			convBackwardBias(s, dy, db.F)
		}
		grads[2] = db
	}
	return grads, nil
}

// convSerial is the context for work already running on its own goroutine.
var convSerial = &Ctx{Threads: 1}

// convTasks runs fn for each (image, group) task t in [0, n). With at least
// as many tasks as threads, the tasks are spread over goroutines, each
// given its own scratch buffer of scratchLen floats and a serial context;
// otherwise they run in turn, sharing one buffer, each free to use all
// threads itself.
func convTasks(ctx *Ctx, n, scratchLen int, fn func(t int, scratch []float32, inner *Ctx)) {
	threads := ctx.threadCount()
	if threads > 1 && n >= threads {
		parallelFor(ctx, n, 1, func(lo, hi int) {
			scratch := make([]float32, scratchLen)
			for t := lo; t < hi; t++ {
				fn(t, scratch, convSerial)
			}
		})
		return
	}
	scratch := make([]float32, scratchLen)
	for t := range n {
		fn(t, scratch, ctx)
	}
}

// convForward computes y = conv(x, w) + bias (bias may be nil) for the
// resolved shape s; y has s.outShape() elements and is overwritten.
func convForward(ctx *Ctx, s *convShape, x, w, bias, y []float32) {
	if s.depthwise() {
		convDepthwiseForward(ctx, s, x, w, bias, y)
		return
	}
	cg, mg, kr := s.cg(), s.mg(), s.kRows()
	inSz, p := s.g.inSize(), s.g.outSize()
	direct := s.g.identity()
	scratch := kr * p
	if direct {
		scratch = 0
	}
	convTasks(ctx, s.n*s.group, scratch, func(t int, col []float32, inner *Ctx) {
		n, g := t/s.group, t%s.group
		xg := x[(n*s.c+g*cg)*inSz:][:cg*inSz]
		wg := w[g*mg*kr:][:mg*kr]
		yg := y[(n*s.m+g*mg)*p:][:mg*p]
		src := xg
		if !direct {
			convIm2col(inner, &s.g, xg, cg, col)
			src = col
		}
		var bg []float32
		if bias != nil {
			bg = bias[g*mg : (g+1)*mg]
		}
		mmParallel(inner, false, false, mg, p, kr, 1, wg, kr, src, p, 0, yg, p, bg)
	})
}

// convIm2col unfolds the cg channels of one image group x into col, a
// (cg*kSize) x outSize row-major matrix: row (c, kd, kh, kw) holds, for
// every output position, the input value under that kernel tap, or zero in
// the padding.
func convIm2col(ctx *Ctx, g *winGeom, x []float32, cg int, col []float32) {
	inSz, p, ks := g.inSize(), g.outSize(), g.kSize()
	parallelFor(ctx, cg, max(1, 1<<15/(ks*p+1)), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			xc := x[c*inSz : (c+1)*inSz]
			r := c * ks
			for kd := range g.k[0] {
				for kh := range g.k[1] {
					for kw := range g.k[2] {
						convUnfoldRow(g, xc, kd, kh, kw, col[r*p:(r+1)*p])
						r++
					}
				}
			}
		}
	})
}

// convUnfoldRow fills one im2col row: tap (kd, kh, kw) of channel xc.
func convUnfoldRow(g *winGeom, xc []float32, kd, kh, kw int, row []float32) {
	oh, ow := g.out[1], g.out[2]
	offD := kd*g.d[0] - g.pb[0]
	offH := kh*g.d[1] - g.pb[1]
	offW := kw*g.d[2] - g.pb[2]
	sw := g.s[2]
	wlo, whi := winRange(ow, sw, offW, g.in[2])
	i := 0
	for od := range g.out[0] {
		id := od*g.s[0] + offD
		if id < 0 || id >= g.in[0] {
			clear(row[i : i+oh*ow])
			i += oh * ow
			continue
		}
		for y := range oh {
			r := row[i : i+ow]
			i += ow
			ih := y*g.s[1] + offH
			if ih < 0 || ih >= g.in[1] {
				clear(r)
				continue
			}
			xr := xc[(id*g.in[1]+ih)*g.in[2]:][:g.in[2]]
			clear(r[:wlo])
			if sw == 1 {
				copy(r[wlo:whi], xr[wlo+offW:whi+offW])
			} else {
				for o := wlo; o < whi; o++ {
					r[o] = xr[o*sw+offW]
				}
			}
			clear(r[whi:])
		}
	}
}

// convCol2im is the transpose of convIm2col: it adds every element of col
// to the input position it was unfolded from, in dx (cg channels).
func convCol2im(ctx *Ctx, g *winGeom, col []float32, cg int, dx []float32) {
	inSz, p, ks := g.inSize(), g.outSize(), g.kSize()
	parallelFor(ctx, cg, max(1, 1<<15/(ks*p+1)), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			dc := dx[c*inSz : (c+1)*inSz]
			r := c * ks
			for kd := range g.k[0] {
				for kh := range g.k[1] {
					for kw := range g.k[2] {
						convFoldRow(g, col[r*p:(r+1)*p], kd, kh, kw, dc)
						r++
					}
				}
			}
		}
	})
}

// convFoldRow adds one im2col row back into channel dc.
func convFoldRow(g *winGeom, row []float32, kd, kh, kw int, dc []float32) {
	oh, ow := g.out[1], g.out[2]
	offD := kd*g.d[0] - g.pb[0]
	offH := kh*g.d[1] - g.pb[1]
	offW := kw*g.d[2] - g.pb[2]
	sw := g.s[2]
	wlo, whi := winRange(ow, sw, offW, g.in[2])
	for od := range g.out[0] {
		id := od*g.s[0] + offD
		if id < 0 || id >= g.in[0] {
			continue
		}
		for y := range oh {
			ih := y*g.s[1] + offH
			if ih < 0 || ih >= g.in[1] {
				continue
			}
			r := row[(od*oh+y)*ow:][:ow]
			xr := dc[(id*g.in[1]+ih)*g.in[2]:][:g.in[2]]
			if sw == 1 {
				xs := xr[wlo+offW : whi+offW]
				for o, v := range r[wlo:whi] {
					xs[o] += v
				}
			} else {
				for o := wlo; o < whi; o++ {
					xr[o*sw+offW] += r[o]
				}
			}
		}
	}
}

// convBackwardData computes dx (zeroed, s.n*s.c*inSize elements) from the
// output gradient dy and the weights.
func convBackwardData(ctx *Ctx, s *convShape, dy, w, dx []float32) {
	if s.depthwise() {
		convDepthwiseBackwardData(ctx, s, dy, w, dx)
		return
	}
	cg, mg, kr := s.cg(), s.mg(), s.kRows()
	inSz, p := s.g.inSize(), s.g.outSize()
	direct := s.g.identity()
	scratch := kr * p
	if direct {
		scratch = 0
	}
	convTasks(ctx, s.n*s.group, scratch, func(t int, dcol []float32, inner *Ctx) {
		n, g := t/s.group, t%s.group
		dyg := dy[(n*s.m+g*mg)*p:][:mg*p]
		wg := w[g*mg*kr:][:mg*kr]
		dxg := dx[(n*s.c+g*cg)*inSz:][:cg*inSz]
		if direct {
			mmParallel(inner, true, false, kr, p, mg, 1, wg, kr, dyg, p, 0, dxg, p, nil)
			return
		}
		mmParallel(inner, true, false, kr, p, mg, 1, wg, kr, dyg, p, 0, dcol, p, nil)
		convCol2im(inner, &s.g, dcol, cg, dxg)
	})
}

// convBackwardFilter computes dw (s.m*kRows elements, overwritten) from the
// input and the output gradient, summing over the batch.
func convBackwardFilter(ctx *Ctx, s *convShape, x, dy, dw []float32) {
	if s.depthwise() {
		convDepthwiseBackwardFilter(ctx, s, x, dy, dw)
		return
	}
	cg, mg, kr := s.cg(), s.mg(), s.kRows()
	inSz, p := s.g.inSize(), s.g.outSize()
	direct := s.g.identity()
	scratch := kr * p
	if direct {
		scratch = 0
	}
	// Tasks are groups, each summing over the batch, so that no two
	// goroutines write the same dW.
	convTasks(ctx, s.group, scratch, func(g int, col []float32, inner *Ctx) {
		dwg := dw[g*mg*kr:][:mg*kr]
		for n := range s.n {
			xg := x[(n*s.c+g*cg)*inSz:][:cg*inSz]
			dyg := dy[(n*s.m+g*mg)*p:][:mg*p]
			src := xg
			if !direct {
				convIm2col(inner, &s.g, xg, cg, col)
				src = col
			}
			var beta float32
			if n > 0 {
				beta = 1
			}
			mmParallel(inner, false, true, mg, kr, p, 1, dyg, p, src, p, beta, dwg, kr, nil)
		}
	})
}

// convBackwardBias sums dy over the batch and the output positions.
func convBackwardBias(s *convShape, dy, db []float32) {
	p := s.g.outSize()
	for m := range s.m {
		var acc float64
		for n := range s.n {
			for _, v := range dy[(n*s.m+m)*p:][:p] {
				acc += float64(v)
			}
		}
		db[m] = float32(acc)
	}
}

// convDepthwiseForward is the direct kernel for one input channel per
// group: output channel m reads input channel m/mg only.
func convDepthwiseForward(ctx *Ctx, s *convShape, x, w, bias, y []float32) {
	inSz, p, ks, mg := s.g.inSize(), s.g.outSize(), s.g.kSize(), s.mg()
	parallelFor(ctx, s.n*s.m, max(1, 1<<14/(ks*p+1)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			n, m := pl/s.m, pl%s.m
			xc := x[(n*s.c+m/mg)*inSz:][:inSz]
			yp := y[pl*p : (pl+1)*p]
			if bias != nil {
				for i := range yp {
					yp[i] = bias[m]
				}
			} else {
				clear(yp)
			}
			convTapLoop(&s.g, func(tap, offD, offH, offW int) {
				convDepthwiseTap(&s.g, w[m*ks+tap], xc, yp, offD, offH, offW)
			})
		}
	})
}

// convTapLoop calls fn for each kernel tap with its index and the input
// offsets of the tap relative to the stride grid.
func convTapLoop(g *winGeom, fn func(tap, offD, offH, offW int)) {
	tap := 0
	for kd := range g.k[0] {
		for kh := range g.k[1] {
			for kw := range g.k[2] {
				fn(tap, kd*g.d[0]-g.pb[0], kh*g.d[1]-g.pb[1], kw*g.d[2]-g.pb[2])
				tap++
			}
		}
	}
}

// convDepthwiseTap adds wv times the input under one tap to every output
// position of plane yp.
func convDepthwiseTap(g *winGeom, wv float32, xc, yp []float32, offD, offH, offW int) {
	oh, ow, sw := g.out[1], g.out[2], g.s[2]
	wlo, whi := winRange(ow, sw, offW, g.in[2])
	dlo, dhi := winRange(g.out[0], g.s[0], offD, g.in[0])
	hlo, hhi := winRange(oh, g.s[1], offH, g.in[1])
	for od := dlo; od < dhi; od++ {
		id := od*g.s[0] + offD
		for y := hlo; y < hhi; y++ {
			ih := y*g.s[1] + offH
			yr := yp[(od*oh+y)*ow:][:ow]
			xr := xc[(id*g.in[1]+ih)*g.in[2]:][:g.in[2]]
			if sw == 1 {
				xs := xr[wlo+offW : whi+offW]
				ys := yr[wlo:whi]
				for i, v := range xs {
					ys[i] += wv * v
				}
			} else {
				for o := wlo; o < whi; o++ {
					yr[o] += wv * xr[o*sw+offW]
				}
			}
		}
	}
}

// convDepthwiseBackwardData scatters dy back through the depthwise kernel;
// work is split by input plane so that no two goroutines write one.
func convDepthwiseBackwardData(ctx *Ctx, s *convShape, dy, w, dx []float32) {
	inSz, p, ks, mg := s.g.inSize(), s.g.outSize(), s.g.kSize(), s.mg()
	g := &s.g
	oh, ow, sw := g.out[1], g.out[2], g.s[2]
	parallelFor(ctx, s.n*s.c, max(1, 1<<14/(mg*ks*p+1)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			n, c := pl/s.c, pl%s.c
			dc := dx[pl*inSz : (pl+1)*inSz]
			for m := c * mg; m < (c+1)*mg; m++ {
				dyp := dy[(n*s.m+m)*p:][:p]
				convTapLoop(g, func(tap, offD, offH, offW int) {
					wv := w[m*ks+tap]
					wlo, whi := winRange(ow, sw, offW, g.in[2])
					dlo, dhi := winRange(g.out[0], g.s[0], offD, g.in[0])
					hlo, hhi := winRange(oh, g.s[1], offH, g.in[1])
					for od := dlo; od < dhi; od++ {
						id := od*g.s[0] + offD
						for y := hlo; y < hhi; y++ {
							ih := y*g.s[1] + offH
							yr := dyp[(od*oh+y)*ow:][:ow]
							xr := dc[(id*g.in[1]+ih)*g.in[2]:][:g.in[2]]
							for o := wlo; o < whi; o++ {
								xr[o*sw+offW] += wv * yr[o]
							}
						}
					}
				})
			}
		}
	})
}

// convDepthwiseBackwardFilter computes the depthwise weight gradient, one
// output channel per task, summing over the batch.
func convDepthwiseBackwardFilter(ctx *Ctx, s *convShape, x, dy, dw []float32) {
	inSz, p, ks, mg := s.g.inSize(), s.g.outSize(), s.g.kSize(), s.mg()
	g := &s.g
	oh, ow, sw := g.out[1], g.out[2], g.s[2]
	parallelFor(ctx, s.m, max(1, 1<<14/(s.n*ks*p+1)), func(lo, hi int) {
		for m := lo; m < hi; m++ {
			convTapLoop(g, func(tap, offD, offH, offW int) {
				wlo, whi := winRange(ow, sw, offW, g.in[2])
				dlo, dhi := winRange(g.out[0], g.s[0], offD, g.in[0])
				hlo, hhi := winRange(oh, g.s[1], offH, g.in[1])
				var acc float32
				for n := range s.n {
					xc := x[(n*s.c+m/mg)*inSz:][:inSz]
					dyp := dy[(n*s.m+m)*p:][:p]
					for od := dlo; od < dhi; od++ {
						id := od*g.s[0] + offD
						for y := hlo; y < hhi; y++ {
							ih := y*g.s[1] + offH
							yr := dyp[(od*oh+y)*ow:][:ow]
							xr := xc[(id*g.in[1]+ih)*g.in[2]:][:g.in[2]]
							for o := wlo; o < whi; o++ {
								acc += yr[o] * xr[o*sw+offW]
							}
						}
					}
				}
				dw[m*ks+tap] = acc
			})
		}
	})
}
