package ops

import (
	"fmt"
	"math"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd,
// ReduceSumSquare, ReduceL1, ReduceL2 and ReduceLogSumExp. The axes are the
// attribute axes up to ReduceSum-11 and the other reductions' opset 17, and
// the optional second input from ReduceSum-13 and the others' opset 18,
// where noop_with_empty_axes = 1 makes an empty axes list mean "reduce
// nothing" instead of "reduce everything". Sums are accumulated in float64.

// reduceKind names a reduction.
type reduceKind uint8

const (
	rSum reduceKind = iota
	rMean
	rMax
	rMin
	rProd
	rSumSquare
	rL1
	rL2
	rLogSumExp
)

var reduceNames = map[string]reduceKind{
	"ReduceSum": rSum, "ReduceMean": rMean, "ReduceMax": rMax, "ReduceMin": rMin,
	"ReduceProd": rProd, "ReduceSumSquare": rSumSquare, "ReduceL1": rL1, "ReduceL2": rL2,
	"ReduceLogSumExp": rLogSumExp,
}

func init() {
	for name, k := range reduceNames {
		Register(name, func(n *graph.Node, opset int64) (Op, error) { return newReduce(n, opset, name, k), nil })
	}
}

// reduceOp is one reduction.
type reduceOp struct {
	name      string
	kind      reduceKind
	keepdims  bool
	noop      bool    // noop_with_empty_axes
	axesInput bool    // the axes are input 1, not an attribute
	axes      []int64 // the axes attribute; nil means all
}

func newReduce(n *graph.Node, opset int64, name string, k reduceKind) *reduceOp {
	op := &reduceOp{
		name:     name,
		kind:     k,
		keepdims: n.AttrInt("keepdims", 1) != 0,
		noop:     n.AttrInt("noop_with_empty_axes", 0) != 0,
	}
	if (k == rSum && opset >= 13) || opset >= 18 {
		op.axesInput = true
	} else {
		op.axes = n.AttrInts("axes", nil)
	}
	return op
}

// plan returns which axes of shape are reduced, given the axes input's
// values (nil when omitted). identity reports the no-op case.
func (op *reduceOp) plan(shape []int, axesIn []int64, given bool) (reduced []bool, identity bool, err error) {
	axes := op.axes
	if op.axesInput {
		axes = axesIn
		if !given || len(axes) == 0 {
			if op.noop {
				return nil, true, nil
			}
			axes = nil
		}
	}
	reduced = make([]bool, len(shape))
	if len(axes) == 0 {
		for i := range reduced {
			reduced[i] = true
		}
		return reduced, false, nil
	}
	r := int64(len(shape))
	for _, a := range axes {
		ax := a
		if ax < 0 {
			ax += r
		}
		if ax < 0 || ax >= r {
			return nil, false, fmt.Errorf("%s: axis %d out of range for rank %d", op.name, a, r)
		}
		if reduced[ax] {
			return nil, false, fmt.Errorf("%s: axis %d repeated in %v", op.name, a, axes)
		}
		reduced[ax] = true
	}
	return reduced, false, nil
}

// shapes returns the output shape with the reduced axes kept as 1 and the
// output shape as the op gives it.
func (op *reduceOp) shapes(shape []int, reduced []bool) (kept, out []int) {
	kept = make([]int, len(shape))
	for i, d := range shape {
		if reduced[i] {
			kept[i] = 1
			continue
		}
		kept[i] = d
		out = append(out, d)
	}
	if op.keepdims {
		out = kept
	}
	if out == nil {
		out = []int{}
	}
	return kept, out
}

// Infer implements Op.
func (op *reduceOp) Infer(in []Value) ([]Value, error) {
	if len(in) < 1 || in[0].DType == 0 {
		return nil, fmt.Errorf("%s: missing input", op.name)
	}
	if err := op.checkType(in[0].DType); err != nil {
		return nil, err
	}
	var axes []int64
	given := op.axesInput && len(in) > 1 && in[1].DType != 0
	if given {
		if in[1].Const == nil {
			return nil, fmt.Errorf("%s: the axes input must be a constant", op.name)
		}
		axes = in[1].Const.Int64s()
	}
	reduced, identity, err := op.plan(in[0].Shape, axes, given)
	if err != nil {
		return nil, err
	}
	if identity {
		return []Value{{DType: in[0].DType, Shape: append([]int(nil), in[0].Shape...)}}, nil
	}
	_, out := op.shapes(in[0].Shape, reduced)
	return []Value{{DType: in[0].DType, Shape: out}}, nil
}

// checkType rejects int64 input for the reductions that need floats.
func (op *reduceOp) checkType(dt tensor.DType) error {
	switch {
	case dt == tensor.Float32:
		return nil
	case dt == tensor.Int64 && op.kind <= rProd:
		return nil
	}
	return fmt.Errorf("%s: input type %s is not supported", op.name, dt)
}

// args resolves Forward's and Backward's inputs.
func (op *reduceOp) args(in []*tensor.Tensor) (x *tensor.Tensor, reduced []bool, identity bool, err error) {
	if len(in) < 1 || in[0] == nil {
		return nil, nil, false, fmt.Errorf("%s: missing input", op.name)
	}
	x = in[0]
	if err := op.checkType(x.DType); err != nil {
		return nil, nil, false, err
	}
	var axes []int64
	given := op.axesInput && len(in) > 1 && in[1] != nil
	if given {
		axes = in[1].Int64s()
	}
	reduced, identity, err = op.plan(x.Shape, axes, given)
	return x, reduced, identity, err
}

// Forward implements Op.
func (op *reduceOp) Forward(_ *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, reduced, identity, err := op.args(in)
	if err != nil {
		return nil, err
	}
	if identity {
		return []*tensor.Tensor{x.Reshaped(x.Shape...)}, nil
	}
	kept, out := op.shapes(x.Shape, reduced)
	count := 1
	for i, d := range x.Shape {
		if reduced[i] {
			count *= d
		}
	}
	p := newBcastPlan(x.Shape, kept)
	if x.DType == tensor.Int64 {
		return []*tensor.Tensor{op.forwardInt(p, x, out, count)}, nil
	}
	acc := make([]float64, tensor.Size(kept))
	var init float64
	switch op.kind {
	case rMax, rLogSumExp:
		init = math.Inf(-1)
	case rMin:
		init = math.Inf(1)
	case rProd:
		init = 1
	}
	for i := range acc {
		acc[i] = init
	}
	inc := p.inc[0]
	// One pass accumulates f(v) for the sums, or the extremum or product.
	fold := func(f func(float64, float32) float64) {
		p.walk(0, p.n, func(o, n int, off []int) {
			src := x.F[o : o+n]
			if inc == 0 {
				a := acc[off[0]]
				for _, v := range src {
					a = f(a, v)
				}
				acc[off[0]] = a
				return
			}
			dst := acc[off[0] : off[0]+n]
			for i, v := range src {
				dst[i] = f(dst[i], v)
			}
		})
	}
	switch op.kind {
	case rSum, rMean:
		fold(func(a float64, v float32) float64 { return a + float64(v) })
	case rSumSquare, rL2:
		fold(func(a float64, v float32) float64 { return a + float64(v)*float64(v) })
	case rL1:
		fold(func(a float64, v float32) float64 { return a + math.Abs(float64(v)) })
	case rProd:
		fold(func(a float64, v float32) float64 { return a * float64(v) })
	case rMax, rLogSumExp:
		fold(func(a float64, v float32) float64 { return max(a, float64(v)) })
	case rMin:
		fold(func(a float64, v float32) float64 { return min(a, float64(v)) })
	}
	if op.kind == rLogSumExp {
		// log sum exp(x) = m + log sum exp(x - m), with m the maximum.
		m := acc
		acc = make([]float64, len(m))
		p.walk(0, p.n, func(o, n int, off []int) {
			for i, v := range x.F[o : o+n] {
				j := off[0] + i*inc
				if !math.IsInf(m[j], 0) {
					acc[j] += math.Exp(float64(v) - m[j])
				}
			}
		})
		for j, s := range acc {
			if math.IsInf(m[j], 0) {
				acc[j] = m[j]
			} else {
				acc[j] = m[j] + math.Log(s)
			}
		}
	}
	y := tensor.Zeros(out...)
	for i, a := range acc {
		switch op.kind {
		case rMean:
			a /= float64(count)
		case rL2:
			a = math.Sqrt(a)
		}
		y.F[i] = float32(a)
	}
	return []*tensor.Tensor{y}, nil
}

// forwardInt reduces int64 data (Sum, Mean, Max, Min, Prod; Mean
// truncates).
func (op *reduceOp) forwardInt(p *bcastPlan, x *tensor.Tensor, out []int, count int) *tensor.Tensor {
	y := tensor.New(tensor.Int64, out...)
	var f func(a, v int64) int64
	switch op.kind {
	case rSum, rMean:
		f = func(a, v int64) int64 { return a + v }
	case rProd:
		f = func(a, v int64) int64 { return a * v }
		for i := range y.I {
			y.I[i] = 1
		}
	case rMax:
		f = func(a, v int64) int64 { return max(a, v) }
		for i := range y.I {
			y.I[i] = math.MinInt64
		}
	case rMin:
		f = func(a, v int64) int64 { return min(a, v) }
		for i := range y.I {
			y.I[i] = math.MaxInt64
		}
	}
	p.walk(0, p.n, func(o, n int, off []int) {
		for i, v := range x.I[o : o+n] {
			j := off[0] + i*p.inc[0]
			y.I[j] = f(y.I[j], v)
		}
	})
	if op.kind == rMean && count > 0 {
		for i := range y.I {
			y.I[i] /= int64(count)
		}
	}
	return y
}

// Backward implements Differentiable. The gradient of ReduceMax and
// ReduceMin goes to every element equal to the extremum, split evenly
// among ties, as PyTorch's amax/amin backward does (derivatives.yaml:
// grad / count of maximal elements); ReduceProd's is the product of the
// other elements, exact when some are zero; ReduceL2's and ReduceL1's are
// taken as 0 at a zero norm and at x = 0.
func (op *reduceOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	x, reduced, identity, err := op.args(in)
	if err != nil {
		return nil, err
	}
	if len(gradOut) == 0 || gradOut[0] == nil {
		grads[0] = tensor.Zeros(x.Shape...)
		return grads, nil
	}
	g := gradOut[0]
	if identity {
		grads[0] = g
		return grads, nil
	}
	kept, _ := op.shapes(x.Shape, reduced)
	count := 1
	for i, d := range x.Shape {
		if reduced[i] {
			count *= d
		}
	}
	y := out[0]
	p := newBcastPlan(x.Shape, kept)
	inc := p.inc[0]
	var h func(v float32, j int) float32 // gradient at element v reduced into output j
	switch op.kind {
	case rSumSquare:
		h = func(v float32, j int) float32 { return 2 * v * g.F[j] }
	case rL1:
		h = func(v float32, j int) float32 {
			switch {
			case v > 0:
				return g.F[j]
			case v < 0:
				return -g.F[j]
			}
			return 0
		}
	case rL2:
		h = func(v float32, j int) float32 {
			if y.F[j] == 0 {
				return 0
			}
			return v / y.F[j] * g.F[j]
		}
	case rLogSumExp:
		h = func(v float32, j int) float32 {
			return float32(math.Exp(float64(v)-float64(y.F[j]))) * g.F[j]
		}
	case rMax, rMin:
		ties := make([]float32, len(y.F))
		p.walk(0, p.n, func(o, n int, off []int) {
			for i, v := range x.F[o : o+n] {
				if j := off[0] + i*inc; v == y.F[j] {
					ties[j]++
				}
			}
		})
		h = func(v float32, j int) float32 {
			if v == y.F[j] {
				return g.F[j] / ties[j]
			}
			return 0
		}
	case rProd:
		// zeros[j] counts the zero elements, rest[j] multiplies the others.
		zeros := make([]int, len(y.F))
		rest := make([]float64, len(y.F))
		for j := range rest {
			rest[j] = 1
		}
		p.walk(0, p.n, func(o, n int, off []int) {
			for i, v := range x.F[o : o+n] {
				j := off[0] + i*inc
				if v == 0 {
					zeros[j]++
				} else {
					rest[j] *= float64(v)
				}
			}
		})
		h = func(v float32, j int) float32 {
			switch {
			case zeros[j] == 0:
				return float32(rest[j] / float64(v) * float64(g.F[j]))
			case zeros[j] == 1 && v == 0:
				return float32(rest[j] * float64(g.F[j]))
			}
			return 0
		}
	}
	gx := tensor.Zeros(x.Shape...)
	if op.kind == rSum || op.kind == rMean {
		// The gradient is g (over count) broadcast back: fill, no calls.
		s := float32(1)
		if op.kind == rMean {
			s /= float32(count)
		}
		p.each(ctx, func(o, n int, off []int) {
			dst := gx.F[o : o+n]
			if inc == 0 {
				v := g.F[off[0]] * s
				for i := range dst {
					dst[i] = v
				}
				return
			}
			for i, v := range g.F[off[0] : off[0]+n] {
				dst[i] = v * s
			}
		})
		grads[0] = gx
		return grads, nil
	}
	p.each(ctx, func(o, n int, off []int) {
		dst := gx.F[o : o+n]
		for i, v := range x.F[o : o+n] {
			dst[i] = h(v, off[0]+i*inc)
		}
	})
	grads[0] = gx
	return grads, nil
}
