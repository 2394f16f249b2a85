package ops_test

import (
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

func TestConstant(t *testing.T) {
	tests := []struct {
		name  string
		attrs []*graph.Attr
		want  *tensor.Tensor // nil: error
	}{
		{"value", []*graph.Attr{mvTensorAttr("value", mvF([]int{2, 2}, 1, 2, 3, 4))}, mvF([]int{2, 2}, 1, 2, 3, 4)},
		{"value-int", []*graph.Attr{mvTensorAttr("value", mvVec(1, -1))}, mvVec(1, -1)},
		{"value_float", []*graph.Attr{mvFloat("value_float", 2.5)}, mvF([]int{}, 2.5)},
		{"value_floats", []*graph.Attr{{Name: "value_floats", Type: graph.AttrFloats, Floats: []float32{1, 2}}}, mvF([]int{2}, 1, 2)},
		{"value_int", []*graph.Attr{mvInt("value_int", 9)}, mvI([]int{}, 9)},
		{"value_ints", []*graph.Attr{mvInts("value_ints", 3, 4, 5)}, mvVec(3, 4, 5)},
		{"none", nil, nil},
		{"two", []*graph.Attr{mvInt("value_int", 9), mvFloat("value_float", 1)}, nil},
		{"sparse", []*graph.Attr{{Name: "sparse_value", Type: graph.AttrType(11)}}, nil},
		{"string", []*graph.Attr{mvStr("value_string", "x")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op, err := ops.New(mvNode("Constant", 1, tc.attrs...), 13)
			if tc.want == nil {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := mvRun(t, op)
			if err != nil {
				t.Fatal(err)
			}
			mvEqual(t, out[0], tc.want)
			inf, _ := op.Infer(nil)
			if inf[0].Const == nil {
				t.Fatal("Infer left Const nil")
			}
			mvEqual(t, inf[0].Const, tc.want)
			// Outputs are fresh: changing one does not change the next.
			if out[0].DType == tensor.Float32 {
				out[0].F[0] = 100
			} else {
				out[0].I[0] = 100
			}
			again, _ := op.Forward(nil, nil)
			mvEqual(t, again[0], tc.want)
		})
	}
}
