package ops_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/gradcheck"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

func TestSoftmaxForward(t *testing.T) {
	ln3 := float32(math.Log(3))
	x := f32([]int{1, 2, 2}, 0, ln3, 0, 0)
	tests := []struct {
		name  string
		opset int64
		axis  *int64
		want  []float32
	}{
		// Opset 13, default axis -1: each row [0, ln3], [0, 0].
		{"13 default", 13, nil, []float32{0.25, 0.75, 0.5, 0.5}},
		// Opset 13, axis 1: pairs (x[0,0,j], x[0,1,j]).
		{"13 axis 1", 13, ptr(1), []float32{0.5, 0.75, 0.5, 0.25}},
		{"13 axis -2", 13, ptr(-2), []float32{0.5, 0.75, 0.5, 0.25}},
		// Opset 11, default axis 1: all four elements form one row, exp
		// values 1, 3, 1, 1.
		{"11 default", 11, nil, []float32{1.0 / 6, 0.5, 1.0 / 6, 1.0 / 6}},
		{"11 axis 2", 11, ptr(2), []float32{0.25, 0.75, 0.5, 0.5}},
		// Opset 11, axis 0: still one row of four.
		{"11 axis 0", 11, ptr(0), []float32{1.0 / 6, 0.5, 1.0 / 6, 1.0 / 6}},
	}
	for _, tc := range tests {
		var attrs []*graph.Attr
		if tc.axis != nil {
			attrs = append(attrs, elemAttrI("axis", *tc.axis))
		}
		out := elemRun(t, elemNode(t, "Softmax", tc.opset, 1, attrs...), x)
		elemClose(t, "Softmax "+tc.name, out[0], x.Shape, tc.want, 1e-6)
		out = elemRun(t, elemNode(t, "LogSoftmax", tc.opset, 1, attrs...), x)
		logs := make([]float32, len(tc.want))
		for i, w := range tc.want {
			logs[i] = float32(math.Log(float64(w)))
		}
		elemClose(t, "LogSoftmax "+tc.name, out[0], x.Shape, logs, 1e-6)
	}
}

func ptr(v int64) *int64 { return &v }

func TestSoftmaxStable(t *testing.T) {
	x := f32([]int{2, 3}, 1000, 1001, 1002, -1000, -1001, -1002)
	e := []float64{math.Exp(-2), math.Exp(-1), 1}
	s := e[0] + e[1] + e[2]
	want := []float32{float32(e[0] / s), float32(e[1] / s), float32(e[2] / s), float32(e[2] / s), float32(e[1] / s), float32(e[0] / s)}
	out := elemRun(t, elemNode(t, "Softmax", 13, 1), x)
	elemClose(t, "Softmax large", out[0], x.Shape, want, 1e-6)
	out = elemRun(t, elemNode(t, "LogSoftmax", 13, 1), x)
	ls := math.Log(s)
	wantLog := []float32{float32(-2 - ls), float32(-1 - ls), float32(-ls), float32(-ls), float32(-1 - ls), float32(-2 - ls)}
	elemClose(t, "LogSoftmax large", out[0], x.Shape, wantLog, 1e-6)
}

func TestSoftmaxAxisErrors(t *testing.T) {
	x := tensor.Zeros(2, 3)
	for _, opset := range []int64{11, 13} {
		for _, axis := range []int64{2, -3} {
			op := elemNode(t, "Softmax", opset, 1, elemAttrI("axis", axis))
			if _, err := op.Infer(elemValues([]*tensor.Tensor{x})); err == nil {
				t.Errorf("opset %d: Infer accepted axis %d for rank 2", opset, axis)
			}
			if _, err := op.Forward(nil, []*tensor.Tensor{x}); err == nil {
				t.Errorf("opset %d: Forward accepted axis %d for rank 2", opset, axis)
			}
		}
	}
}

// TestSoftmaxSums checks rows sum to 1 on a larger random tensor with a
// strided (inner > 1) axis, run over several goroutines.
func TestSoftmaxSums(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	x := gradcheck.Rand(r, -5, 5, 3, 37, 29, 11)
	op := elemNode(t, "Softmax", 13, 1, elemAttrI("axis", 1))
	out, err := op.Forward(&ops.Ctx{Threads: 4}, []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	y := out[0]
	for n := range 3 {
		for j := range 29 * 11 {
			s := 0.0
			for c := range 37 {
				s += float64(y.F[(n*37+c)*29*11+j])
			}
			if math.Abs(s-1) > 1e-5 {
				t.Fatalf("sum over axis 1 at (%d, %d) = %v", n, j, s)
			}
		}
	}
}

func TestSoftmaxGradcheck(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	tests := []struct {
		opset int64
		axis  int64
		shape []int
	}{
		{13, -1, []int{2, 3, 4, 5}},
		{13, 1, []int{2, 3, 4, 5}},
		{13, 0, []int{2, 3, 4, 5}},
		{13, -1, []int{7}},
		{13, 2, []int{3, 1, 5}},
		{11, 1, []int{2, 3, 4, 5}},
		{11, 3, []int{2, 3, 4, 5}},
		{11, 0, []int{3, 5}},
		{11, -1, []int{1, 10}},
	}
	for _, name := range []string{"Softmax", "LogSoftmax"} {
		for _, tc := range tests {
			op := elemNode(t, name, tc.opset, 1, elemAttrI("axis", tc.axis)).(ops.Differentiable)
			t.Run(fmt.Sprintf("%s/%d/axis%d/%v", name, tc.opset, tc.axis, tc.shape), func(t *testing.T) {
				x := gradcheck.Rand(r, -3, 3, tc.shape...)
				gradcheck.Check(t, op, []*tensor.Tensor{x}, []bool{true}, gradcheck.Options{Seed: 6})
			})
		}
	}
}
