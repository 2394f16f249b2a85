package ops

// Concat and Split (ONNX Concat, Split): joining tensors along an axis and
// cutting one apart.

import (
	"fmt"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("Concat", newConcat)
	Register("Split", newSplit)
}

// ---------------------------------------------------------------------------
// Concat.

type concatOp struct{ axis int64 }

func newConcat(n *graph.Node, opset int64) (Op, error) {
	a := n.Attr("axis")
	if a == nil && opset >= 4 {
		return nil, fmt.Errorf("Concat: axis attribute is required")
	}
	op := &concatOp{axis: 1} // opset 1 defaulted to 1
	if a != nil {
		op.axis = a.I
	}
	return op, nil
}

// outShape checks that the shapes agree off the axis and returns the
// joined shape and the resolved axis.
func (op *concatOp) outShape(shapes [][]int, dtypes []tensor.DType) ([]int, int, error) {
	if len(shapes) == 0 {
		return nil, 0, fmt.Errorf("Concat: no inputs")
	}
	first := shapes[0]
	ax, err := dataAxis(op.axis, len(first))
	if err != nil {
		return nil, 0, fmt.Errorf("Concat: %w", err)
	}
	out := append([]int(nil), first...)
	out[ax] = 0
	for i, s := range shapes {
		if dtypes[i] != dtypes[0] {
			return nil, 0, fmt.Errorf("Concat: input %d is %s, input 0 %s", i, dtypes[i], dtypes[0])
		}
		if len(s) != len(first) {
			return nil, 0, fmt.Errorf("Concat: input %d has shape %v, input 0 %v", i, s, first)
		}
		for d := range s {
			if d != ax && s[d] != first[d] {
				return nil, 0, fmt.Errorf("Concat: input %d has shape %v, input 0 %v (axis %d)", i, s, first, ax)
			}
		}
		out[ax] += s[ax]
	}
	return out, ax, nil
}

func (op *concatOp) Infer(in []Value) ([]Value, error) {
	shapes := make([][]int, len(in))
	dtypes := make([]tensor.DType, len(in))
	for i, v := range in {
		shapes[i], dtypes[i] = v.Shape, v.DType
	}
	s, _, err := op.outShape(shapes, dtypes)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: in[0].DType, Shape: s}}, nil
}

func (op *concatOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	shapes := make([][]int, len(in))
	dtypes := make([]tensor.DType, len(in))
	for i, t := range in {
		if t == nil {
			return nil, fmt.Errorf("Concat: input %d is missing", i)
		}
		shapes[i], dtypes[i] = t.Shape, t.DType
	}
	s, ax, err := op.outShape(shapes, dtypes)
	if err != nil {
		return nil, err
	}
	out := tensor.New(in[0].DType, s...)
	ost := tensor.Strides(s)
	off := 0
	for _, t := range in {
		copyView(ctx, out, off*ost[ax], ost, t, 0, tensor.Strides(t.Shape), t.Shape)
		off += t.Shape[ax]
	}
	return []*tensor.Tensor{out}, nil
}

// Backward hands each input its slab of the output gradient.
func (op *concatOp) Backward(ctx *Ctx, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	ax, err := dataAxis(op.axis, in[0].Rank())
	if err != nil {
		return nil, fmt.Errorf("Concat: %w", err)
	}
	off := 0
	for i, t := range in {
		if wants(need, i) && floatData(t) {
			g[i] = tensor.Zeros(t.Shape...)
			if gout := gradOut[0]; gout != nil {
				ost := tensor.Strides(gout.Shape)
				copyStrided(ctx, g[i].F, 0, tensor.Strides(t.Shape), gout.F, off*ost[ax], ost, t.Shape)
			}
		}
		off += t.Shape[ax]
	}
	return g, nil
}

// ---------------------------------------------------------------------------
// Split (split attribute before opset 13, optional split input since;
// num_outputs attribute since opset 18).

type splitOp struct {
	axis       int64
	attrSplit  []int64
	numOutputs int
}

func newSplit(n *graph.Node, opset int64) (Op, error) {
	op := &splitOp{axis: n.AttrInt("axis", 0), attrSplit: n.AttrInts("split", nil)}
	op.numOutputs = len(n.Outputs)
	if k := n.AttrInt("num_outputs", 0); k != 0 {
		if int(k) != len(n.Outputs) {
			return nil, fmt.Errorf("Split: num_outputs is %d but the node has %d outputs", k, len(n.Outputs))
		}
	}
	if op.numOutputs < 1 {
		return nil, fmt.Errorf("Split: no outputs")
	}
	return op, nil
}

// sizes returns the length of each piece along the axis: as given, else
// ceil(dim/n) for every piece but the last, which takes the rest (an even
// split when n divides dim, as the specification requires before opset
// 18).
func (op *splitOp) sizes(dim int, given []int64) ([]int, error) {
	if given != nil {
		if len(given) != op.numOutputs {
			return nil, fmt.Errorf("Split: %d sizes for %d outputs", len(given), op.numOutputs)
		}
		out, err := dimsFrom(given, "Split: split")
		if err != nil {
			return nil, err
		}
		sum := 0
		for _, v := range out {
			sum += v
		}
		if sum != dim {
			return nil, fmt.Errorf("Split: sizes %v do not add up to %d", given, dim)
		}
		return out, nil
	}
	n := op.numOutputs
	chunk := (dim + n - 1) / n
	out := make([]int, n)
	left := dim
	for i := range out {
		out[i] = min(chunk, left)
		left -= out[i]
	}
	return out, nil
}

func (op *splitOp) shapes(s []int, given []int64) ([][]int, int, error) {
	ax, err := dataAxis(op.axis, len(s))
	if err != nil {
		return nil, 0, fmt.Errorf("Split: %w", err)
	}
	sz, err := op.sizes(s[ax], given)
	if err != nil {
		return nil, 0, err
	}
	out := make([][]int, len(sz))
	for i, n := range sz {
		out[i] = append([]int(nil), s...)
		out[i][ax] = n
	}
	return out, ax, nil
}

func (op *splitOp) Infer(in []Value) ([]Value, error) {
	if err := checkArity("Split", len(in), 1, 2); err != nil {
		return nil, err
	}
	given := op.attrSplit
	if valueGiven(in, 1) {
		var err error
		if given, err = constInput(in, 1, "Split: split"); err != nil {
			return nil, err
		}
	}
	shapes, _, err := op.shapes(in[0].Shape, given)
	if err != nil {
		return nil, err
	}
	out := make([]Value, len(shapes))
	for i, s := range shapes {
		out[i] = Value{DType: in[0].DType, Shape: s}
	}
	return out, nil
}

func (op *splitOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkArity("Split", len(in), 1, 2); err != nil {
		return nil, err
	}
	given := op.attrSplit
	if tensorGiven(in, 1) {
		given = in[1].Int64s()
	}
	x := in[0]
	shapes, ax, err := op.shapes(x.Shape, given)
	if err != nil {
		return nil, err
	}
	xst := tensor.Strides(x.Shape)
	out := make([]*tensor.Tensor, len(shapes))
	off := 0
	for i, s := range shapes {
		out[i] = tensor.New(x.DType, s...)
		copyView(ctx, out[i], 0, tensor.Strides(s), x, off*xst[ax], xst, s)
		off += s[ax]
	}
	return out, nil
}

// Backward joins the output gradients, zeros standing in for nil ones.
func (op *splitOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	x := in[0]
	if !wants(need, 0) || !floatData(x) {
		return g, nil
	}
	ax, err := dataAxis(op.axis, x.Rank())
	if err != nil {
		return nil, fmt.Errorf("Split: %w", err)
	}
	g[0] = tensor.Zeros(x.Shape...)
	xst := tensor.Strides(x.Shape)
	off := 0
	for j, o := range out {
		if j < len(gradOut) && gradOut[j] != nil {
			copyStrided(ctx, g[0].F, off*xst[ax], xst, gradOut[j].F, 0, tensor.Strides(o.Shape), o.Shape)
		}
		off += o.Shape[ax]
	}
	return g, nil
}
