package ops_test

import (
	"testing"

	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

func TestGather(t *testing.T) {
	data := mvF([]int{3, 2}, 1, 2, 3, 4, 5, 6)
	tests := []struct {
		name string
		axis int64
		x    *tensor.Tensor
		idx  *tensor.Tensor
		want *tensor.Tensor // nil: error
	}{
		{"2d-indices", 0, data, mvI([]int{2, 2}, 0, 1, 1, 2), mvF([]int{2, 2, 2}, 1, 2, 3, 4, 3, 4, 5, 6)},
		{"axis1-negative", 1, data, mvI([]int{1}, -1), mvF([]int{3, 1}, 2, 4, 6)},
		{"axis-1", -1, data, mvI([]int{2}, 1, 0), mvF([]int{3, 2}, 2, 1, 4, 3, 6, 5)},
		{"scalar-index", 0, data, mvI([]int{}, 2), mvF([]int{2}, 5, 6)},
		{"repeat", 0, data, mvI([]int{3}, 0, 0, -3), mvF([]int{3, 2}, 1, 2, 1, 2, 1, 2)},
		{"empty-indices", 0, data, mvI([]int{0}), mvF([]int{0, 2})},
		{"int64-shape", 0, mvVec(1, 3, 224, 224), mvI([]int{}, -1), mvI([]int{}, 224)},
		{"int64-many", 0, mvVec(1, 3, 224, 224), mvVec(0, 1), mvVec(1, 3)},
		{"out-of-range", 0, data, mvI([]int{1}, 3), nil},
		{"out-of-range-neg", 1, data, mvI([]int{1}, -3), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := mvBuild(t, mvNode("Gather", 1, mvInt("axis", tc.axis)), 13)
			out, err := op.Forward(nil, []*tensor.Tensor{tc.x, tc.idx})
			if tc.want == nil {
				if err == nil {
					t.Fatalf("got %v, want an error", out[0])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mvEqual(t, out[0], tc.want)
			inf, err := op.Infer([]ops.Value{{DType: tc.x.DType, Shape: tc.x.Shape}, {DType: tensor.Int64, Shape: tc.idx.Shape}})
			if err != nil || !tensor.EqualShape(inf[0].Shape, tc.want.Shape) {
				t.Fatalf("Infer: %v %v, want shape %v", inf, err, tc.want.Shape)
			}
		})
	}
}

func TestGatherGrad(t *testing.T) {
	op := mvBuild(t, mvNode("Gather", 1, mvInt("axis", 1)), 13)
	mvGrad(t, op, []*tensor.Tensor{mvRand(1, 2, 4, 3), mvI([]int{2, 2}, 0, 2, 0, -1)}, []bool{true, false})

	// Repeated indices accumulate: gathering row 0 twice doubles its gradient.
	d := mvBuild(t, mvNode("Gather", 1), 13).(ops.Differentiable)
	in := []*tensor.Tensor{mvIota(3, 2), mvI([]int{3}, 0, 2, 0)}
	out, _ := d.Forward(nil, in)
	g, err := d.Backward(nil, in, out, []*tensor.Tensor{mvF([]int{3, 2}, 1, 2, 3, 4, 5, 6)}, []bool{true, true})
	if err != nil {
		t.Fatal(err)
	}
	mvEqual(t, g[0], mvF([]int{3, 2}, 6, 8, 0, 0, 3, 4))
	if g[1] != nil {
		t.Error("gradient for the indices")
	}
}
