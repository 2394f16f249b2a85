package ops_test

import (
	"math"
	"testing"

	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

func TestSlice1D(t *testing.T) {
	const (
		big   = math.MaxInt64
		small = math.MinInt64
	)
	x := mvIota(10)
	tests := []struct {
		name             string
		start, end, step int64
		want             []float32
	}{
		{"plain", 2, 5, 1, []float32{2, 3, 4}},
		{"negative-start", -3, big, 1, []float32{7, 8, 9}},
		{"start-clamped", -100, 3, 1, []float32{0, 1, 2}},
		{"end-clamped", 8, 1000, 1, []float32{8, 9}},
		{"step2", 1, 8, 2, []float32{1, 3, 5, 7}},
		{"step3-uneven", 0, 10, 3, []float32{0, 3, 6, 9}},
		{"reverse-all", -1, small, -1, []float32{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"reverse-step3", 8, 0, -3, []float32{8, 5, 2}},
		{"reverse-clamped", 20, -20, -1, []float32{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"reverse-to-neg", 5, -8, -2, []float32{5, 3}},
		{"empty", 5, 2, 1, []float32{}},
		{"empty-reverse", 2, 5, -1, []float32{}},
		{"past-end", 12, 20, 1, []float32{}},
	}
	op := mvBuild(t, mvNode("Slice", 1), 13)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := mvRun(t, op, x, mvVec(tc.start), mvVec(tc.end), mvVec(0), mvVec(tc.step))
			if err != nil {
				t.Fatal(err)
			}
			mvEqual(t, out[0], mvF([]int{len(tc.want)}, tc.want...))
		})
	}
}

func TestSlice2D(t *testing.T) {
	x := mvIota(3, 4) // rows 0..3, 4..7, 8..11
	op := mvBuild(t, mvNode("Slice", 1), 13)
	tests := []struct {
		name                      string
		starts, ends, axes, steps *tensor.Tensor
		want                      *tensor.Tensor
	}{
		{"axis1", mvVec(1), mvVec(3), mvVec(1), nil, mvF([]int{3, 2}, 1, 2, 5, 6, 9, 10)},
		{"default-axes", mvVec(1, 2), mvVec(3, 4), nil, nil, mvF([]int{2, 2}, 6, 7, 10, 11)},
		{"neg-axes-steps", mvVec(0, 3), mvVec(3, 0), mvVec(-2, 1), mvVec(2, -2), mvF([]int{2, 2}, 3, 1, 11, 9)},
		{"reverse-rows", mvVec(-1), mvVec(math.MinInt64), mvVec(0), mvVec(-1), mvF([]int{3, 4}, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []*tensor.Tensor{x, tc.starts, tc.ends, tc.axes, tc.steps}
			for len(in) > 3 && in[len(in)-1] == nil {
				in = in[:len(in)-1]
			}
			out, err := mvRun(t, op, in...)
			if err != nil {
				t.Fatal(err)
			}
			mvEqual(t, out[0], tc.want)
		})
	}
	// Int64 data, as in shape computations (x.shape[-2:]).
	out, err := mvRun(t, op, mvVec(1, 3, 224, 224), mvVec(-2), mvVec(math.MaxInt64))
	if err != nil {
		t.Fatal(err)
	}
	mvEqual(t, out[0], mvVec(224, 224))

	// Errors: zero step, repeated axis, non-constant starts at planning.
	if _, err := mvRun(t, op, x, mvVec(0), mvVec(2), mvVec(0), mvVec(0)); err == nil {
		t.Error("step 0 accepted")
	}
	if _, err := mvRun(t, op, x, mvVec(0, 0), mvVec(2, 2), mvVec(1, -1)); err == nil {
		t.Error("repeated axis accepted")
	}
	if _, err := op.Infer([]ops.Value{{DType: tensor.Float32, Shape: []int{3, 4}}, {DType: tensor.Int64, Shape: []int{1}}, {DType: tensor.Int64, Shape: []int{1}, Const: mvVec(2)}}); err == nil {
		t.Error("Infer accepted non-constant starts")
	}
}

func TestSliceOpset1(t *testing.T) {
	op := mvBuild(t, mvNode("Slice", 1, mvInts("starts", 1, 0), mvInts("ends", 100, -1), mvInts("axes", 0, 1)), 9)
	out, err := mvRun(t, op, mvIota(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	mvEqual(t, out[0], mvF([]int{2, 3}, 4, 5, 6, 8, 9, 10))
	if _, err := ops.New(mvNode("Slice", 1, mvInts("starts", 1)), 9); err == nil {
		t.Error("opset 9 Slice without ends accepted")
	}
}

func TestSliceGrad(t *testing.T) {
	op := mvBuild(t, mvNode("Slice", 1), 13)
	mvGrad(t, op, []*tensor.Tensor{mvRand(1, 4, 5, 6), mvVec(-1, 1), mvVec(0, 6), mvVec(0, 2), mvVec(-2, 2)}, []bool{true})
	mvGrad(t, op, []*tensor.Tensor{mvRand(2, 4, 5), mvVec(1), mvVec(3)}, []bool{true})
}
