package ops

import (
	"fmt"
	"math"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// Elementwise operators of two or more inputs with numpy (multidirectional)
// broadcasting: arithmetic, PRelu, the variadic Max/Min/Sum/Mean, the
// comparisons and Where. Add, Sub, Mul and Div also compute int64 tensors,
// since exporters do shape arithmetic with them; integer Div truncates
// toward zero, like C++ (ONNX Runtime) and the ONNX reference
// implementation (onnx/reference/ops/op_div.py).

// binKind names an elementwise function of two operands.
type binKind uint8

const (
	bAdd binKind = iota
	bSub
	bMul
	bDiv
	bPow
	bMax
	bMin
	bPRelu
	bEqual
	bLess
	bGreater
	bLessEq
	bGreaterEq
)

var binNames = map[string]binKind{
	"Add": bAdd, "Sub": bSub, "Mul": bMul, "Div": bDiv, "Pow": bPow, "PRelu": bPRelu,
	"Equal": bEqual, "Less": bLess, "Greater": bGreater,
	"LessOrEqual": bLessEq, "GreaterOrEqual": bGreaterEq,
}

func init() {
	for name, k := range binNames {
		Register(name, func(*graph.Node, int64) (Op, error) { return &binaryOp{name: name, kind: k}, nil })
	}
	for name, k := range map[string]binKind{"Max": bMax, "Min": bMin, "Sum": bAdd, "Mean": bAdd} {
		Register(name, func(*graph.Node, int64) (Op, error) {
			return &variadicOp{name: name, kind: k, mean: name == "Mean"}, nil
		})
	}
	Register("Where", func(*graph.Node, int64) (Op, error) { return whereOp{}, nil })
}

// compare reports whether kind is a comparison, whose output is boolean.
func (k binKind) compare() bool { return k >= bEqual }

// floatFn returns kind's function on float32 operands.
func (k binKind) floatFn() func(a, b float32) float32 {
	switch k {
	case bAdd:
		return func(a, b float32) float32 { return a + b }
	case bSub:
		return func(a, b float32) float32 { return a - b }
	case bMul:
		return func(a, b float32) float32 { return a * b }
	case bDiv:
		return func(a, b float32) float32 { return a / b }
	case bPow:
		return powF
	case bMax:
		return func(a, b float32) float32 { return max(a, b) }
	case bMin:
		return func(a, b float32) float32 { return min(a, b) }
	case bPRelu:
		return func(x, s float32) float32 {
			if x < 0 {
				return s * x
			}
			return x
		}
	}
	panic("ops: no float function for binary kind")
}

// powF is float32 Pow, with the common exponents computed exactly.
func powF(a, b float32) float32 {
	switch b {
	case 1:
		return a
	case 2:
		return a * a
	case 0.5:
		return float32(math.Sqrt(float64(a)))
	}
	return float32(math.Pow(float64(a), float64(b)))
}

// intFn returns kind's function on int64 operands (Div by zero must be
// ruled out before).
func (k binKind) intFn() func(a, b int64) int64 {
	switch k {
	case bAdd:
		return func(a, b int64) int64 { return a + b }
	case bSub:
		return func(a, b int64) int64 { return a - b }
	case bMul:
		return func(a, b int64) int64 { return a * b }
	case bDiv:
		return func(a, b int64) int64 { return a / b } // truncates toward zero
	case bPow:
		return powI
	case bMax:
		return func(a, b int64) int64 { return max(a, b) }
	case bMin:
		return func(a, b int64) int64 { return min(a, b) }
	case bPRelu:
		return func(x, s int64) int64 {
			if x < 0 {
				return s * x
			}
			return x
		}
	}
	panic("ops: no int function for binary kind")
}

// powI is integer exponentiation by squaring; a negative exponent gives
// the truncated real result (0 unless |a| = 1).
func powI(a, b int64) int64 {
	if b < 0 {
		return int64(math.Pow(float64(a), float64(b)))
	}
	r := int64(1)
	for b > 0 {
		if b&1 == 1 {
			r *= a
		}
		a *= a
		b >>= 1
	}
	return r
}

// cmpI returns the comparison kind on int64 operands.
func (k binKind) cmpI() func(a, b int64) bool {
	switch k {
	case bEqual:
		return func(a, b int64) bool { return a == b }
	case bLess:
		return func(a, b int64) bool { return a < b }
	case bGreater:
		return func(a, b int64) bool { return a > b }
	case bLessEq:
		return func(a, b int64) bool { return a <= b }
	case bGreaterEq:
		return func(a, b int64) bool { return a >= b }
	}
	panic("ops: not a comparison")
}

// cmpF returns the comparison kind on float32 operands.
func (k binKind) cmpF() func(a, b float32) bool {
	switch k {
	case bEqual:
		return func(a, b float32) bool { return a == b }
	case bLess:
		return func(a, b float32) bool { return a < b }
	case bGreater:
		return func(a, b float32) bool { return a > b }
	case bLessEq:
		return func(a, b float32) bool { return a <= b }
	case bGreaterEq:
		return func(a, b float32) bool { return a >= b }
	}
	panic("ops: not a comparison")
}

// binRunF computes one run of a float binary op: dst[i] = f(a[i*ia],
// b[i*ib]) with ia, ib in {0, 1}. Add, Sub, Mul and Div have their loops
// written out for the three broadcast patterns.
func binRunF(k binKind, f func(a, b float32) float32, dst, a, b []float32, ia, ib int) {
	n := len(dst)
	switch {
	case ia == 1 && ib == 1:
		a, b = a[:n], b[:n]
		switch k {
		case bAdd:
			for i := range dst {
				dst[i] = a[i] + b[i]
			}
		case bSub:
			for i := range dst {
				dst[i] = a[i] - b[i]
			}
		case bMul:
			for i := range dst {
				dst[i] = a[i] * b[i]
			}
		case bDiv:
			for i := range dst {
				dst[i] = a[i] / b[i]
			}
		default:
			for i := range dst {
				dst[i] = f(a[i], b[i])
			}
		}
	case ia == 1:
		a = a[:n]
		s := b[0]
		switch k {
		case bAdd:
			for i := range dst {
				dst[i] = a[i] + s
			}
		case bSub:
			for i := range dst {
				dst[i] = a[i] - s
			}
		case bMul:
			for i := range dst {
				dst[i] = a[i] * s
			}
		case bDiv:
			for i := range dst {
				dst[i] = a[i] / s
			}
		default:
			for i := range dst {
				dst[i] = f(a[i], s)
			}
		}
	case ib == 1:
		b = b[:n]
		s := a[0]
		switch k {
		case bAdd:
			for i := range dst {
				dst[i] = s + b[i]
			}
		case bSub:
			for i := range dst {
				dst[i] = s - b[i]
			}
		case bMul:
			for i := range dst {
				dst[i] = s * b[i]
			}
		case bDiv:
			for i := range dst {
				dst[i] = s / b[i]
			}
		default:
			for i := range dst {
				dst[i] = f(s, b[i])
			}
		}
	default:
		v := f(a[0], b[0])
		for i := range dst {
			dst[i] = v
		}
	}
}

// binaryForward computes a op b with broadcasting. The output has a's type
// (int64 for comparisons); Pow's exponent may be of either type.
func binaryForward(ctx *Ctx, name string, k binKind, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	shape, err := tensor.BroadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if a.DType != b.DType {
		if k != bPow {
			return nil, fmt.Errorf("%s: operand types %s and %s differ", name, a.DType, b.DType)
		}
		if a.DType == tensor.Float32 {
			b = tensor.FromFloat32(b.Shape, b.Float32s())
		} else {
			// Integer base, float exponent: compute in float, truncate.
			y, err := binaryForward(ctx, name, k, tensor.FromFloat32(a.Shape, a.Float32s()), b)
			if err != nil {
				return nil, err
			}
			return tensor.FromInt64(y.Shape, y.Int64s()), nil
		}
	}
	p := newBcastPlan(shape, a.Shape, b.Shape)
	ia, ib := p.inc[0], p.inc[1]
	switch {
	case k.compare():
		y := tensor.New(tensor.Int64, shape...)
		if a.DType == tensor.Int64 {
			c := k.cmpI()
			p.each(ctx, func(o, n int, off []int) {
				for i := range n {
					if c(a.I[off[0]+i*ia], b.I[off[1]+i*ib]) {
						y.I[o+i] = 1
					}
				}
			})
		} else {
			c := k.cmpF()
			p.each(ctx, func(o, n int, off []int) {
				for i := range n {
					if c(a.F[off[0]+i*ia], b.F[off[1]+i*ib]) {
						y.I[o+i] = 1
					}
				}
			})
		}
		return y, nil
	case a.DType == tensor.Int64:
		if k == bDiv {
			for _, v := range b.I {
				if v == 0 {
					return nil, fmt.Errorf("%s: integer division by zero", name)
				}
			}
		}
		y := tensor.New(tensor.Int64, shape...)
		f := k.intFn()
		p.each(ctx, func(o, n int, off []int) {
			for i := range n {
				y.I[o+i] = f(a.I[off[0]+i*ia], b.I[off[1]+i*ib])
			}
		})
		return y, nil
	}
	y := tensor.Zeros(shape...)
	f := k.floatFn()
	p.each(ctx, func(o, n int, off []int) {
		binRunF(k, f, y.F[o:o+n], a.F[off[0]:], b.F[off[1]:], ia, ib)
	})
	return y, nil
}

// binaryOp is a two-input elementwise operator.
type binaryOp struct {
	name string
	kind binKind
}

// Infer implements Op.
func (op *binaryOp) Infer(in []Value) ([]Value, error) {
	if len(in) != 2 || in[0].DType == 0 || in[1].DType == 0 {
		return nil, fmt.Errorf("%s: want 2 inputs", op.name)
	}
	if in[0].DType != in[1].DType && op.kind != bPow {
		return nil, fmt.Errorf("%s: operand types %s and %s differ", op.name, in[0].DType, in[1].DType)
	}
	if op.kind == bPRelu {
		if in[0].DType != tensor.Float32 {
			return nil, fmt.Errorf("PRelu: input type %s is not supported", in[0].DType)
		}
		if !broadcastsTo(in[1].Shape, in[0].Shape) {
			return nil, fmt.Errorf("PRelu: slope shape %v does not broadcast to input shape %v", in[1].Shape, in[0].Shape)
		}
	}
	shape, err := tensor.BroadcastShape(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.name, err)
	}
	dt := in[0].DType
	if op.kind.compare() {
		dt = tensor.Int64
	}
	return []Value{{DType: dt, Shape: shape}}, nil
}

// Forward implements Op.
func (op *binaryOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("%s: want 2 inputs", op.name)
	}
	if op.kind == bPRelu && !broadcastsTo(in[1].Shape, in[0].Shape) {
		return nil, fmt.Errorf("PRelu: slope shape %v does not broadcast to input shape %v", in[1].Shape, in[0].Shape)
	}
	y, err := binaryForward(ctx, op.name, op.kind, in[0], in[1])
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{y}, nil
}

// Backward implements Differentiable. Comparisons have no gradient; each
// input's gradient is summed over the dimensions it was broadcast along.
func (op *binaryOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	if op.kind.compare() {
		return nil, fmt.Errorf("%s: not differentiable", op.name)
	}
	grads := make([]*tensor.Tensor, 2)
	a, b := in[0], in[1]
	if a.DType != tensor.Float32 {
		return grads, nil
	}
	if b.DType != tensor.Float32 { // Pow's integer exponent
		b = tensor.FromFloat32(b.Shape, b.Float32s())
	}
	for i, x := range in[:2] {
		if i >= len(need) || !need[i] || x.DType != tensor.Float32 {
			continue
		}
		if len(gradOut) == 0 || gradOut[0] == nil {
			grads[i] = tensor.Zeros(x.Shape...)
			continue
		}
		g := gradOut[0]
		switch {
		case op.kind == bAdd || (op.kind == bSub && i == 0):
			grads[i] = reduceTo(g, x.Shape)
			continue
		case op.kind == bSub:
			grads[i] = reduceTo(scaled(ctx, g, -1), x.Shape)
			continue
		case op.kind == bMul || (op.kind == bDiv && i == 0):
			// g*b, g*a and g/b: the forward loops, then the reduction.
			other := b
			if i == 1 {
				other = a
			}
			t, err := binaryForward(ctx, op.name, op.kind, g, other)
			if err != nil {
				return nil, err
			}
			grads[i] = reduceTo(t, x.Shape)
			continue
		}
		grads[i] = binGrad(ctx, x.Shape, a, b, out[0], g, op.partial(i))
	}
	return grads, nil
}

// partial returns the derivative of the output with respect to operand i
// times the output gradient, as a function of (g, a, b, y), for the kinds
// Backward does not compute with the forward loops.
func (op *binaryOp) partial(i int) func(g, a, b, y float32) float32 {
	switch op.kind {
	case bDiv: // the divisor; the dividend's is computed as g/b
		// d(a/b)/db = -a/b^2 = -y/b.
		return func(g, _, b, y float32) float32 { return -g * y / b }
	case bPow:
		if i == 0 {
			// d a^b / da = b a^(b-1).
			return func(g, a, b, _ float32) float32 {
				if b == 0 {
					return 0
				}
				return g * b * powF(a, b-1)
			}
		}
		// d a^b / db = a^b ln a, taken as 0 where a <= 0 (PyTorch masks
		// a = 0; for a < 0 the real power is undefined off the integers).
		return func(g, a, _, y float32) float32 {
			if a <= 0 {
				return 0
			}
			return g * y * float32(math.Log(float64(a)))
		}
	case bPRelu:
		// As PyTorch's prelu backward: x > 0 passes g, else slope*g; the
		// slope gets x*g where x <= 0.
		if i == 0 {
			return func(g, x, s, _ float32) float32 {
				if x > 0 {
					return g
				}
				return s * g
			}
		}
		return func(g, x, _, _ float32) float32 {
			if x > 0 {
				return 0
			}
			return x * g
		}
	}
	panic("ops: no partial derivative for binary kind")
}

// scaled returns s*t.
func scaled(ctx *Ctx, t *tensor.Tensor, s float32) *tensor.Tensor {
	r := tensor.Zeros(t.Shape...)
	parallelFor(ctx, len(t.F), elemGrain, func(lo, hi int) {
		src, dst := t.F[lo:hi], r.F[lo:hi]
		for i, v := range src {
			dst[i] = s * v
		}
	})
	return r
}

// binGrad computes the gradient of an operand of shape target: the sum,
// over the output elements each of its elements was broadcast to, of
// df(g, a, b, y). y and g have the output's shape.
func binGrad(ctx *Ctx, target []int, a, b, y, g *tensor.Tensor, df func(g, a, b, y float32) float32) *tensor.Tensor {
	p := newBcastPlan(g.Shape, target, a.Shape, b.Shape)
	it, ia, ib := p.inc[0], p.inc[1], p.inc[2]
	r := tensor.Zeros(target...)
	if tensor.EqualShape(target, g.Shape) {
		p.each(ctx, func(o, n int, off []int) {
			dst, gs, ys := r.F[o:o+n], g.F[o:o+n], y.F[o:o+n]
			for i := range dst {
				dst[i] = df(gs[i], a.F[off[1]+i*ia], b.F[off[2]+i*ib], ys[i])
			}
		})
		return r
	}
	acc := make([]float64, len(r.F))
	p.walk(0, p.n, func(o, n int, off []int) {
		gs, ys := g.F[o:o+n], y.F[o:o+n]
		for i := range gs {
			acc[off[0]+i*it] += float64(df(gs[i], a.F[off[1]+i*ia], b.F[off[2]+i*ib], ys[i]))
		}
	})
	for i, v := range acc {
		r.F[i] = float32(v)
	}
	return r
}

// variadicOp is Max, Min, Sum or Mean of one or more broadcast inputs.
type variadicOp struct {
	name string
	kind binKind // bMax, bMin or bAdd
	mean bool
}

// Infer implements Op.
func (op *variadicOp) Infer(in []Value) ([]Value, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%s: no inputs", op.name)
	}
	shapes := make([][]int, len(in))
	for i, v := range in {
		if v.DType == 0 {
			return nil, fmt.Errorf("%s: input %d is missing", op.name, i)
		}
		if v.DType != in[0].DType {
			return nil, fmt.Errorf("%s: input types %s and %s differ", op.name, in[0].DType, v.DType)
		}
		shapes[i] = v.Shape
	}
	if op.mean && in[0].DType != tensor.Float32 {
		return nil, fmt.Errorf("Mean: input type %s is not supported", in[0].DType)
	}
	shape, err := broadcastShapes(shapes...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.name, err)
	}
	return []Value{{DType: in[0].DType, Shape: shape}}, nil
}

// Forward implements Op.
func (op *variadicOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) == 0 || in[0] == nil {
		return nil, fmt.Errorf("%s: no inputs", op.name)
	}
	y := in[0]
	for i, x := range in[1:] {
		if x == nil {
			return nil, fmt.Errorf("%s: input %d is missing", op.name, i+1)
		}
		var err error
		if y, err = binaryForward(ctx, op.name, op.kind, y, x); err != nil {
			return nil, err
		}
	}
	if len(in) == 1 {
		y = y.Clone()
	}
	if op.mean {
		if y.DType != tensor.Float32 {
			return nil, fmt.Errorf("Mean: input type %s is not supported", y.DType)
		}
		s := 1 / float32(len(in))
		if len(in) == 1 {
			return []*tensor.Tensor{y}, nil
		}
		for i := range y.F {
			y.F[i] *= s
		}
	}
	return []*tensor.Tensor{y}, nil
}

// Backward implements Differentiable. For Max and Min the gradient goes to
// the inputs equal to the output, split evenly among ties.
func (op *variadicOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	var g *tensor.Tensor
	if len(gradOut) > 0 {
		g = gradOut[0]
	}
	y := out[0]
	var count []float32 // inputs equal to the output, per output element
	for i, x := range in {
		if i >= len(need) || !need[i] || x.DType != tensor.Float32 {
			continue
		}
		if g == nil {
			grads[i] = tensor.Zeros(x.Shape...)
			continue
		}
		switch {
		case op.kind == bAdd && !op.mean:
			grads[i] = reduceTo(g, x.Shape)
		case op.kind == bAdd:
			grads[i] = reduceTo(scaled(ctx, g, 1/float32(len(in))), x.Shape)
		default:
			if count == nil {
				count = make([]float32, len(y.F))
				for _, z := range in {
					p := newBcastPlan(y.Shape, z.Shape)
					p.walk(0, p.n, func(o, n int, off []int) {
						for j := range n {
							if z.F[off[0]+j*p.inc[0]] == y.F[o+j] {
								count[o+j]++
							}
						}
					})
				}
			}
			t := tensor.Zeros(y.Shape...)
			p := newBcastPlan(y.Shape, x.Shape)
			p.each(ctx, func(o, n int, off []int) {
				for j := range n {
					if x.F[off[0]+j*p.inc[0]] == y.F[o+j] {
						t.F[o+j] = g.F[o+j] / count[o+j]
					}
				}
			})
			grads[i] = reduceTo(t, x.Shape)
		}
	}
	return grads, nil
}

// whereOp is Where(condition, X, Y): X where the condition holds, else Y,
// all three broadcast together.
type whereOp struct{}

// Infer implements Op.
func (whereOp) Infer(in []Value) ([]Value, error) {
	if len(in) != 3 || in[0].DType == 0 || in[1].DType == 0 || in[2].DType == 0 {
		return nil, fmt.Errorf("Where: want 3 inputs")
	}
	if in[1].DType != in[2].DType {
		return nil, fmt.Errorf("Where: value types %s and %s differ", in[1].DType, in[2].DType)
	}
	shape, err := broadcastShapes(in[0].Shape, in[1].Shape, in[2].Shape)
	if err != nil {
		return nil, fmt.Errorf("Where: %w", err)
	}
	return []Value{{DType: in[1].DType, Shape: shape}}, nil
}

// Forward implements Op.
func (whereOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return nil, fmt.Errorf("Where: want 3 inputs")
	}
	c, x, z := in[0], in[1], in[2]
	if x.DType != z.DType {
		return nil, fmt.Errorf("Where: value types %s and %s differ", x.DType, z.DType)
	}
	shape, err := broadcastShapes(c.Shape, x.Shape, z.Shape)
	if err != nil {
		return nil, fmt.Errorf("Where: %w", err)
	}
	cond := c.Int64s()
	y := tensor.New(x.DType, shape...)
	p := newBcastPlan(shape, c.Shape, x.Shape, z.Shape)
	ic, ix, iz := p.inc[0], p.inc[1], p.inc[2]
	p.each(ctx, func(o, n int, off []int) {
		for i := range n {
			take := cond[off[0]+i*ic] != 0
			if x.DType == tensor.Int64 {
				if take {
					y.I[o+i] = x.I[off[1]+i*ix]
				} else {
					y.I[o+i] = z.I[off[2]+i*iz]
				}
				continue
			}
			if take {
				y.F[o+i] = x.F[off[1]+i*ix]
			} else {
				y.F[o+i] = z.F[off[2]+i*iz]
			}
		}
	})
	return []*tensor.Tensor{y}, nil
}

// Backward implements Differentiable: X gets the gradient where the
// condition holds, Y elsewhere; the condition gets none.
func (whereOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, 3)
	cond := in[0].Int64s()
	for i := 1; i < 3; i++ {
		x := in[i]
		if i >= len(need) || !need[i] || x.DType != tensor.Float32 {
			continue
		}
		if len(gradOut) == 0 || gradOut[0] == nil {
			grads[i] = tensor.Zeros(x.Shape...)
			continue
		}
		g := gradOut[0]
		t := tensor.Zeros(g.Shape...)
		p := newBcastPlan(g.Shape, in[0].Shape)
		want := i == 1
		p.each(ctx, func(o, n int, off []int) {
			for j := range n {
				if (cond[off[0]+j*p.inc[0]] != 0) == want {
					t.F[o+j] = g.F[o+j]
				}
			}
		})
		grads[i] = reduceTo(t, x.Shape)
	}
	return grads, nil
}
