package ops

// Slice (ONNX Slice): starts, ends and axes attributes before opset 10;
// since then inputs starts, ends, axes (optional) and steps (optional),
// which must be constant.

import (
	"fmt"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("Slice", newSlice)
}

type sliceOp struct {
	attrs                 bool // opset < 10: parameters are attributes
	starts, ends, axesArg []int64
}

func newSlice(n *graph.Node, opset int64) (Op, error) {
	op := &sliceOp{}
	if opset < 10 || n.Attr("starts") != nil {
		op.attrs = true
		op.starts = n.AttrInts("starts", nil)
		op.ends = n.AttrInts("ends", nil)
		op.axesArg = n.AttrInts("axes", nil)
		if op.starts == nil || op.ends == nil {
			return nil, fmt.Errorf("Slice: starts and ends attributes are required before opset 10")
		}
	}
	return op, nil
}

// sliceView is a slice resolved against an input shape: the output shape,
// and the view of the input it reads (offset and strides).
type sliceView struct {
	shape   []int
	offset  int
	strides []int
}

// sliceParams are the starts, ends, axes and steps of a slice (axes and
// steps nil when omitted).
type sliceParams struct{ starts, ends, axes, steps []int64 }

// view resolves p against shape s as the specification prescribes:
// negative starts and ends count from the back; then for a positive step
// both are clamped to [0, dim], for a negative step start to [0, dim-1]
// and end to [-1, dim-1]; the length is ceil((end-start)/step), at least 0.
func (p sliceParams) view(s []int) (*sliceView, error) {
	n := len(p.starts)
	if len(p.ends) != n || (p.axes != nil && len(p.axes) != n) || (p.steps != nil && len(p.steps) != n) {
		return nil, fmt.Errorf("Slice: starts %v, ends %v, axes %v and steps %v differ in length", p.starts, p.ends, p.axes, p.steps)
	}
	axes := p.axes
	if axes == nil {
		axes = make([]int64, n)
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	ax, err := dataAxes(axes, len(s))
	if err != nil {
		return nil, fmt.Errorf("Slice: %w", err)
	}
	st := tensor.Strides(s)
	v := &sliceView{shape: append([]int(nil), s...), strides: append([]int(nil), st...)}
	for i, a := range ax {
		step := int64(1)
		if p.steps != nil {
			step = p.steps[i]
		}
		if step == 0 {
			return nil, fmt.Errorf("Slice: step 0 on axis %d", a)
		}
		d := int64(s[a])
		b, e := p.starts[i], p.ends[i]
		if b < 0 {
			b += d
		}
		if e < 0 {
			e += d
		}
		var length int64
		if step > 0 {
			b, e = min(max(b, 0), d), min(max(e, 0), d)
			if e > b {
				length = (e - b + step - 1) / step
			}
		} else {
			b, e = min(max(b, 0), d-1), min(max(e, -1), d-1)
			if b > e {
				length = (b - e - step - 1) / -step
			}
		}
		v.shape[a] = int(length)
		if length > 0 {
			v.offset += int(b) * st[a]
		}
		v.strides[a] = int(step) * st[a]
	}
	return v, nil
}

func (op *sliceOp) Infer(in []Value) ([]Value, error) {
	var p sliceParams
	if op.attrs {
		if err := checkArity("Slice", len(in), 1, 1); err != nil {
			return nil, err
		}
		p = sliceParams{starts: op.starts, ends: op.ends, axes: op.axesArg}
	} else {
		if err := checkArity("Slice", len(in), 3, 5); err != nil {
			return nil, err
		}
		var err error
		if p.starts, err = constInput(in, 1, "Slice: starts"); err != nil {
			return nil, err
		}
		if p.ends, err = constInput(in, 2, "Slice: ends"); err != nil {
			return nil, err
		}
		if valueGiven(in, 3) {
			if p.axes, err = constInput(in, 3, "Slice: axes"); err != nil {
				return nil, err
			}
		}
		if valueGiven(in, 4) {
			if p.steps, err = constInput(in, 4, "Slice: steps"); err != nil {
				return nil, err
			}
		}
	}
	v, err := p.view(in[0].Shape)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: in[0].DType, Shape: v.shape}}, nil
}

// resolve reads the slice parameters from the attributes or the inputs.
func (op *sliceOp) resolve(in []*tensor.Tensor) (*sliceView, error) {
	var p sliceParams
	if op.attrs {
		if err := checkArity("Slice", len(in), 1, 1); err != nil {
			return nil, err
		}
		p = sliceParams{starts: op.starts, ends: op.ends, axes: op.axesArg}
	} else {
		if err := checkArity("Slice", len(in), 3, 5); err != nil {
			return nil, err
		}
		if !tensorGiven(in, 1) || !tensorGiven(in, 2) {
			return nil, fmt.Errorf("Slice: starts and ends inputs are required")
		}
		p.starts, p.ends = in[1].Int64s(), in[2].Int64s()
		if tensorGiven(in, 3) {
			p.axes = in[3].Int64s()
		}
		if tensorGiven(in, 4) {
			p.steps = in[4].Int64s()
		}
	}
	return p.view(in[0].Shape)
}

func (op *sliceOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	v, err := op.resolve(in)
	if err != nil {
		return nil, err
	}
	out := tensor.New(in[0].DType, v.shape...)
	copyView(ctx, out, 0, tensor.Strides(v.shape), in[0], v.offset, v.strides, v.shape)
	return []*tensor.Tensor{out}, nil
}

// Backward scatters the output gradient into a zero tensor through the
// same view (distinct output elements read distinct input elements).
func (op *sliceOp) Backward(ctx *Ctx, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	if !wants(need, 0) || !floatData(in[0]) {
		return g, nil
	}
	v, err := op.resolve(in)
	if err != nil {
		return nil, err
	}
	g[0] = tensor.Zeros(in[0].Shape...)
	if gradOut[0] != nil {
		copyStrided(ctx, g[0].F, v.offset, v.strides, gradOut[0].F, 0, tensor.Strides(v.shape), v.shape)
	}
	return g, nil
}
