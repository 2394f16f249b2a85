package ops

import (
	"fmt"
	"math"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// Elementwise operators of one input: activations and math functions, plus
// Clip, Identity and Dropout. Formulas follow the ONNX operator spec
// (onnx/docs/Operators.md); gradients at kinks follow PyTorch's autograd so
// that saliency maps match those computed on the original PyTorch models.

func init() {
	for name, u := range unaryTable {
		Register(name, func(n *graph.Node, opset int64) (Op, error) { return u(n), nil })
	}
	Register("Relu", func(*graph.Node, int64) (Op, error) { return reluOp{}, nil })
	Register("Clip", newClip)
	Register("Identity", func(*graph.Node, int64) (Op, error) { return identityOp{}, nil })
	Register("Dropout", newDropout)
}

// unaryOp is an elementwise function of one tensor.
type unaryOp struct {
	name string
	f    func(x float32) float32
	// fi computes int64 inputs; nil when the op takes floats only.
	fi func(x int64) int64
	// df returns the input gradient from the input x, the output y and the
	// output gradient g; nil when the op has no backward pass.
	df func(x, y, g float32) float32
}

// unaryTable builds the table-driven unary ops from their node.
var unaryTable = map[string]func(n *graph.Node) *unaryOp{
	"LeakyRelu": func(n *graph.Node) *unaryOp {
		a := n.AttrFloat("alpha", 0.01)
		return &unaryOp{
			name: "LeakyRelu",
			f: func(x float32) float32 {
				if x < 0 {
					return a * x
				}
				return x
			},
			// PyTorch's leaky_relu_backward: x > 0 ? g : alpha*g.
			df: func(x, _, g float32) float32 {
				if x > 0 {
					return g
				}
				return a * g
			},
		}
	},
	"Elu": func(n *graph.Node) *unaryOp {
		a := n.AttrFloat("alpha", 1)
		return &unaryOp{
			name: "Elu",
			f: func(x float32) float32 {
				if x < 0 {
					return a * float32(math.Expm1(float64(x)))
				}
				return x
			},
			// d/dx alpha*(e^x - 1) = alpha*e^x = y + alpha for x <= 0
			// (PyTorch's elu_backward uses the negative branch at 0).
			df: func(x, y, g float32) float32 {
				if x > 0 {
					return g
				}
				return g * (y + a)
			},
		}
	},
	"Sigmoid": func(*graph.Node) *unaryOp {
		return &unaryOp{
			name: "Sigmoid",
			f:    sigmoid,
			df:   func(_, y, g float32) float32 { return g * y * (1 - y) },
		}
	},
	"HardSigmoid": func(n *graph.Node) *unaryOp {
		a := n.AttrFloat("alpha", 0.2)
		b := n.AttrFloat("beta", 0.5)
		return &unaryOp{
			name: "HardSigmoid",
			f:    func(x float32) float32 { return min(max(a*x+b, 0), 1) },
			// Slope alpha strictly inside the linear part, as PyTorch's
			// hardsigmoid_backward (-3 < x < 3).
			df: func(x, _, g float32) float32 {
				if v := a*x + b; v > 0 && v < 1 {
					return a * g
				}
				return 0
			},
		}
	},
	"HardSwish": func(*graph.Node) *unaryOp {
		return &unaryOp{
			name: "HardSwish",
			// y = x * max(0, min(1, x/6 + 1/2)) (ONNX HardSwish-14).
			f: func(x float32) float32 { return x * min(max(x/6+0.5, 0), 1) },
			// As PyTorch's hardswish_backward: 0 below -3, x/3 + 1/2 up
			// to and including 3, 1 above.
			df: func(x, _, g float32) float32 {
				switch {
				case x < -3:
					return 0
				case x <= 3:
					return g * (x/3 + 0.5)
				}
				return g
			},
		}
	},
	"Tanh": func(*graph.Node) *unaryOp {
		return &unaryOp{
			name: "Tanh",
			f:    func(x float32) float32 { return float32(math.Tanh(float64(x))) },
			df:   func(_, y, g float32) float32 { return g * (1 - y*y) },
		}
	},
	"Erf": func(*graph.Node) *unaryOp {
		return &unaryOp{
			name: "Erf",
			f:    func(x float32) float32 { return float32(math.Erf(float64(x))) },
			// d/dx erf(x) = 2/sqrt(pi) * exp(-x^2).
			df: func(x, _, g float32) float32 {
				return g * float32(2/math.SqrtPi*math.Exp(-float64(x)*float64(x)))
			},
		}
	},
	"Sqrt": func(*graph.Node) *unaryOp {
		return &unaryOp{
			name: "Sqrt",
			f:    func(x float32) float32 { return float32(math.Sqrt(float64(x))) },
			df:   func(_, y, g float32) float32 { return g / (2 * y) },
		}
	},
	"Neg": func(*graph.Node) *unaryOp {
		return &unaryOp{
			name: "Neg",
			f:    func(x float32) float32 { return -x },
			fi:   func(x int64) int64 { return -x },
			df:   func(_, _, g float32) float32 { return -g },
		}
	},
	"Abs": func(*graph.Node) *unaryOp {
		return &unaryOp{
			name: "Abs",
			f:    func(x float32) float32 { return float32(math.Abs(float64(x))) },
			fi: func(x int64) int64 {
				if x < 0 {
					return -x
				}
				return x
			},
			// g * sign(x), with sign(0) = 0 as in PyTorch.
			df: func(x, _, g float32) float32 {
				switch {
				case x > 0:
					return g
				case x < 0:
					return -g
				}
				return 0
			},
		}
	},
	"Exp": func(*graph.Node) *unaryOp {
		return &unaryOp{
			name: "Exp",
			f:    func(x float32) float32 { return float32(math.Exp(float64(x))) },
			df:   func(_, y, g float32) float32 { return g * y },
		}
	},
	"Log": func(*graph.Node) *unaryOp {
		return &unaryOp{
			name: "Log",
			f:    func(x float32) float32 { return float32(math.Log(float64(x))) },
			df:   func(x, _, g float32) float32 { return g / x },
		}
	},
	"Reciprocal": func(*graph.Node) *unaryOp {
		return &unaryOp{
			name: "Reciprocal",
			f:    func(x float32) float32 { return 1 / x },
			df:   func(_, y, g float32) float32 { return -g * y * y },
		}
	},
}

// sigmoid computes 1/(1+e^-x) without overflow for large |x|.
func sigmoid(x float32) float32 {
	if x >= 0 {
		return float32(1 / (1 + math.Exp(-float64(x))))
	}
	e := math.Exp(float64(x))
	return float32(e / (1 + e))
}

// unaryInfer checks a single input of an allowed type and returns its type
// and shape for the output.
func unaryInfer(name string, in []Value, ints bool) ([]Value, error) {
	if len(in) < 1 || in[0].DType == 0 {
		return nil, fmt.Errorf("%s: missing input", name)
	}
	if in[0].DType != tensor.Float32 && !ints {
		return nil, fmt.Errorf("%s: input type %s is not supported", name, in[0].DType)
	}
	return []Value{{DType: in[0].DType, Shape: append([]int(nil), in[0].Shape...)}}, nil
}

// unaryArg returns the single input of a unary op's Forward.
func unaryArg(name string, in []*tensor.Tensor, ints bool) (*tensor.Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("%s: missing input", name)
	}
	if in[0].DType != tensor.Float32 && !ints {
		return nil, fmt.Errorf("%s: input type %s is not supported", name, in[0].DType)
	}
	return in[0], nil
}

// Infer implements Op.
func (u *unaryOp) Infer(in []Value) ([]Value, error) { return unaryInfer(u.name, in, u.fi != nil) }

// Forward implements Op.
func (u *unaryOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, err := unaryArg(u.name, in, u.fi != nil)
	if err != nil {
		return nil, err
	}
	y := tensor.New(x.DType, x.Shape...)
	if x.DType == tensor.Int64 {
		for i, v := range x.I {
			y.I[i] = u.fi(v)
		}
		return []*tensor.Tensor{y}, nil
	}
	f := u.f
	parallelFor(ctx, len(x.F), elemGrain, func(lo, hi int) {
		src, dst := x.F[lo:hi], y.F[lo:hi]
		for i, v := range src {
			dst[i] = f(v)
		}
	})
	return []*tensor.Tensor{y}, nil
}

// Backward implements Differentiable.
func (u *unaryOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	if u.df == nil {
		return nil, fmt.Errorf("%s: not differentiable", u.name)
	}
	return unaryGrad(ctx, in, out, gradOut, need, u.df), nil
}

// unaryGrad applies df elementwise to (x, y, g) for input 0.
func unaryGrad(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool, df func(x, y, g float32) float32) []*tensor.Tensor {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || in[0] == nil || in[0].DType != tensor.Float32 {
		return grads
	}
	x := in[0]
	gx := tensor.Zeros(x.Shape...)
	grads[0] = gx
	if len(gradOut) == 0 || gradOut[0] == nil {
		return grads
	}
	y, g := out[0], gradOut[0]
	parallelFor(ctx, len(x.F), elemGrain, func(lo, hi int) {
		xs, ys, gs, dst := x.F[lo:hi], y.F[lo:hi], g.F[lo:hi], gx.F[lo:hi]
		for i := range dst {
			dst[i] = df(xs[i], ys[i], gs[i])
		}
	})
	return grads
}

// reluOp is Relu, with its loops written out: it is the hottest
// activation. Backward passes the gradient where x > 0 and blocks it at
// x = 0, as PyTorch's threshold_backward does.
type reluOp struct{}

// Infer implements Op.
func (reluOp) Infer(in []Value) ([]Value, error) { return unaryInfer("Relu", in, true) }

// Forward implements Op.
func (reluOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, err := unaryArg("Relu", in, true)
	if err != nil {
		return nil, err
	}
	y := tensor.New(x.DType, x.Shape...)
	if x.DType == tensor.Int64 {
		for i, v := range x.I {
			y.I[i] = max(v, 0)
		}
		return []*tensor.Tensor{y}, nil
	}
	parallelFor(ctx, len(x.F), elemGrain, func(lo, hi int) {
		src, dst := x.F[lo:hi], y.F[lo:hi]
		for i, v := range src {
			dst[i] = max(v, 0) // branch-free; keeps NaN, as PyTorch does
		}
	})
	return []*tensor.Tensor{y}, nil
}

// Backward implements Differentiable.
func (reluOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	x := in[0]
	gx := tensor.Zeros(x.Shape...)
	grads[0] = gx
	if len(gradOut) == 0 || gradOut[0] == nil {
		return grads, nil
	}
	g := gradOut[0]
	parallelFor(ctx, len(x.F), elemGrain, func(lo, hi int) {
		passWhere(x.F[lo:hi], g.F[lo:hi], gx.F[lo:hi], 0, float32(math.Inf(1)))
	})
	return grads, nil
}

// clipOp is Clip. Before opset 11 the bounds are the attributes min and max;
// from 11 they are the optional scalar inputs 1 and 2.
//
// Backward passes the gradient only where min < x < max, strictly, and
// blocks it at the bounds. This is what PyTorch does for ReLU6 and
// Hardtanh (hardtanh_backward in aten/src/ATen/native/cpu/Activation.cpp:
// zero where x <= min or x >= max), which is where the Clip nodes of
// exported CNNs (MobileNetV2's ReLU6) come from. (torch.clamp's own
// backward, clamp_backward in FunctionsManual.cpp, passes at the bounds
// inclusively; exporters emit the same Clip node for both, and we follow
// the activation.) An omitted bound is infinite.
type clipOp struct {
	attrs    bool // bounds come from attributes (opset < 11)
	min, max float32
}

func newClip(n *graph.Node, opset int64) (Op, error) {
	if opset < 11 {
		return &clipOp{
			attrs: true,
			min:   n.AttrFloat("min", -math.MaxFloat32),
			max:   n.AttrFloat("max", math.MaxFloat32),
		}, nil
	}
	return &clipOp{}, nil
}

// Infer implements Op.
func (c *clipOp) Infer(in []Value) ([]Value, error) {
	for i := 1; i < len(in) && i < 3; i++ {
		if in[i].DType != 0 && tensor.Size(in[i].Shape) != 1 {
			return nil, fmt.Errorf("Clip: bound input %d has shape %v, want a scalar", i, in[i].Shape)
		}
	}
	return unaryInfer("Clip", in, true)
}

// bounds returns the clip range as float64 for the given inputs.
func (c *clipOp) bounds(in []*tensor.Tensor) (lo, hi float64, err error) {
	if c.attrs {
		return float64(c.min), float64(c.max), nil
	}
	lo, hi = math.Inf(-1), math.Inf(1)
	for i := 1; i < len(in) && i < 3; i++ {
		b := in[i]
		if b == nil {
			continue
		}
		if b.Len() != 1 {
			return 0, 0, fmt.Errorf("Clip: bound input %d has shape %v, want a scalar", i, b.Shape)
		}
		v := b.At(make([]int, b.Rank())...)
		if i == 1 {
			lo = v
		} else {
			hi = v
		}
	}
	return lo, hi, nil
}

// Forward implements Op. Like the spec's min(max(x, min), max), it yields
// max everywhere when min > max.
func (c *clipOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, err := unaryArg("Clip", in, true)
	if err != nil {
		return nil, err
	}
	lo, hi, err := c.bounds(in)
	if err != nil {
		return nil, err
	}
	y := tensor.New(x.DType, x.Shape...)
	if x.DType == tensor.Int64 {
		l, h := int64(math.MinInt64), int64(math.MaxInt64)
		if !math.IsInf(lo, -1) {
			l = int64(lo)
		}
		if !math.IsInf(hi, 1) {
			h = int64(hi)
		}
		for i, v := range x.I {
			y.I[i] = min(max(v, l), h)
		}
		return []*tensor.Tensor{y}, nil
	}
	l, h := float32(lo), float32(hi)
	parallelFor(ctx, len(x.F), elemGrain, func(lo, hi int) {
		src, dst := x.F[lo:hi], y.F[lo:hi]
		for i, v := range src {
			dst[i] = min(max(v, l), h)
		}
	})
	return []*tensor.Tensor{y}, nil
}

// Backward implements Differentiable. The bounds get no gradient.
func (c *clipOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	lo, hi, err := c.bounds(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	x := in[0]
	gx := tensor.Zeros(x.Shape...)
	grads[0] = gx
	if len(gradOut) == 0 || gradOut[0] == nil {
		return grads, nil
	}
	g := gradOut[0]
	parallelFor(ctx, len(x.F), elemGrain, func(a, b int) {
		passWhere(x.F[a:b], g.F[a:b], gx.F[a:b], float32(lo), float32(hi))
	})
	return grads, nil
}

// passWhere sets dst[i] = g[i] where lo < x[i] < hi and 0 elsewhere; an
// infinite bound is no bound (so x = +Inf passes ReLU, as in PyTorch). It
// has no branches on the data, which is half negative in a ReLU network:
// the comparisons run on order-preserving integer keys of the floats and
// give a bit mask.
func passWhere(x, g, dst []float32, lo, hi float32) {
	g = g[:len(x)]
	dst = dst[:len(x)]
	kl, kh := floatKey(lo), floatKey(hi)
	if math.IsInf(float64(lo), -1) {
		kl = -1 << 40 // below every key
	}
	if math.IsInf(float64(hi), 1) {
		kh = 1 << 40 // above every key
	}
	for i, v := range x {
		k := floatKey(v)
		m := uint32((kl-k)>>63) & uint32((k-kh)>>63)
		dst[i] = math.Float32frombits(math.Float32bits(g[i]) & m)
	}
}

// floatKey maps a float32 to an integer with the same order (-0 just
// below +0; NaN above +Inf or below -Inf by its sign bit).
func floatKey(v float32) int64 {
	b := int32(math.Float32bits(v))
	return int64(b ^ (b>>31)&0x7fffffff)
}

// identityOp is Identity: its output shares the input's data.
type identityOp struct{}

// Infer implements Op.
func (identityOp) Infer(in []Value) ([]Value, error) {
	v, err := unaryInfer("Identity", in, true)
	if err != nil {
		return nil, err
	}
	v[0].Const = in[0].Const
	return v, nil
}

// Forward implements Op.
func (identityOp) Forward(_ *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, err := unaryArg("Identity", in, true)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{x.Reshaped(x.Shape...)}, nil
}

// Backward implements Differentiable.
func (identityOp) Backward(_ *Ctx, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return passGrad(in, gradOut, need), nil
}

// passGrad returns gradOut[0] as the gradient of input 0 (zeros when nil).
func passGrad(in, gradOut []*tensor.Tensor, need []bool) []*tensor.Tensor {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || in[0].DType != tensor.Float32 {
		return grads
	}
	if len(gradOut) > 0 && gradOut[0] != nil {
		grads[0] = gradOut[0]
	} else {
		grads[0] = tensor.Zeros(in[0].Shape...)
	}
	return grads
}

// dropoutOp is Dropout at inference: the identity, with an all-ones mask
// for the optional second output when the node asks for it. Opset 12's
// training_mode input set to true is refused unless the ratio is 0; the
// is_test attribute of opsets before 7 is ignored, as inference runtimes
// do.
type dropoutOp struct {
	mask bool // the node names the mask output
}

func newDropout(n *graph.Node, opset int64) (Op, error) {
	return &dropoutOp{mask: len(n.Outputs) > 1 && n.Outputs[1] != ""}, nil
}

// Infer implements Op.
func (d *dropoutOp) Infer(in []Value) ([]Value, error) {
	v, err := unaryInfer("Dropout", in, false)
	if err != nil {
		return nil, err
	}
	if d.mask {
		v = append(v, Value{DType: tensor.Int64, Shape: append([]int(nil), in[0].Shape...)})
	}
	return v, nil
}

// Forward implements Op.
func (d *dropoutOp) Forward(_ *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	x, err := unaryArg("Dropout", in, false)
	if err != nil {
		return nil, err
	}
	ratio, training := float32(0.5), false
	if len(in) > 1 && in[1] != nil {
		ratio = in[1].Float32s()[0]
	}
	if len(in) > 2 && in[2] != nil {
		training = in[2].Int64s()[0] != 0
	}
	if training && ratio != 0 {
		return nil, fmt.Errorf("Dropout: training mode is not supported")
	}
	y := x.Reshaped(x.Shape...)
	if !d.mask {
		return []*tensor.Tensor{y}, nil
	}
	mask := tensor.New(tensor.Int64, x.Shape...)
	for i := range mask.I {
		mask.I[i] = 1
	}
	return []*tensor.Tensor{y, mask}, nil
}

// Backward implements Differentiable.
func (d *dropoutOp) Backward(_ *Ctx, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return passGrad(in, gradOut, need), nil
}
