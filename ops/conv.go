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
	"math"

	"github.com/gradcam/gradcam/gemm"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/bufpool"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("Conv", newConv)
}

// negInf and posInf are the bounds of an epilogue that does not clamp.
var (
	negInf = float32(math.Inf(-1))
	posInf = float32(math.Inf(1))
)

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
	var ep convEpilogue
	if b != nil {
		ep.bias = b.F
	}
	convForward(ctx, s, x.F, w.F, y.F, &ep)
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
		crewFor(ctx, n, 1, func(lo, hi int) {
			buf := getScratch(scratchLen)
			for t := lo; t < hi; t++ {
				fn(t, *buf, convSerial)
			}
			putScratch(buf)
		})
		return
	}
	buf := getScratch(scratchLen)
	for t := range n {
		fn(t, *buf, ctx)
	}
	putScratch(buf)
}

// scratchPool recycles the im2col buffers of convolutions (several MiB
// each for the early layers of an ImageNet network) and the other
// per-call buffers of the kernels, so that running a model again
// allocates none.
var scratchPool bufpool.Pool

// getScratch returns a buffer of n floats with arbitrary contents; give it
// back with putScratch.
func getScratch(n int) *[]float32 { return scratchPool.Get(n) }

func putScratch(b *[]float32) { scratchPool.Put(b) }

// convEpilogue is what a forward convolution does to each output value v
// of channel m after the product: v += bias[m]; v += residual (the value
// at the same index); v = min(max(v, lo), hi) when clamp. The residual
// may be the output buffer itself (the sum is then taken in place).
// packed, when set, holds each group's weights packed for
// gemm.SgemmPackedA.
type convEpilogue struct {
	bias     []float32
	residual []float32
	clamp    bool
	lo, hi   float32
	packed   []*gemm.PackedA
}

// product computes C = W_g * B followed by the epilogue for group g:
// W_g (mg x kr, from w or ep.packed), B (kr x n, row stride ldb) and C
// (mg x n, row stride ldc, read when beta is 1). With more than one
// thread in ctx it splits C over the crew itself, by columns (multiples of
// the kernel's 32-wide tiles) when there are enough of them to share
// evenly, else by rows (whole packed slivers when the weights are packed),
// and calls gemm single-threaded on each block (see crewSpin).
func (ep *convEpilogue) product(ctx *Ctx, w []float32, g, mg, kr, n int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	m0 := g * mg
	block := func(r0, r1, c0, c1 int) {
		opt := gemm.Options{Threads: 1, Clamp: ep.clamp, Min: ep.lo, Max: ep.hi}
		if ep.bias != nil {
			opt.RowBias = ep.bias[m0+r0 : m0+r1]
		}
		if ep.packed != nil {
			pa := ep.packed[g]
			if r0 > 0 || r1 < mg {
				pa = pa.Rows(r0, r1)
			}
			gemm.SgemmPackedA(pa, false, c1-c0, 1, b[c0:], ldb, beta, c[r0*ldc+c0:], ldc, &opt)
			return
		}
		gemm.SgemmWith(false, false, r1-r0, c1-c0, kr, 1, w[(m0+r0)*kr:(m0+r1)*kr], kr, b[c0:], ldb, beta, c[r0*ldc+c0:], ldc, &opt)
	}
	threads := ctx.threadCount()
	if threads <= 1 || mg*n*kr < 1<<19 {
		block(0, mg, 0, n)
		return
	}
	switch {
	case ep.packed != nil && mg <= narrowColsRows && n >= 128 && (n+31)/32 < 4*threads:
		// Few rows and few columns: equal column shares (gemm's narrow
		// kernels take the odd last columns), each thread packing only
		// its share of B; the weights are small enough for both.
		per := (n + threads - 1) / threads
		parts := (n + per - 1) / per
		crew.do(parts, threads-1, func(i int) {
			block(0, mg, i*per, min((i+1)*per, n))
		})
	case ep.packed != nil && (n+31)/32 < 4*threads:
		// Rows, in whole packed slivers: with few columns the weights
		// are most of what the product reads (megabytes in the deep
		// layers), and each thread then streams only its share.
		parts, bounds := alignedParts(mg, threads, ep.packed[g].RowAlign())
		crew.do(parts, threads-1, func(i int) {
			if r0, r1 := bounds(i); r0 < r1 {
				block(r0, r1, 0, n)
			}
		})
	case ep.packed != nil || (n+31)/32 >= 4*threads:
		// Columns, in whole 32-wide tiles (enough of them to share
		// evenly).
		per := ((n+threads-1)/threads + 31) / 32 * 32
		parts := (n + per - 1) / per
		crew.do(parts, threads-1, func(i int) {
			block(0, mg, i*per, min((i+1)*per, n))
		})
	default:
		per := (mg + threads - 1) / threads
		parts := (mg + per - 1) / per
		crew.do(parts, threads-1, func(i int) {
			block(i*per, min((i+1)*per, mg), 0, n)
		})
	}
}

// narrowColsRows is the most rows of a narrow product (under four 32-column
// tiles a thread) that is split over the threads by columns rather than by
// rows: with few rows, a cut in whole slivers of 14 is uneven (64 rows went
// 28 + 36) and every thread packed all of B. MobileNetV2's 1x1
// convolutions of 64 and 96 outputs on 14x14 (196 columns, 98 a thread):
// forward 3.90-4.02 -> 3.82-3.87 ms, two threads, medians of 60 runs in
// four alternating rounds (one outlier round at 4.19 left out); splitting
// its 384- and 576-row ones so too was slower (3.94-4.06 ms).
const narrowColsRows = 128

// sameStart reports whether a and b start at the same element.
func sameStart(a, b []float32) bool {
	return len(a) > 0 && len(b) > 0 && &a[0] == &b[0]
}

// convForward computes y = conv(x, w) followed by the epilogue ep for the
// resolved shape s; y has s.outShape() elements and is overwritten (its
// prior contents are read only when it is also ep.residual).
//
// A 1x1 convolution with unit strides multiplies the weights by the input
// directly. Otherwise the output positions are cut into column chunks
// small enough that the unfolded input of a chunk (im2col) stays in the L2
// cache while the product reads it; each goroutine takes chunks in turn,
// unfolds and multiplies them on its own.
func convForward(ctx *Ctx, s *convShape, x, w, y []float32, ep *convEpilogue) {
	if s.depthwise() {
		convDepthwiseForward(ctx, s, x, w, y, ep)
		return
	}
	cg, mg, kr := s.cg(), s.mg(), s.kRows()
	inSz, p := s.g.inSize(), s.g.outSize()
	// product multiplies group g of image n for output columns [j0, j1)
	// of C, reading B (kr rows) at b with row stride ldb.
	product := func(inner *Ctx, n, g, j0, j1 int, b []float32, ldb int) {
		yg := y[(n*s.m+g*mg)*p:][:mg*p]
		var beta float32
		if ep.residual != nil {
			rg := ep.residual[(n*s.m+g*mg)*p:][:mg*p]
			if !sameStart(rg, yg) {
				for i := range mg {
					copy(yg[i*p+j0:i*p+j1], rg[i*p+j0:i*p+j1])
				}
			}
			beta = 1
		}
		ep.product(inner, w, g, mg, kr, j1-j0, b, ldb, beta, yg[j0:], p)
	}
	if s.n > 1 && p < convAcrossBelow && (p < convAcrossIdentityBelow || !s.g.identity()) {
		convForwardAcross(ctx, s, x, w, y, ep)
		return
	}
	if ep.packed != nil && convRowsOK(s) {
		convForwardRows(ctx, s, x, y, ep)
		return
	}
	if s.g.identity() {
		convTasks(ctx, s.n*s.group, 0, func(t int, _ []float32, inner *Ctx) {
			n, g := t/s.group, t%s.group
			product(inner, n, g, 0, p, x[(n*s.c+g*cg)*inSz:][:cg*inSz], p)
		})
		return
	}
	threads := ctx.threadCount()
	chunks, nb := convChunks(kr, p, threads, s.n*s.group)
	tasks := s.n * s.group * chunks
	if tasks < threads || p < convChunkMin*threads && s.n*s.group < threads {
		// Too little to share out by columns: unfold everything, and
		// let the product use every thread.
		buf := getScratch(kr * p)
		defer putScratch(buf)
		for t := range s.n * s.group {
			n, g := t/s.group, t%s.group
			convIm2col(ctx, &s.g, x[(n*s.c+g*cg)*inSz:][:cg*inSz], cg, *buf)
			product(ctx, n, g, 0, p, *buf, p)
		}
		return
	}
	take := counter()
	crewFor(ctx, threads, 1, func(lo, hi int) {
		buf := getScratch(kr*nb + convPhaseLen(&s.g))
		defer putScratch(buf)
		col := (*buf)[:kr*nb]
		sc := unfoldScratch{phases: (*buf)[kr*nb:]}
		for t := take(); t < tasks; t = take() {
			n, g := t/chunks/s.group, t/chunks%s.group
			j0, j1 := convChunkRange(t%chunks, chunks, p)
			xg := x[(n*s.c+g*cg)*inSz:][:cg*inSz]
			convUnfoldCols(&s.g, xg, cg, j0, j1, col, j1-j0, 0, &sc)
			product(convSerial, n, g, j0, j1, col, j1-j0)
		}
	})
}

// convAcrossBelow is the output size (positions per image) below which a
// batch is multiplied across images (convForwardAcross), and
// convAcrossIdentityBelow the one for 1x1 stride-1 convolutions, which
// otherwise multiply each image in place: for them the copies in and out
// of the chunks cost more than reading the weights once per image saves
// down to 14x14 (ResNet50's stage 3 in batches of 16, two threads: its
// 1x1 convolutions 88 -> 75 ms a batch), though not at 7x7 (stage 4: 45
// -> 46 ms). convChunkMin is the least number of output positions per
// thread for which one image is cut into column chunks. Variables for the
// tests.
var (
	convAcrossBelow         = 256
	convAcrossIdentityBelow = 128
	convChunkMin            = 128
)

// convChunkCols is the least number of columns of a chunk, even when its
// unfolded input then outgrows the L2 cache: with fewer, each product
// streams its weights (megabytes in the deep layers) for too little work,
// and the matrix kernel reads them unpacked.
const convChunkCols = 384

// convForwardAcross is convForward for a batch of small images: the
// columns of all the images (n*p of them) are cut into chunks that may
// span images, so that each product has enough columns to fill the
// micro-kernel's tiles and reads the weights once per chunk rather than
// once per image (the late layers of a network hold megabytes of weights
// for 7x7 outputs). Each chunk is unfolded, multiplied into a scratch
// matrix with the epilogue, and scattered to its images.
func convForwardAcross(ctx *Ctx, s *convShape, x, w, y []float32, ep *convEpilogue) {
	cg, mg, kr := s.cg(), s.mg(), s.kRows()
	inSz, p := s.g.inSize(), s.g.outSize()
	total := s.n * p
	threads := ctx.threadCount()
	most := max(convChunkCols, (1<<18)/max(kr, 1))
	chunks := (total + most - 1) / most
	chunks = (chunks + threads - 1) / threads * threads
	nb := max(1, (total+chunks-1)/chunks)
	chunks = (total + nb - 1) / nb
	tasks := s.group * chunks
	// pieces calls fn for each image's share [p0, p1) of columns
	// [j0, j1), at offset off within the chunk.
	pieces := func(j0, j1 int, fn func(n, p0, p1, off int)) {
		for j := j0; j < j1; {
			n, p0 := j/p, j%p
			p1 := min(p, p0+j1-j)
			fn(n, p0, p1, j-j0)
			j += p1 - p0
		}
	}
	take := counter()
	crewFor(ctx, min(threads, tasks), 1, func(lo, hi int) {
		colBuf, cBuf := getScratch(kr*nb+convPhaseLen(&s.g)), getScratch(mg*nb)
		defer putScratch(colBuf)
		defer putScratch(cBuf)
		col, cb := (*colBuf)[:kr*nb], *cBuf
		sc := unfoldScratch{phases: (*colBuf)[kr*nb:]}
		for t := take(); t < tasks; t = take() {
			g, ch := t/chunks, t%chunks
			j0 := ch * nb
			j1 := min(j0+nb, total)
			wd := j1 - j0
			var beta float32
			pieces(j0, j1, func(n, p0, p1, off int) {
				xg := x[(n*s.c+g*cg)*inSz:][:cg*inSz]
				convUnfoldCols(&s.g, xg, cg, p0, p1, col, wd, off, &sc)
				if ep.residual != nil {
					for m := range mg {
						src := ep.residual[(n*s.m+g*mg+m)*p:]
						copy(cb[m*wd+off:m*wd+off+p1-p0], src[p0:p1])
					}
				}
			})
			if ep.residual != nil {
				beta = 1
			}
			ep.product(convSerial, w, g, mg, kr, wd, col, wd, beta, cb, wd)
			pieces(j0, j1, func(n, p0, p1, off int) {
				for m := range mg {
					dst := y[(n*s.m+g*mg+m)*p:]
					copy(dst[p0:p1], cb[m*wd+off:m*wd+off+p1-p0])
				}
			})
		}
	})
}

// convChunks returns how many chunks the im2col path cuts p output
// columns into, and the most columns one holds (see convChunkRange). An
// unfolded chunk takes at most about 1 MiB, to stay in the L2 cache,
// unless that leaves fewer than convChunkCols columns; with fewer (image,
// group) products than threads, the chunks are as many as a multiple of
// the threads, and convChunksPerThread a thread where the columns allow.
func convChunks(kr, p, threads, products int) (chunks, widest int) {
	const budget = 1 << 18 // floats
	most := max(convChunkCols, budget/max(kr, 1))
	chunks = (p + most - 1) / most
	if products < threads {
		if threads > 1 {
			chunks = max(chunks, min(convChunksPerThread*threads, p/convChunkCols))
		}
		chunks = (chunks + threads - 1) / threads * threads
	}
	tiles := (p + convTile - 1) / convTile
	chunks = max(1, min(chunks, tiles))
	return chunks, min((tiles+chunks-1)/chunks*convTile, p)
}

// convChunksPerThread is how many chunks a thread the im2col path aims
// for when one image is shared out: the threads take them in turn, so
// that a thread that joins late, or runs slower, does less. MobileNetV2's
// stem (3x3 stride 2, 27 rows, 112x112 outputs) went in one chunk a
// thread, and its caller waited 50 us a run for the other; in four it
// waits 10 us, and the layer takes 0.24 ms instead of 0.27-0.28 (two
// threads, fastest of 300 runs).
const convChunksPerThread = 4

// convTile is the width of the AVX-512 matrix kernel's tiles; a last
// partial tile in a chunk runs at about half the speed of a whole one.
const convTile = 32

// convChunkRange returns the columns [j0, j1) of chunk ch of chunks: the
// chunks share the tiles of convTile columns as evenly as they can (the
// last one holds the partial tile), so that a chunk ends inside a tile
// only at the end of the row (ResNet50's 3x3 stride-2 convolution on
// 56x56, one thread: 103.6 -> 107.3 GFLOP/s against equal chunks).
func convChunkRange(ch, chunks, p int) (j0, j1 int) {
	tiles := (p + convTile - 1) / convTile
	return ch * tiles / chunks * convTile, min((ch+1)*tiles/chunks*convTile, p)
}

// unfoldScratch is the scratch of convUnfoldCols, kept by its caller
// across chunks: phases holds convPhaseLen floats, taken from the end of
// the caller's unfolding buffer (a buffer of its own, from the scratch
// pool or not, took the peak RSS of a ResNet50 Grad-CAM bench from 238
// to 255 MiB, or made a run of MobileNetV2 allocate 3.7 MB).
type unfoldScratch struct {
	segs   []colSeg
	phases []float32
}

// colSeg is a run of output columns of one chunk within one output row:
// columns [x0, x1) of row oy of depth slice od, stored from index i of
// the chunk's rows.
type colSeg struct{ od, oy, x0, x1, i int }

// convSegments cuts output columns [j0, j1) into row segments.
func convSegments(g *winGeom, j0, j1 int, segs []colSeg) []colSeg {
	oh, ow := g.out[1], g.out[2]
	plane := oh * ow
	segs = segs[:0]
	i := 0
	for j := j0; j < j1; {
		od, rem := j/plane, j%plane
		oy, x0 := rem/ow, rem%ow
		x1 := min(ow, x0+j1-j)
		segs = append(segs, colSeg{od, oy, x0, x1, i})
		i += x1 - x0
		j += x1 - x0
	}
	return segs
}

// convUnfoldCols unfolds output columns [j0, j1) of the cg channels of x
// into columns [off, off+j1-j0) of col, a (cg*kSize)-row row-major matrix
// with row stride ld: the columns [j0, j1) of what convIm2col makes.
func convUnfoldCols(g *winGeom, x []float32, cg, j0, j1 int, col []float32, ld, off int, sc *unfoldScratch) {
	inSz, w := g.inSize(), j1-j0
	if convLinear(g) {
		convUnfoldLinear(g, x, cg, j0, j1, col, ld, off)
		return
	}
	if convPhased(g) {
		convUnfoldPhased(g, x, cg, j0, j1, col, ld, off, sc)
		return
	}
	segs := &sc.segs
	*segs = convSegments(g, j0, j1, *segs)
	r := 0
	for c := range cg {
		xc := x[c*inSz : (c+1)*inSz]
		for kd := range g.k[0] {
			for kh := range g.k[1] {
				for kw := range g.k[2] {
					convUnfoldSegs(g, xc, kd, kh, kw, *segs, col[r*ld+off:r*ld+off+w])
					r++
				}
			}
		}
	}
}

// convLinear reports whether convUnfoldLinear applies to g.
func convLinear(g *winGeom) bool {
	return g.out[0] == 1 && g.in[0] == 1 && g.s[1] == 1 && g.s[2] == 1 && g.out[2] == g.in[2]
}

// convUnfoldLinear is convUnfoldCols for a 2-D window with unit strides
// whose output rows are as wide as the input rows (a "same" convolution,
// and 1x1 ones): output column j of tap (kh, kw) is then input element
// j + offH*iw + offW, so that each tap of a chunk is one copy, after which
// the positions that fall in the padding are zeroed (whole rows above and
// below the input, the first or last columns of each row at the sides).
func convUnfoldLinear(g *winGeom, x []float32, cg, j0, j1 int, col []float32, ld, off int) {
	ih, iw := g.in[1], g.in[2]
	inSz, w := g.inSize(), j1-j0
	r := 0
	for c := range cg {
		xc := x[c*inSz : (c+1)*inSz]
		for kh := range g.k[1] {
			for kw := range g.k[2] {
				unfoldShifted(col[r*ld+off:r*ld+off+w], xc, ih, iw, g.out[1], kh*g.d[1]-g.pb[1], kw*g.d[2]-g.pb[2], j0)
				r++
			}
		}
	}
}

// unfoldShifted fills row with columns [j0, j0+len(row)) of one tap of a
// stride-1 window over the plane xc of ih rows of iw: output (oy, ox) of
// oh rows of iw, numbered oy*iw + ox, reads xc at (oy+offH, ox+offW), or
// zero outside the plane. Output j reads element j + offH*iw + offW, so
// that the tap is one copy, after which the positions that fall outside
// are zeroed (whole rows above and below, the first or last columns of
// each row at the sides).
func unfoldShifted(row, xc []float32, ih, iw, oh, offH, offW, j0 int) {
	j1 := j0 + len(row)
	inSz := ih * iw
	hlo, hhi := winRange(oh, 1, offH, ih)
	wlo, whi := winRange(iw, 1, offW, iw)
	// Rows of the chunk inside the input: [a, b) in columns.
	a, b := max(j0, hlo*iw), min(j1, hhi*iw)
	if a >= b || wlo >= whi {
		clear(row)
		return
	}
	clear(row[:a-j0])
	clear(row[b-j0:])
	base := offH*iw + offW
	// Copy [a, b) shifted by base, clipped to the plane.
	s1 := min(b+base, inSz)
	s0 := min(max(a+base, 0), s1)
	s1 = max(s1, s0)
	clear(row[a-j0 : s0-base-j0])
	copy(row[s0-base-j0:s1-base-j0], xc[s0:s1])
	clear(row[s1-base-j0 : b-j0])
	if wlo == 0 && whi == iw {
		return
	}
	// Zero the columns in the side padding.
	for j := a - a%iw; j < b; j += iw {
		for x := max(j, a); x < min(j+wlo, b); x++ {
			row[x-j0] = 0
		}
		for x := max(j+whi, a); x < min(j+iw, b); x++ {
			row[x-j0] = 0
		}
	}
}

// convPhaseLen returns the floats of the phase planes of one channel
// that convUnfoldPhased takes for g, 0 when it does not apply.
func convPhaseLen(g *winGeom) int {
	if !convPhased(g) {
		return 0
	}
	return 4 * ((g.in[1] + 1) / 2) * g.out[2]
}

// convPhased reports whether convUnfoldPhased applies to g: a 2-D window
// of more than one tap with strides 2 and unit dilations, whose output
// rows are at least as long as the input's phases (half its rows,
// rounded up), as with the usual padding.
func convPhased(g *winGeom) bool {
	return g.out[0] == 1 && g.in[0] == 1 && g.k[0] == 1 && g.s[1] == 2 && g.s[2] == 2 &&
		g.d[1] == 1 && g.d[2] == 1 && g.k[1]*g.k[2] > 1 && (g.in[2]+1)/2 <= g.out[2]
}

// convUnfoldPhased is convUnfoldCols for the windows of convPhased. The
// input plane of a channel is first split into its four phases, (a, b)
// holding the elements at even (a, b = 0) or odd rows and columns, each
// a plane of ceil(ih/2) rows of ow columns (zero past the input). Tap
// (kh, kw) of output (oy, ox) reads input row 2*oy + u, u = kh - pt, that
// is row oy + u>>1 of row phase u&1, and likewise for columns: a stride-1
// tap of one phase plane, unfolded by unfoldShifted. Only the phases some
// tap reads, and only the rows the chunk reads, are split, into sc.
func convUnfoldPhased(g *winGeom, x []float32, cg, j0, j1 int, col []float32, ld, off int, sc *unfoldScratch) {
	ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
	inSz, w := g.inSize(), j1-j0
	ph := (ih + 1) / 2
	plane := ph * ow
	phases := sc.phases[:4*plane]
	// The phases the taps read, and the rows of the chunk's reads.
	var used [4]bool
	for kh := range g.k[1] {
		for kw := range g.k[2] {
			u, v := kh-g.pb[1], kw-g.pb[2]
			used[(u&1)*2+v&1] = true
		}
	}
	dy0, dy1 := (-g.pb[1])>>1, (g.k[1]-1-g.pb[1])>>1
	r0 := max(0, j0/ow+dy0)
	r1 := min(ph, (j1-1)/ow+dy1+1)
	for c := range cg {
		xc := x[c*inSz : (c+1)*inSz]
		for q, ok := range used {
			if !ok {
				continue
			}
			a, b := q>>1, q&1
			pq := phases[q*plane : (q+1)*plane]
			nb := (iw - b + 1) / 2 // columns of the phase inside the input
			in := r0               // rows [r0, in) read the input
			if nb > 0 {
				in = max(r0, min(r1, (ih-a+1)/2))
			}
			if in > r0 {
				evensRows(pq[r0*ow:], xc[(2*r0+a)*iw+b:], in-r0, nb, ow, 2*iw)
			}
			for r := r0; r < r1; r++ {
				d := pq[r*ow : (r+1)*ow]
				if r >= in {
					clear(d)
				} else {
					clear(d[nb:])
				}
			}
		}
		r := c * g.k[1] * g.k[2]
		for kh := range g.k[1] {
			for kw := range g.k[2] {
				u, v := kh-g.pb[1], kw-g.pb[2]
				q := (u&1)*2 + v&1
				unfoldShifted(col[r*ld+off:r*ld+off+w], phases[q*plane:(q+1)*plane], ph, ow, oh, u>>1, v>>1, j0)
				r++
			}
		}
	}
}

// convUnfoldSegs fills row with the segments segs of the im2col row of
// tap (kd, kh, kw) of channel xc.
func convUnfoldSegs(g *winGeom, xc []float32, kd, kh, kw int, segs []colSeg, row []float32) {
	offD := kd*g.d[0] - g.pb[0]
	offH := kh*g.d[1] - g.pb[1]
	offW := kw*g.d[2] - g.pb[2]
	sw := g.s[2]
	wlo, whi := winRange(g.out[2], sw, offW, g.in[2])
	for _, sg := range segs {
		seg := row[sg.i : sg.i+sg.x1-sg.x0]
		id := sg.od*g.s[0] + offD
		ih := sg.oy*g.s[1] + offH
		a, b := max(sg.x0, wlo), min(sg.x1, whi)
		if id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1] || a >= b {
			clear(seg)
			continue
		}
		xr := xc[(id*g.in[1]+ih)*g.in[2]:][:g.in[2]]
		for o := range seg[:a-sg.x0] {
			seg[o] = 0
		}
		d := seg[a-sg.x0 : b-sg.x0]
		if sw == 1 {
			src := xr[a+offW : b+offW]
			if len(d) >= 32 {
				copy(d, src)
			} else {
				for o, v := range src[:len(d)] {
					d[o] = v
				}
			}
		} else if sw == 2 {
			evens(d, xr[2*a+offW:])
		} else {
			for o := range d {
				d[o] = xr[(a+o)*sw+offW]
			}
		}
		tail := seg[b-sg.x0:]
		for o := range tail {
			tail[o] = 0
		}
	}
}

// convIm2col unfolds the cg channels of one image group x into col, a
// (cg*kSize) x outSize row-major matrix: row (c, kd, kh, kw) holds, for
// every output position, the input value under that kernel tap, or zero in
// the padding.
func convIm2col(ctx *Ctx, g *winGeom, x []float32, cg int, col []float32) {
	inSz, p, ks := g.inSize(), g.outSize(), g.kSize()
	linear := convLinear(g)
	crewFor(ctx, cg, max(1, 1<<15/(ks*p+1)), func(lo, hi int) {
		if linear {
			convUnfoldLinear(g, x[lo*inSz:hi*inSz], hi-lo, 0, p, col[lo*ks*p:], p, 0)
			return
		}
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
			switch sw {
			case 1:
				copy(r[wlo:whi], xr[wlo+offW:whi+offW])
			case 2:
				if wlo < whi {
					evens(r[wlo:whi], xr[2*wlo+offW:])
				}
			default:
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
	crewFor(ctx, cg, max(1, 1<<15/(ks*p+1)), func(lo, hi int) {
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
