package ops

// Constant (ONNX Constant): a tensor given by exactly one of the attributes
// value, value_float, value_floats, value_int or value_ints. String and
// sparse values are not supported.

import (
	"fmt"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("Constant", newConstant)
}

type constantOp struct{ value *tensor.Tensor }

func newConstant(n *graph.Node, opset int64) (Op, error) {
	var v *tensor.Tensor
	count := 0
	for name, a := range n.Attrs {
		switch name {
		case "value":
			if a.T == nil {
				return nil, fmt.Errorf("Constant: value attribute holds no tensor")
			}
			v = a.T
		case "value_float":
			v = tensor.FromFloat32([]int{}, []float32{a.F})
		case "value_floats":
			v = tensor.FromFloat32([]int{len(a.Floats)}, append([]float32{}, a.Floats...))
		case "value_int":
			v = tensor.FromInt64([]int{}, []int64{a.I})
		case "value_ints":
			v = tensor.FromInt64([]int{len(a.Ints)}, append([]int64{}, a.Ints...))
		case "value_string", "value_strings":
			return nil, fmt.Errorf("Constant: string values are not supported")
		case "sparse_value":
			return nil, fmt.Errorf("Constant: sparse values are not supported")
		default:
			continue
		}
		count++
	}
	if count != 1 {
		return nil, fmt.Errorf("Constant: %d value attributes, want exactly 1", count)
	}
	return &constantOp{value: v}, nil
}

func (op *constantOp) Infer(in []Value) ([]Value, error) {
	if err := checkArity("Constant", len(in), 0, 0); err != nil {
		return nil, err
	}
	v := op.value.Clone()
	return []Value{{DType: v.DType, Shape: v.Shape, Const: v}}, nil
}

func (op *constantOp) Forward(_ *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkArity("Constant", len(in), 0, 0); err != nil {
		return nil, err
	}
	return []*tensor.Tensor{op.value.Clone()}, nil
}

// Backward has no inputs to differentiate.
func (op *constantOp) Backward(_ *Ctx, in, _, _ []*tensor.Tensor, _ []bool) ([]*tensor.Tensor, error) {
	return make([]*tensor.Tensor, len(in)), nil
}
