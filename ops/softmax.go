package ops

import (
	"fmt"
	"math"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// Softmax and LogSoftmax. Before opset 13 the input is coerced to a matrix
// [prod(shape[:axis]), prod(shape[axis:])] and normalized along its rows
// (axis defaults to 1); from opset 13 the normalization runs along the one
// axis given (default -1). Both are computed as exp(x - max) / sum, and
// x - max - log(sum), which cannot overflow.

func init() {
	Register("Softmax", func(n *graph.Node, opset int64) (Op, error) { return newSoftmax(n, opset, false), nil })
	Register("LogSoftmax", func(n *graph.Node, opset int64) (Op, error) { return newSoftmax(n, opset, true), nil })
}

// softmaxOp is Softmax, or LogSoftmax when log is set.
type softmaxOp struct {
	log    bool
	axis   int64
	coerce bool // opset < 13: flatten shape[axis:] into one axis
}

func newSoftmax(n *graph.Node, opset int64, log bool) *softmaxOp {
	op := &softmaxOp{log: log, coerce: opset < 13}
	if op.coerce {
		op.axis = n.AttrInt("axis", 1)
	} else {
		op.axis = n.AttrInt("axis", -1)
	}
	return op
}

func (op *softmaxOp) name() string {
	if op.log {
		return "LogSoftmax"
	}
	return "Softmax"
}

// geometry splits shape into (outer, n, inner): n elements normalized
// together, inner apart from one another in memory.
func (op *softmaxOp) geometry(shape []int) (outer, n, inner int, err error) {
	r := len(shape)
	ax := op.axis
	if ax < 0 {
		ax += int64(r)
	}
	if ax < 0 || ax >= int64(r) {
		return 0, 0, 0, fmt.Errorf("%s: axis %d out of range for rank %d", op.name(), op.axis, r)
	}
	a := int(ax)
	outer = tensor.Size(shape[:a])
	if op.coerce {
		return outer, tensor.Size(shape[a:]), 1, nil
	}
	return outer, shape[a], tensor.Size(shape[a+1:]), nil
}

// Infer implements Op.
func (op *softmaxOp) Infer(in []Value) ([]Value, error) {
	v, err := unaryInfer(op.name(), in, false)
	if err != nil {
		return nil, err
	}
	if _, _, _, err := op.geometry(in[0].Shape); err != nil {
		return nil, err
	}
	return v, nil
}

// Forward implements Op.
func (op *softmaxOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, err := unaryArg(op.name(), in, false)
	if err != nil {
		return nil, err
	}
	outer, n, inner, err := op.geometry(x.Shape)
	if err != nil {
		return nil, err
	}
	y := tensor.Zeros(x.Shape...)
	block := n * inner
	if block == 0 {
		return []*tensor.Tensor{y}, nil
	}
	parallelFor(ctx, outer, max(1, elemGrain/block), func(lo, hi int) {
		m := make([]float32, inner)
		s := make([]float64, inner)
		for o := lo; o < hi; o++ {
			xs, ys := x.F[o*block:(o+1)*block], y.F[o*block:(o+1)*block]
			if inner == 1 {
				softmaxRow(xs, ys, op.log)
				continue
			}
			copy(m, xs[:inner])
			for k := 1; k < n; k++ {
				for j, v := range xs[k*inner : (k+1)*inner] {
					m[j] = max(m[j], v)
				}
			}
			clear(s)
			for k := range n {
				row, out := xs[k*inner:(k+1)*inner], ys[k*inner:(k+1)*inner]
				for j, v := range row {
					e := math.Exp(float64(v - m[j]))
					s[j] += e
					out[j] = float32(e)
				}
			}
			for k := range n {
				row, out := xs[k*inner:(k+1)*inner], ys[k*inner:(k+1)*inner]
				for j := range out {
					if op.log {
						out[j] = row[j] - m[j] - float32(math.Log(s[j]))
					} else {
						out[j] = float32(float64(out[j]) / s[j])
					}
				}
			}
		}
	})
	return []*tensor.Tensor{y}, nil
}

// softmaxRow normalizes one contiguous row.
func softmaxRow(x, y []float32, log bool) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	s := 0.0
	for i, v := range x {
		e := math.Exp(float64(v - m))
		s += e
		y[i] = float32(e)
	}
	if log {
		ls := float32(math.Log(s))
		for i, v := range x {
			y[i] = v - m - ls
		}
		return
	}
	r := 1 / s
	for i := range y {
		y[i] = float32(float64(y[i]) * r)
	}
}

// Backward implements Differentiable. With y the output and g its
// gradient, Softmax's input gradient is y * (g - sum(g*y)) and
// LogSoftmax's is g - exp(y) * sum(g), the sums running along the
// normalized axis.
func (op *softmaxOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] {
		return grads, nil
	}
	x := in[0]
	gx := tensor.Zeros(x.Shape...)
	grads[0] = gx
	if len(gradOut) == 0 || gradOut[0] == nil {
		return grads, nil
	}
	outer, n, inner, err := op.geometry(x.Shape)
	if err != nil {
		return nil, err
	}
	y, g := out[0], gradOut[0]
	block := n * inner
	if block == 0 {
		return grads, nil
	}
	parallelFor(ctx, outer, max(1, elemGrain/block), func(lo, hi int) {
		s := make([]float64, inner)
		for o := lo; o < hi; o++ {
			ys, gs, dst := y.F[o*block:(o+1)*block], g.F[o*block:(o+1)*block], gx.F[o*block:(o+1)*block]
			clear(s)
			for k := range n {
				for j := range inner {
					e := k*inner + j
					if op.log {
						s[j] += float64(gs[e])
					} else {
						s[j] += float64(gs[e]) * float64(ys[e])
					}
				}
			}
			for k := range n {
				for j := range inner {
					e := k*inner + j
					if op.log {
						dst[e] = float32(float64(gs[e]) - math.Exp(float64(ys[e]))*s[j])
					} else {
						dst[e] = float32(float64(ys[e]) * (float64(gs[e]) - s[j]))
					}
				}
			}
		}
	})
	return grads, nil
}
