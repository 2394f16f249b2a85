package ops

// Shape and reshape operators (ONNX Shape, Size, Reshape, Flatten, Squeeze,
// Unsqueeze, Expand, ConstantOfShape, Tile), and the helpers shared by the
// data-movement operators of this package: axis normalisation, reading
// constant integer inputs, and strided copies between views.
//
// Semantics follow the ONNX operator specification
// (https://github.com/onnx/onnx/blob/main/docs/Operators.md).

import (
	"fmt"
	"math"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("Shape", newShape)
	Register("Size", newSize)
	Register("Reshape", newReshape)
	Register("Flatten", newFlatten)
	Register("Squeeze", newSqueeze)
	Register("Unsqueeze", newUnsqueeze)
	Register("Expand", newExpand)
	Register("ConstantOfShape", newConstantOfShape)
	Register("Tile", newTile)
}

// ---------------------------------------------------------------------------
// Shared helpers.

// dataAxis resolves a possibly negative axis against rank, accepting
// [-rank, rank).
func dataAxis(axis int64, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return int(a), nil
}

// dataAxes resolves a list of axes against rank, rejecting repeats.
func dataAxes(axes []int64, rank int) ([]int, error) {
	out := make([]int, len(axes))
	seen := make([]bool, rank)
	for i, a := range axes {
		ax, err := dataAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if seen[ax] {
			return nil, fmt.Errorf("axis %d repeated in %v", a, axes)
		}
		seen[ax] = true
		out[i] = ax
	}
	return out, nil
}

// valueGiven reports whether an optional input Value was given.
func valueGiven(in []Value, i int) bool { return i < len(in) && in[i].DType != 0 }

// tensorGiven reports whether an optional input tensor was given.
func tensorGiven(in []*tensor.Tensor, i int) bool { return i < len(in) && in[i] != nil }

// constInput returns the values of input i, which must be constant at
// planning time; what names the input in the error.
func constInput(in []Value, i int, what string) ([]int64, error) {
	if !valueGiven(in, i) {
		return nil, fmt.Errorf("%s input is missing", what)
	}
	if in[i].Const == nil {
		return nil, fmt.Errorf("%s input must be a constant (computed from initializers or shapes)", what)
	}
	return in[i].Const.Int64s(), nil
}

// checkArity checks the number of inputs given to Infer or Forward.
func checkArity(op string, n, lo, hi int) error {
	if n < lo || n > hi {
		if lo == hi {
			return fmt.Errorf("%s: got %d inputs, want %d", op, n, lo)
		}
		return fmt.Errorf("%s: got %d inputs, want %d to %d", op, n, lo, hi)
	}
	return nil
}

// dimsFrom converts int64 dims, rejecting negatives and absurd sizes.
func dimsFrom(v []int64, what string) ([]int, error) {
	out := make([]int, len(v))
	for i, d := range v {
		if d < 0 || d > math.MaxInt32 {
			return nil, fmt.Errorf("%s: invalid dimension %d in %v", what, d, v)
		}
		out[i] = int(d)
	}
	return out, nil
}

// vecInt64 returns a 1-D int64 tensor of the given values.
func vecInt64(v []int64) *tensor.Tensor {
	return tensor.FromInt64([]int{len(v)}, v)
}

// dimsInt64 returns a shape as int64 values.
func dimsInt64(shape []int) []int64 {
	out := make([]int64, len(shape))
	for i, d := range shape {
		out[i] = int64(d)
	}
	return out
}

// floatData reports whether t holds float32 data.
func floatData(t *tensor.Tensor) bool { return t != nil && t.DType == tensor.Float32 }

// zeroGrads returns, for each needed float input, a zero gradient of
// its shape: the backward pass of an op whose outputs do not depend
// differentiably on its inputs.
func zeroGrads(in []*tensor.Tensor, need []bool) []*tensor.Tensor {
	g := make([]*tensor.Tensor, len(in))
	for i, x := range in {
		if i < len(need) && need[i] && floatData(x) {
			g[i] = tensor.Zeros(x.Shape...)
		}
	}
	return g
}

// wants reports need[i], treating a short need as false.
func wants(need []bool, i int) bool { return i < len(need) && need[i] }

// reshapedGrad returns a copy of gradOut with the shape of x, or zeros when
// it is nil: the backward pass of every pure reshape. It copies so that the
// caller may accumulate into the result without touching gradOut.
func reshapedGrad(x, g *tensor.Tensor) *tensor.Tensor {
	if g == nil {
		return tensor.Zeros(x.Shape...)
	}
	return tensor.FromFloat32(x.Shape, append([]float32(nil), g.F...))
}

// ---------------------------------------------------------------------------
// Strided copies. A view of a flat slice is an offset plus one stride per
// dimension of a shape; strides may be zero (broadcast) or negative
// (reversed slices).

// moveElem is the element type of tensor data.
type moveElem interface{ float32 | int64 }

// moveGrain is the least number of elements per goroutine in a copy.
const moveGrain = 1 << 15

// coalesceDims drops unit dimensions and merges neighbouring dimensions that
// are laid out contiguously in every view, so that copies run over as few
// and as long rows as possible. It always returns at least one dimension.
func coalesceDims(shape []int, strides ...[]int) ([]int, [][]int) {
	shp := make([]int, 0, len(shape))
	st := make([][]int, len(strides))
	for k := range st {
		st[k] = make([]int, 0, len(shape))
	}
	for d, n := range shape {
		if n == 1 {
			continue
		}
		if m := len(shp); m > 0 {
			merge := true
			for k, s := range strides {
				if st[k][m-1] != s[d]*n {
					merge = false
					break
				}
			}
			if merge {
				shp[m-1] *= n
				for k, s := range strides {
					st[k][m-1] = s[d]
				}
				continue
			}
		}
		shp = append(shp, n)
		for k, s := range strides {
			st[k] = append(st[k], s[d])
		}
	}
	if len(shp) == 0 {
		shp = append(shp, 1)
		for k := range st {
			st[k] = append(st[k], 0)
		}
	}
	return shp, st
}

// copyStrided copies the view (src, sOff, sStr) of the given shape into the
// view (dst, dOff, dStr). The destination view must not alias itself (no
// zero strides on dimensions longer than one); rows are then copied
// concurrently under ctx.
func copyStrided[T moveElem](ctx *Ctx, dst []T, dOff int, dStr []int, src []T, sOff int, sStr []int, shape []int) {
	if tensor.Size(shape) == 0 {
		return
	}
	shp, st := coalesceDims(shape, dStr, sStr)
	ds, ss := st[0], st[1]
	r := len(shp)
	inner, di, si := shp[r-1], ds[r-1], ss[r-1]
	outer := tensor.Size(shp[:r-1])
	parallelFor(ctx, outer, max(1, moveGrain/inner), func(lo, hi int) {
		idx := make([]int, r-1)
		do, so := dOff, sOff
		rem := lo
		for k := r - 2; k >= 0; k-- {
			idx[k] = rem % shp[k]
			rem /= shp[k]
			do += idx[k] * ds[k]
			so += idx[k] * ss[k]
		}
		for range hi - lo {
			switch {
			case di == 1 && si == 1:
				copy(dst[do:do+inner], src[so:so+inner])
			case si == 0 && di == 1:
				d := dst[do : do+inner]
				d[0] = src[so]
				for k := 1; k < inner; k *= 2 {
					copy(d[k:], d[:k])
				}
			case si == 0:
				v := src[so]
				for j := range inner {
					dst[do+j*di] = v
				}
			default:
				for j := range inner {
					dst[do+j*di] = src[so+j*si]
				}
			}
			for k := r - 2; k >= 0; k-- {
				idx[k]++
				do += ds[k]
				so += ss[k]
				if idx[k] < shp[k] {
					break
				}
				do -= ds[k] * shp[k]
				so -= ss[k] * shp[k]
				idx[k] = 0
			}
		}
	})
}

// addStrided adds the view (src, sOff, sStr) into the view (dst, dOff,
// dStr), which may alias itself through zero strides (the adjoint of a
// broadcast). It runs on one goroutine.
func addStrided(dst []float32, dOff int, dStr []int, src []float32, sOff int, sStr []int, shape []int) {
	if tensor.Size(shape) == 0 {
		return
	}
	shp, st := coalesceDims(shape, dStr, sStr)
	ds, ss := st[0], st[1]
	r := len(shp)
	inner, di, si := shp[r-1], ds[r-1], ss[r-1]
	idx := make([]int, r-1)
	do, so := dOff, sOff
	for range tensor.Size(shp[:r-1]) {
		switch {
		case di == 0:
			var s float32
			for j := range inner {
				s += src[so+j*si]
			}
			dst[do] += s
		case di == 1 && si == 1:
			d := dst[do : do+inner]
			for j, v := range src[so : so+inner] {
				d[j] += v
			}
		default:
			for j := range inner {
				dst[do+j*di] += src[so+j*si]
			}
		}
		for k := r - 2; k >= 0; k-- {
			idx[k]++
			do += ds[k]
			so += ss[k]
			if idx[k] < shp[k] {
				break
			}
			do -= ds[k] * shp[k]
			so -= ss[k] * shp[k]
			idx[k] = 0
		}
	}
}

// copyView copies a view of src (either dtype) into a view of dst of the
// same dtype.
func copyView(ctx *Ctx, dst *tensor.Tensor, dOff int, dStr []int, src *tensor.Tensor, sOff int, sStr []int, shape []int) {
	if src.DType == tensor.Int64 {
		copyStrided(ctx, dst.I, dOff, dStr, src.I, sOff, sStr, shape)
		return
	}
	copyStrided(ctx, dst.F, dOff, dStr, src.F, sOff, sStr, shape)
}

// ---------------------------------------------------------------------------
// Shape (opset 1; start and end since opset 15).

type shapeOp struct{ start, end int64 }

func newShape(n *graph.Node, opset int64) (Op, error) {
	op := &shapeOp{start: n.AttrInt("start", 0), end: math.MaxInt64}
	if a := n.Attr("end"); a != nil {
		op.end = a.I
	}
	return op, nil
}

// dims returns the slice of shape that Shape reports: negative start and
// end count from the back and both are clamped to [0, rank].
func (op *shapeOp) dims(shape []int) []int64 {
	r := int64(len(shape))
	clamp := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	s, e := clamp(op.start), clamp(op.end)
	if e < s {
		e = s
	}
	return dimsInt64(shape[s:e])
}

func (op *shapeOp) Infer(in []Value) ([]Value, error) {
	if err := checkArity("Shape", len(in), 1, 1); err != nil {
		return nil, err
	}
	d := op.dims(in[0].Shape)
	return []Value{{DType: tensor.Int64, Shape: []int{len(d)}, Const: vecInt64(d)}}, nil
}

func (op *shapeOp) Forward(_ *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkArity("Shape", len(in), 1, 1); err != nil {
		return nil, err
	}
	return []*tensor.Tensor{vecInt64(op.dims(in[0].Shape))}, nil
}

func (op *shapeOp) Backward(_ *Ctx, in, _, _ []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return zeroGrads(in, need), nil
}

// ---------------------------------------------------------------------------
// Size.

type sizeOp struct{}

func newSize(*graph.Node, int64) (Op, error) { return sizeOp{}, nil }

func int64Scalar(v int64) *tensor.Tensor {
	return &tensor.Tensor{DType: tensor.Int64, Shape: []int{}, I: []int64{v}}
}

func (sizeOp) Infer(in []Value) ([]Value, error) {
	if err := checkArity("Size", len(in), 1, 1); err != nil {
		return nil, err
	}
	return []Value{{DType: tensor.Int64, Shape: []int{}, Const: int64Scalar(int64(tensor.Size(in[0].Shape)))}}, nil
}

func (sizeOp) Forward(_ *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkArity("Size", len(in), 1, 1); err != nil {
		return nil, err
	}
	return []*tensor.Tensor{int64Scalar(int64(in[0].Len()))}, nil
}

func (sizeOp) Backward(_ *Ctx, in, _, _ []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return zeroGrads(in, need), nil
}

// ---------------------------------------------------------------------------
// Reshape (shape attribute in opset 1, shape input since opset 5,
// allowzero since opset 14).

type reshapeOp struct {
	attrShape []int64 // opset 1
	allowZero bool
}

func newReshape(n *graph.Node, opset int64) (Op, error) {
	return &reshapeOp{attrShape: n.AttrInts("shape", nil), allowZero: n.AttrInt("allowzero", 0) != 0}, nil
}

// outShape resolves the requested shape against the input shape: 0 copies
// the input dimension (unless allowzero) and one -1 takes what is left.
func (op *reshapeOp) outShape(inShape []int, req []int64) ([]int, error) {
	out := make([]int, len(req))
	infer := -1
	known := 1
	for i, d := range req {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("Reshape: more than one -1 in %v", req)
			}
			infer = i
			continue
		case d == 0 && !op.allowZero:
			if i >= len(inShape) {
				return nil, fmt.Errorf("Reshape: 0 at position %d of %v copies a dimension the input %v lacks", i, req, inShape)
			}
			out[i] = inShape[i]
		case d < 0 || d > math.MaxInt32:
			return nil, fmt.Errorf("Reshape: invalid dimension %d in %v", d, req)
		default:
			out[i] = int(d)
		}
		known *= out[i]
	}
	total := tensor.Size(inShape)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("Reshape: cannot reshape %v to %v", inShape, req)
		}
		out[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("Reshape: cannot reshape %v (%d elements) to %v", inShape, total, req)
	}
	return out, nil
}

// request returns the requested shape: the shape input when given (Infer
// reads it from in, Forward from tin), else the opset-1 attribute.
func (op *reshapeOp) request(in []Value, tin []*tensor.Tensor) ([]int64, error) {
	switch {
	case tin != nil && tensorGiven(tin, 1):
		return tin[1].Int64s(), nil
	case tin == nil && valueGiven(in, 1):
		return constInput(in, 1, "Reshape: shape")
	case op.attrShape != nil:
		return op.attrShape, nil
	}
	return nil, fmt.Errorf("Reshape: shape input is missing")
}

func (op *reshapeOp) Infer(in []Value) ([]Value, error) {
	if err := checkArity("Reshape", len(in), 1, 2); err != nil {
		return nil, err
	}
	req, err := op.request(in, nil)
	if err != nil {
		return nil, err
	}
	s, err := op.outShape(in[0].Shape, req)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: in[0].DType, Shape: s}}, nil
}

func (op *reshapeOp) Forward(_ *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkArity("Reshape", len(in), 1, 2); err != nil {
		return nil, err
	}
	req, err := op.request(nil, in)
	if err != nil {
		return nil, err
	}
	s, err := op.outShape(in[0].Shape, req)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{in[0].Reshaped(s...)}, nil
}

func (op *reshapeOp) Backward(_ *Ctx, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	if wants(need, 0) && floatData(in[0]) {
		g[0] = reshapedGrad(in[0], gradOut[0])
	}
	return g, nil
}

// ---------------------------------------------------------------------------
// Flatten.

type flattenOp struct{ axis int64 }

func newFlatten(n *graph.Node, opset int64) (Op, error) {
	return &flattenOp{axis: n.AttrInt("axis", 1)}, nil
}

func (op *flattenOp) outShape(s []int) ([]int, error) {
	r := len(s)
	a := op.axis
	if a < 0 {
		a += int64(r)
	}
	if a < 0 || a > int64(r) {
		return nil, fmt.Errorf("Flatten: axis %d out of range for rank %d", op.axis, r)
	}
	return []int{tensor.Size(s[:a]), tensor.Size(s[a:])}, nil
}

func (op *flattenOp) Infer(in []Value) ([]Value, error) {
	if err := checkArity("Flatten", len(in), 1, 1); err != nil {
		return nil, err
	}
	s, err := op.outShape(in[0].Shape)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: in[0].DType, Shape: s}}, nil
}

func (op *flattenOp) Forward(_ *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkArity("Flatten", len(in), 1, 1); err != nil {
		return nil, err
	}
	s, err := op.outShape(in[0].Shape)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{in[0].Reshaped(s...)}, nil
}

func (op *flattenOp) Backward(_ *Ctx, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	if wants(need, 0) && floatData(in[0]) {
		g[0] = reshapedGrad(in[0], gradOut[0])
	}
	return g, nil
}

// ---------------------------------------------------------------------------
// Squeeze and Unsqueeze (axes attribute before opset 13, input since).

type squeezeOp struct {
	unsqueeze bool
	attrAxes  []int64
}

func newSqueeze(n *graph.Node, opset int64) (Op, error) {
	return &squeezeOp{attrAxes: n.AttrInts("axes", nil)}, nil
}

func newUnsqueeze(n *graph.Node, opset int64) (Op, error) {
	return &squeezeOp{unsqueeze: true, attrAxes: n.AttrInts("axes", nil)}, nil
}

func (op *squeezeOp) name() string {
	if op.unsqueeze {
		return "Unsqueeze"
	}
	return "Squeeze"
}

// axes returns the axes attribute or input; nil means none given.
func (op *squeezeOp) axes(in []Value, tin []*tensor.Tensor) ([]int64, error) {
	if op.attrAxes != nil {
		return op.attrAxes, nil
	}
	if tin != nil {
		if tensorGiven(tin, 1) {
			return tin[1].Int64s(), nil
		}
	} else if valueGiven(in, 1) {
		return constInput(in, 1, op.name()+": axes")
	}
	if op.unsqueeze {
		return nil, fmt.Errorf("Unsqueeze: axes are missing")
	}
	return nil, nil
}

func (op *squeezeOp) outShape(s []int, axes []int64) ([]int, error) {
	if op.unsqueeze {
		r := len(s) + len(axes)
		ax, err := dataAxes(axes, r)
		if err != nil {
			return nil, fmt.Errorf("Unsqueeze: %w", err)
		}
		ins := make([]bool, r)
		for _, a := range ax {
			ins[a] = true
		}
		out := make([]int, 0, r)
		j := 0
		for i := range r {
			if ins[i] {
				out = append(out, 1)
			} else {
				out = append(out, s[j])
				j++
			}
		}
		return out, nil
	}
	drop := make([]bool, len(s))
	if axes == nil {
		for i, d := range s {
			drop[i] = d == 1
		}
	} else {
		ax, err := dataAxes(axes, len(s))
		if err != nil {
			return nil, fmt.Errorf("Squeeze: %w", err)
		}
		for _, a := range ax {
			if s[a] != 1 {
				return nil, fmt.Errorf("Squeeze: dimension %d of %v is not 1", a, s)
			}
			drop[a] = true
		}
	}
	out := make([]int, 0, len(s))
	for i, d := range s {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return out, nil
}

func (op *squeezeOp) Infer(in []Value) ([]Value, error) {
	if err := checkArity(op.name(), len(in), 1, 2); err != nil {
		return nil, err
	}
	axes, err := op.axes(in, nil)
	if err != nil {
		return nil, err
	}
	s, err := op.outShape(in[0].Shape, axes)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: in[0].DType, Shape: s}}, nil
}

func (op *squeezeOp) Forward(_ *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkArity(op.name(), len(in), 1, 2); err != nil {
		return nil, err
	}
	axes, err := op.axes(nil, in)
	if err != nil {
		return nil, err
	}
	s, err := op.outShape(in[0].Shape, axes)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{in[0].Reshaped(s...)}, nil
}

func (op *squeezeOp) Backward(_ *Ctx, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	if wants(need, 0) && floatData(in[0]) {
		g[0] = reshapedGrad(in[0], gradOut[0])
	}
	return g, nil
}

// ---------------------------------------------------------------------------
// Expand: numpy-style (bidirectional) broadcast of the input to a shape.

type expandOp struct{}

func newExpand(*graph.Node, int64) (Op, error) { return expandOp{}, nil }

func expandShape(s []int, req []int64) ([]int, error) {
	r, err := dimsFrom(req, "Expand: shape")
	if err != nil {
		return nil, err
	}
	out, err := tensor.BroadcastShape(s, r)
	if err != nil {
		return nil, fmt.Errorf("Expand: %w", err)
	}
	return out, nil
}

// expandStrides returns the strides of shape s, right-aligned to the
// rank of out, with zero strides where s is broadcast.
func expandStrides(s, out []int) []int {
	st := make([]int, len(out))
	ss := tensor.Strides(s)
	off := len(out) - len(s)
	for i := range s {
		if s[i] != 1 || out[off+i] == 1 {
			st[off+i] = ss[i]
		}
	}
	return st
}

func (expandOp) Infer(in []Value) ([]Value, error) {
	if err := checkArity("Expand", len(in), 2, 2); err != nil {
		return nil, err
	}
	req, err := constInput(in, 1, "Expand: shape")
	if err != nil {
		return nil, err
	}
	s, err := expandShape(in[0].Shape, req)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: in[0].DType, Shape: s}}, nil
}

func (expandOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkArity("Expand", len(in), 2, 2); err != nil {
		return nil, err
	}
	s, err := expandShape(in[0].Shape, in[1].Int64s())
	if err != nil {
		return nil, err
	}
	out := tensor.New(in[0].DType, s...)
	copyView(ctx, out, 0, tensor.Strides(s), in[0], 0, expandStrides(in[0].Shape, s), s)
	return []*tensor.Tensor{out}, nil
}

func (expandOp) Backward(_ *Ctx, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	if wants(need, 0) && floatData(in[0]) {
		g[0] = tensor.Zeros(in[0].Shape...)
		if gradOut[0] != nil {
			s := gradOut[0].Shape
			addStrided(g[0].F, 0, expandStrides(in[0].Shape, s), gradOut[0].F, 0, tensor.Strides(s), s)
		}
	}
	return g, nil
}

// ---------------------------------------------------------------------------
// ConstantOfShape.

type constantOfShapeOp struct{ value *tensor.Tensor }

func newConstantOfShape(n *graph.Node, opset int64) (Op, error) {
	v := n.AttrTensor("value")
	if v == nil {
		v = tensor.Scalar(0)
	} else if v.Len() != 1 {
		return nil, fmt.Errorf("ConstantOfShape: value holds %d elements, want 1", v.Len())
	}
	return &constantOfShapeOp{value: v}, nil
}

func (op *constantOfShapeOp) Infer(in []Value) ([]Value, error) {
	if err := checkArity("ConstantOfShape", len(in), 1, 1); err != nil {
		return nil, err
	}
	req, err := constInput(in, 0, "ConstantOfShape: shape")
	if err != nil {
		return nil, err
	}
	s, err := dimsFrom(req, "ConstantOfShape")
	if err != nil {
		return nil, err
	}
	return []Value{{DType: op.value.DType, Shape: s}}, nil
}

func (op *constantOfShapeOp) Forward(_ *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkArity("ConstantOfShape", len(in), 1, 1); err != nil {
		return nil, err
	}
	s, err := dimsFrom(in[0].Int64s(), "ConstantOfShape")
	if err != nil {
		return nil, err
	}
	out := tensor.New(op.value.DType, s...)
	if op.value.DType == tensor.Int64 {
		if v := op.value.I[0]; v != 0 {
			for i := range out.I {
				out.I[i] = v
			}
		}
	} else if v := op.value.F[0]; v != 0 {
		for i := range out.F {
			out.F[i] = v
		}
	}
	return []*tensor.Tensor{out}, nil
}

func (op *constantOfShapeOp) Backward(_ *Ctx, in, _, _ []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return zeroGrads(in, need), nil
}

// ---------------------------------------------------------------------------
// Tile.

type tileOp struct{}

func newTile(*graph.Node, int64) (Op, error) { return tileOp{}, nil }

func tileShape(s []int, reps []int64) ([]int, error) {
	if len(reps) != len(s) {
		return nil, fmt.Errorf("Tile: %d repeats for rank %d", len(reps), len(s))
	}
	r, err := dimsFrom(reps, "Tile: repeats")
	if err != nil {
		return nil, err
	}
	out := make([]int, len(s))
	for i := range s {
		out[i] = s[i] * r[i]
	}
	return out, nil
}

// tileView describes the tiled output as a view of the input: each
// dimension d of size n repeated r times becomes the pair (r, n) with
// strides (0, stride_d).
func tileView(s []int, reps []int64) (shape, strides []int) {
	st := tensor.Strides(s)
	for i := range s {
		shape = append(shape, int(reps[i]), s[i])
		strides = append(strides, 0, st[i])
	}
	return shape, strides
}

func (tileOp) Infer(in []Value) ([]Value, error) {
	if err := checkArity("Tile", len(in), 2, 2); err != nil {
		return nil, err
	}
	reps, err := constInput(in, 1, "Tile: repeats")
	if err != nil {
		return nil, err
	}
	s, err := tileShape(in[0].Shape, reps)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: in[0].DType, Shape: s}}, nil
}

func (tileOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkArity("Tile", len(in), 2, 2); err != nil {
		return nil, err
	}
	reps := in[1].Int64s()
	s, err := tileShape(in[0].Shape, reps)
	if err != nil {
		return nil, err
	}
	out := tensor.New(in[0].DType, s...)
	vs, vst := tileView(in[0].Shape, reps)
	copyView(ctx, out, 0, tensor.Strides(vs), in[0], 0, vst, vs)
	return []*tensor.Tensor{out}, nil
}

func (tileOp) Backward(_ *Ctx, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	if wants(need, 0) && floatData(in[0]) {
		g[0] = tensor.Zeros(in[0].Shape...)
		if gradOut[0] != nil {
			vs, vst := tileView(in[0].Shape, in[1].Int64s())
			addStrided(g[0].F, 0, vst, gradOut[0].F, 0, tensor.Strides(vs), vs)
		}
	}
	return g, nil
}
