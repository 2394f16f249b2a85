package ops_test

import (
	"math"
	"testing"

	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// ONNX TensorProto.DataType codes used below.
const (
	mvFLOAT    = 1
	mvUINT8    = 2
	mvINT8     = 3
	mvUINT16   = 4
	mvINT16    = 5
	mvINT32    = 6
	mvINT64    = 7
	mvSTRING   = 8
	mvBOOL     = 9
	mvFLOAT16  = 10
	mvDOUBLE   = 11
	mvUINT32   = 12
	mvBFLOAT16 = 16
)

func TestCast(t *testing.T) {
	inf := float32(math.Inf(1))
	tests := []struct {
		name string
		to   int64
		x    *tensor.Tensor
		want *tensor.Tensor
	}{
		{"float-int64-truncates", mvINT64, mvF([]int{5}, 1.7, -1.7, 0, 2.5, -0.5), mvI([]int{5}, 1, -1, 0, 2, 0)},
		{"float-int32", mvINT32, mvF([]int{2}, 3e9, -7.9), mvI([]int{2}, -1294967296, -7)},
		{"float-bool", mvBOOL, mvF([]int{4}, 0.1, 0, -2, float32(math.NaN())), mvI([]int{4}, 1, 0, 1, 1)},
		{"int-bool", mvBOOL, mvVec(0, 5, -1), mvVec(0, 1, 1)},
		{"int-uint8-wraps", mvUINT8, mvVec(300, -1, 255), mvVec(44, 255, 255)},
		{"int-int8-wraps", mvINT8, mvVec(300, -1, 200), mvVec(44, -1, -56)},
		{"int-uint16", mvUINT16, mvVec(-1, 65536), mvVec(65535, 0)},
		{"int-int16", mvINT16, mvVec(40000), mvVec(-25536)},
		{"int-uint32", mvUINT32, mvVec(-1), mvVec(4294967295)},
		{"int-float", mvFLOAT, mvVec(3, -2), mvF([]int{2}, 3, -2)},
		{"float-double", mvDOUBLE, mvF([]int{2}, 0.1, -3), mvF([]int{2}, 0.1, -3)},
		// binary16: 10 mantissa bits; 0.1 -> 0x2E66 = 0.0999755859375;
		// 1+2^-11 is a tie and goes to even (1); 1+3*2^-11 goes to 1+2^-9.
		{"float16-round", mvFLOAT16, mvF([]int{4}, 0.1, 1+0x1p-11, 1+3*0x1p-11, -2049),
			mvF([]int{4}, 0.0999755859375, 1, 1+0x1p-9, -2048)},
		// Largest finite 65504; 65519 rounds down to it, 65520 overflows.
		{"float16-range", mvFLOAT16, mvF([]int{4}, 65519, 65520, -1e6, inf), mvF([]int{4}, 65504, inf, -inf, inf)},
		// Subnormals are multiples of 2^-24; 1e-8 rounds to 0, 3e-8 up.
		{"float16-subnormal", mvFLOAT16, mvF([]int{3}, 1e-8, 3e-8, 0x1p-20+0x1p-25), mvF([]int{3}, 0, 0x1p-24, 0x1p-20)},
		{"int-float16", mvFLOAT16, mvVec(4097), mvF([]int{1}, 4096)},
		// bfloat16: 7 mantissa bits; ties go to even.
		{"bfloat16", mvBFLOAT16, mvF([]int{4}, 1+0x1p-8, 1+3*0x1p-8, 1+0x1p-8+0x1p-20, 3.14159),
			mvF([]int{4}, 1, 1+0x1p-6, 1+0x1p-7, 3.140625)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := mvBuild(t, mvNode("Cast", 1, mvInt("to", tc.to)), 13)
			out, err := mvRun(t, op, tc.x)
			if err != nil {
				t.Fatal(err)
			}
			mvEqual(t, out[0], tc.want)
		})
	}
	for _, bad := range []int64{mvSTRING, 14, 0, 99} {
		if _, err := ops.New(mvNode("Cast", 1, mvInt("to", bad)), 13); err == nil {
			t.Errorf("Cast to %d accepted", bad)
		}
	}
	if _, err := ops.New(mvNode("Cast", 1), 13); err == nil {
		t.Error("Cast without to accepted")
	}
}

func TestCastLike(t *testing.T) {
	op := mvBuild(t, mvNode("CastLike", 1), 15)
	out, err := mvRun(t, op, mvF([]int{2}, 2.9, -2.9), mvVec(0))
	if err != nil {
		t.Fatal(err)
	}
	mvEqual(t, out[0], mvVec(2, -2))
	out, err = mvRun(t, op, mvVec(7), mvF([]int{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	mvEqual(t, out[0], mvF([]int{1}, 7))
}

func TestCastGrad(t *testing.T) {
	for _, to := range []int64{mvFLOAT, mvDOUBLE} {
		op := mvBuild(t, mvNode("Cast", 1, mvInt("to", to)), 13)
		mvGrad(t, op, []*tensor.Tensor{mvRand(1, 3, 4)}, []bool{true})
	}
	// A cast to an integer type passes no gradient.
	op := mvBuild(t, mvNode("Cast", 1, mvInt("to", mvINT64)), 13).(ops.Differentiable)
	x := mvRand(2, 5)
	out, _ := op.Forward(nil, []*tensor.Tensor{x})
	g, err := op.Backward(nil, []*tensor.Tensor{x}, out, []*tensor.Tensor{nil}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	mvEqual(t, g[0], tensor.Zeros(5))
}
