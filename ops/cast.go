package ops

// Cast and CastLike (ONNX Cast, CastLike). Every float type is computed as
// float32 and every integer or boolean type as int64, so a cast changes the
// DType and then reproduces the target type's value set: float16 and
// bfloat16 targets round to that precision (round to nearest even), narrow
// integer targets wrap as two's-complement conversions do, bool gives 0 or
// 1, and float to integer truncates toward zero.

import (
	"fmt"
	"math"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("Cast", newCast)
	Register("CastLike", newCastLike)
}

// ONNX TensorProto.DataType codes.
const (
	onnxFloat    = 1
	onnxUint8    = 2
	onnxInt8     = 3
	onnxUint16   = 4
	onnxInt16    = 5
	onnxInt32    = 6
	onnxInt64    = 7
	onnxString   = 8
	onnxBool     = 9
	onnxFloat16  = 10
	onnxDouble   = 11
	onnxUint32   = 12
	onnxUint64   = 13
	onnxBfloat16 = 16
)

// castTarget is the type a Cast converts to.
type castTarget struct {
	dtype tensor.DType
	code  int64 // ONNX data type code; 0 for CastLike (no narrowing)
}

func targetOf(code int64) (castTarget, error) {
	switch code {
	case onnxFloat, onnxDouble, onnxFloat16, onnxBfloat16:
		return castTarget{tensor.Float32, code}, nil
	case onnxUint8, onnxInt8, onnxUint16, onnxInt16, onnxInt32, onnxInt64, onnxBool, onnxUint32, onnxUint64:
		return castTarget{tensor.Int64, code}, nil
	case onnxString:
		return castTarget{}, fmt.Errorf("Cast: casting to string is not supported")
	}
	return castTarget{}, fmt.Errorf("Cast: unsupported target type %d", code)
}

type castOp struct {
	like bool // CastLike: the target is the type of input 1
	to   castTarget
}

func newCast(n *graph.Node, opset int64) (Op, error) {
	a := n.Attr("to")
	if a == nil {
		return nil, fmt.Errorf("Cast: to attribute is required")
	}
	t, err := targetOf(a.I)
	if err != nil {
		return nil, err
	}
	return &castOp{to: t}, nil
}

func newCastLike(*graph.Node, int64) (Op, error) { return &castOp{like: true}, nil }

func (op *castOp) name() string {
	if op.like {
		return "CastLike"
	}
	return "Cast"
}

func (op *castOp) target(like tensor.DType) castTarget {
	if op.like {
		return castTarget{dtype: like}
	}
	return op.to
}

func (op *castOp) arity() (int, int) {
	if op.like {
		return 2, 2
	}
	return 1, 1
}

func (op *castOp) Infer(in []Value) ([]Value, error) {
	lo, hi := op.arity()
	if err := checkArity(op.name(), len(in), lo, hi); err != nil {
		return nil, err
	}
	var like tensor.DType
	if op.like {
		like = in[1].DType
	}
	return []Value{{DType: op.target(like).dtype, Shape: in[0].Shape}}, nil
}

func (op *castOp) Forward(_ *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	lo, hi := op.arity()
	if err := checkArity(op.name(), len(in), lo, hi); err != nil {
		return nil, err
	}
	var like tensor.DType
	if op.like {
		like = in[1].DType
	}
	return []*tensor.Tensor{castTo(in[0], op.target(like))}, nil
}

// castTo converts x to the target type.
func castTo(x *tensor.Tensor, t castTarget) *tensor.Tensor {
	out := tensor.New(t.dtype, x.Shape...)
	switch {
	case t.dtype == tensor.Float32:
		round := func(v float32) float32 { return v }
		switch t.code {
		case onnxFloat16:
			round = roundFloat16
		case onnxBfloat16:
			round = roundBfloat16
		}
		if x.DType == tensor.Float32 {
			for i, v := range x.F {
				out.F[i] = round(v)
			}
		} else {
			for i, v := range x.I {
				out.F[i] = round(float32(v))
			}
		}
	case x.DType == tensor.Float32:
		for i, v := range x.F {
			if t.code == onnxBool {
				out.I[i] = b2i(v != 0)
			} else {
				out.I[i] = narrowInt(int64(v), t.code) // Go truncates toward zero
			}
		}
	default:
		for i, v := range x.I {
			out.I[i] = narrowInt(v, t.code)
		}
	}
	return out
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// narrowInt reduces v to the value set of the integer type code, as a
// two's-complement conversion does.
func narrowInt(v int64, code int64) int64 {
	switch code {
	case onnxUint8:
		return int64(uint8(v))
	case onnxInt8:
		return int64(int8(v))
	case onnxUint16:
		return int64(uint16(v))
	case onnxInt16:
		return int64(int16(v))
	case onnxInt32:
		return int64(int32(v))
	case onnxUint32:
		return int64(uint32(v))
	case onnxBool:
		return b2i(v != 0)
	}
	return v
}

// roundFloat16 rounds x to the nearest IEEE 754 binary16 value (ties to
// even), overflowing to infinity beyond the largest finite one, 65504.
func roundFloat16(x float32) float32 {
	f := float64(x)
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return x
	}
	// The spacing of binary16 values around |f|: 2^-24 among subnormals
	// (below 2^-14), else 2^(e-11) for |f| in [2^(e-1), 2^e), with 10
	// stored mantissa bits.
	q := 0x1p-24
	if a := math.Abs(f); a >= 0x1p-14 {
		_, e := math.Frexp(a)
		q = math.Ldexp(1, e-11)
	}
	r := math.RoundToEven(f/q) * q
	if math.Abs(r) > 65504 {
		return float32(math.Inf(int(math.Copysign(1, r))))
	}
	return float32(r)
}

// roundBfloat16 rounds x to the nearest bfloat16 value (the upper 16 bits
// of a float32; ties to even).
func roundBfloat16(x float32) float32 {
	if x != x {
		return x
	}
	b := math.Float32bits(x)
	b += 0x7fff + (b>>16)&1
	return math.Float32frombits(b &^ 0xffff)
}

// Backward passes the gradient straight through float-to-float casts
// (rounding to a narrower float is treated as the identity); a cast to an
// integer type has zero gradient.
func (op *castOp) Backward(_ *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	x := in[0]
	if !wants(need, 0) || !floatData(x) {
		return g, nil
	}
	if out[0].DType != tensor.Float32 || gradOut[0] == nil {
		g[0] = tensor.Zeros(x.Shape...)
		return g, nil
	}
	g[0] = tensor.FromFloat32(x.Shape, append([]float32(nil), gradOut[0].F...))
	return g, nil
}
