package ops

// Gather (ONNX Gather): out[i..., j..., k...] = data[i..., idx[j...], k...]
// with the index tensor taking the place of dimension axis; negative
// indices count from the back.

import (
	"fmt"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("Gather", newGather)
}

type gatherOp struct{ axis int64 }

func newGather(n *graph.Node, opset int64) (Op, error) {
	return &gatherOp{axis: n.AttrInt("axis", 0)}, nil
}

// geometry returns the resolved axis and the output shape
// data.shape[:axis] + indices.shape + data.shape[axis+1:].
func (op *gatherOp) geometry(data, idx []int) (int, []int, error) {
	ax, err := dataAxis(op.axis, len(data))
	if err != nil {
		return 0, nil, fmt.Errorf("Gather: %w", err)
	}
	out := make([]int, 0, len(data)-1+len(idx))
	out = append(out, data[:ax]...)
	out = append(out, idx...)
	out = append(out, data[ax+1:]...)
	return ax, out, nil
}

func (op *gatherOp) Infer(in []Value) ([]Value, error) {
	if err := checkArity("Gather", len(in), 2, 2); err != nil {
		return nil, err
	}
	if in[1].DType != tensor.Int64 {
		return nil, fmt.Errorf("Gather: indices are %s, want integers", in[1].DType)
	}
	_, s, err := op.geometry(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: in[0].DType, Shape: s}}, nil
}

// gatherIndices resolves negative indices against dim n and checks the range.
func gatherIndices(idx *tensor.Tensor, n int) ([]int, error) {
	v := idx.Int64s()
	out := make([]int, len(v))
	for i, k := range v {
		if k < 0 {
			k += int64(n)
		}
		if k < 0 || k >= int64(n) {
			return nil, fmt.Errorf("Gather: index %d out of range for dimension %d", v[i], n)
		}
		out[i] = int(k)
	}
	return out, nil
}

func (op *gatherOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkArity("Gather", len(in), 2, 2); err != nil {
		return nil, err
	}
	x := in[0]
	ax, s, err := op.geometry(x.Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	idx, err := gatherIndices(in[1], x.Shape[ax])
	if err != nil {
		return nil, err
	}
	out := tensor.New(x.DType, s...)
	outer, n, inner := tensor.Size(x.Shape[:ax]), x.Shape[ax], tensor.Size(x.Shape[ax+1:])
	if x.DType == tensor.Int64 {
		gatherRows(ctx, out.I, x.I, idx, outer, n, inner)
	} else {
		gatherRows(ctx, out.F, x.F, idx, outer, n, inner)
	}
	return []*tensor.Tensor{out}, nil
}

// gatherRows copies rows of inner elements: dst[o][j] = src[o][idx[j]]
// for o < outer, with src holding n rows per o.
func gatherRows[T moveElem](ctx *Ctx, dst, src []T, idx []int, outer, n, inner int) {
	m := len(idx)
	parallelFor(ctx, outer*m, max(1, moveGrain/max(inner, 1)), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			o, j := t/m, t%m
			s := (o*n + idx[j]) * inner
			copy(dst[t*inner:(t+1)*inner], src[s:s+inner])
		}
	})
}

// Backward adds each output row's gradient into the data row it came from
// (repeated indices accumulate).
func (op *gatherOp) Backward(_ *Ctx, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	x := in[0]
	if !wants(need, 0) || !floatData(x) {
		return g, nil
	}
	g[0] = tensor.Zeros(x.Shape...)
	gout := gradOut[0]
	if gout == nil {
		return g, nil
	}
	ax, err := dataAxis(op.axis, x.Rank())
	if err != nil {
		return nil, fmt.Errorf("Gather: %w", err)
	}
	idx, err := gatherIndices(in[1], x.Shape[ax])
	if err != nil {
		return nil, err
	}
	outer, n, inner := tensor.Size(x.Shape[:ax]), x.Shape[ax], tensor.Size(x.Shape[ax+1:])
	m := len(idx)
	for o := range outer {
		for j, k := range idx {
			d := g[0].F[(o*n+k)*inner : (o*n+k+1)*inner]
			for e, v := range gout.F[(o*m+j)*inner : (o*m+j+1)*inner] {
				d[e] += v
			}
		}
	}
	return g, nil
}
