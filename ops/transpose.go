package ops

// Transpose (ONNX Transpose): out.shape[i] = in.shape[perm[i]]; perm
// defaults to reversing the dimensions.

import (
	"fmt"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("Transpose", newTranspose)
}

type transposeOp struct{ perm []int64 } // nil: reverse

func newTranspose(n *graph.Node, opset int64) (Op, error) {
	return &transposeOp{perm: n.AttrInts("perm", nil)}, nil
}

// resolve returns the permutation for a tensor of the given rank.
func (op *transposeOp) resolve(rank int) ([]int, error) {
	p := make([]int, rank)
	if op.perm == nil {
		for i := range p {
			p[i] = rank - 1 - i
		}
		return p, nil
	}
	if len(op.perm) != rank {
		return nil, fmt.Errorf("Transpose: perm %v for rank %d", op.perm, rank)
	}
	seen := make([]bool, rank)
	for i, v := range op.perm {
		if v < 0 || v >= int64(rank) || seen[v] {
			return nil, fmt.Errorf("Transpose: perm %v is not a permutation of 0..%d", op.perm, rank-1)
		}
		seen[v] = true
		p[i] = int(v)
	}
	return p, nil
}

func permuted(s []int, p []int) []int {
	out := make([]int, len(p))
	for i, a := range p {
		out[i] = s[a]
	}
	return out
}

func (op *transposeOp) Infer(in []Value) ([]Value, error) {
	if err := checkArity("Transpose", len(in), 1, 1); err != nil {
		return nil, err
	}
	p, err := op.resolve(len(in[0].Shape))
	if err != nil {
		return nil, err
	}
	return []Value{{DType: in[0].DType, Shape: permuted(in[0].Shape, p)}}, nil
}

func (op *transposeOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkArity("Transpose", len(in), 1, 1); err != nil {
		return nil, err
	}
	p, err := op.resolve(in[0].Rank())
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{permute(ctx, in[0], p)}, nil
}

// Backward transposes the output gradient by the inverse permutation.
func (op *transposeOp) Backward(ctx *Ctx, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	if !wants(need, 0) || !floatData(in[0]) {
		return g, nil
	}
	if gradOut[0] == nil {
		g[0] = tensor.Zeros(in[0].Shape...)
		return g, nil
	}
	p, err := op.resolve(in[0].Rank())
	if err != nil {
		return nil, err
	}
	inv := make([]int, len(p))
	for i, a := range p {
		inv[a] = i
	}
	g[0] = permute(ctx, gradOut[0], inv)
	return g, nil
}

// permute returns x transposed by p into a new tensor.
func permute(ctx *Ctx, x *tensor.Tensor, p []int) *tensor.Tensor {
	outShape := permuted(x.Shape, p)
	out := tensor.New(x.DType, outShape...)
	srcStr := permuted(tensor.Strides(x.Shape), p)
	dstStr := tensor.Strides(outShape)
	// A batch of 2-D transposes, such as NCHW -> NHWC (perm [0,2,3,1]: a
	// C x HW matrix per image) and NHWC -> NCHW (perm [0,3,1,2]), goes
	// through a cache-blocked kernel; other permutations through the
	// generic strided copy, which handles contiguous inner runs well.
	shp, st := coalesceDims(outShape, dstStr, srcStr)
	if b, rows, cols, ok := batchedTranspose(shp, st[1]); ok {
		if x.DType == tensor.Int64 {
			transpose2D(ctx, out.I, x.I, b, rows, cols)
		} else {
			transpose2D(ctx, out.F, x.F, b, rows, cols)
		}
		return out
	}
	copyView(ctx, out, 0, dstStr, x, 0, srcStr, outShape)
	return out
}

// batchedTranspose recognises a coalesced copy whose source is a batch of
// b row-major cols x rows matrices written out as rows x cols matrices:
// shape (b?, rows, cols) with source strides (rows*cols, 1, rows).
func batchedTranspose(shp, ss []int) (b, rows, cols int, ok bool) {
	switch len(shp) {
	case 2:
		if ss[0] == 1 && ss[1] == shp[0] {
			return 1, shp[0], shp[1], true
		}
	case 3:
		if ss[1] == 1 && ss[2] == shp[1] && ss[0] == shp[1]*shp[2] {
			return shp[0], shp[1], shp[2], true
		}
	}
	return 0, 0, 0, false
}

// transpose2D writes dst[k][i][j] = src[k][j][i] for b matrices, dst being
// rows x cols, in square tiles so that both sides stay in cache.
func transpose2D[T moveElem](ctx *Ctx, dst, src []T, b, rows, cols int) {
	const tile = 32
	rowTiles := (rows + tile - 1) / tile
	n := rows * cols
	parallelFor(ctx, b*rowTiles, max(1, moveGrain/(tile*cols)), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			k, i0 := t/rowTiles, (t%rowTiles)*tile
			i1 := min(i0+tile, rows)
			d, s := dst[k*n:(k+1)*n], src[k*n:(k+1)*n]
			for j0 := 0; j0 < cols; j0 += tile {
				j1 := min(j0+tile, cols)
				for i := i0; i < i1; i++ {
					row := d[i*cols : (i+1)*cols]
					for j := j0; j < j1; j++ {
						row[j] = s[j*rows+i]
					}
				}
			}
		}
	})
}
