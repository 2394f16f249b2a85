package ops_test

import (
	"testing"

	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

func TestPad(t *testing.T) {
	// The examples of the ONNX Pad specification.
	spec := mvF([]int{3, 2}, 1.0, 1.2, 2.3, 3.4, 4.5, 5.7)
	x := mvF([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	tests := []struct {
		name  string
		mode  string
		x     *tensor.Tensor
		pads  []int64
		value *tensor.Tensor
		axes  *tensor.Tensor
		want  *tensor.Tensor // nil: error
	}{
		{"spec-constant", "constant", spec, []int64{0, 2, 0, 0}, mvF([]int{}, 0), nil,
			mvF([]int{3, 4}, 0, 0, 1.0, 1.2, 0, 0, 2.3, 3.4, 0, 0, 4.5, 5.7)},
		{"spec-reflect", "reflect", spec, []int64{0, 2, 0, 0}, nil, nil,
			mvF([]int{3, 4}, 1.0, 1.2, 1.0, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7, 4.5, 5.7)},
		{"spec-edge", "edge", spec, []int64{0, 2, 0, 0}, nil, nil,
			mvF([]int{3, 4}, 1.0, 1.0, 1.0, 1.2, 2.3, 2.3, 2.3, 3.4, 4.5, 4.5, 4.5, 5.7)},
		{"constant-value", "constant", x, []int64{1, 0, 0, 1}, mvF([]int{}, 9), nil,
			mvF([]int{3, 4}, 9, 9, 9, 9, 1, 2, 3, 9, 4, 5, 6, 9)},
		{"default-value", "constant", x, []int64{0, 1, 0, 0}, nil, nil,
			mvF([]int{2, 4}, 0, 1, 2, 3, 0, 4, 5, 6)},
		{"crop", "constant", x, []int64{-1, 0, 0, 1}, mvF([]int{}, 5), nil,
			mvF([]int{1, 4}, 4, 5, 6, 5)},
		{"crop-both-sides", "constant", x, []int64{0, -1, 0, -1}, nil, nil, mvF([]int{2, 1}, 2, 5)},
		{"reflect-2d", "reflect", x, []int64{1, 2, 1, 2}, nil, nil, mvF([]int{4, 7},
			6, 5, 4, 5, 6, 5, 4,
			3, 2, 1, 2, 3, 2, 1,
			6, 5, 4, 5, 6, 5, 4,
			3, 2, 1, 2, 3, 2, 1)},
		{"edge-2d", "edge", x, []int64{1, 1, 0, 2}, nil, nil, mvF([]int{3, 6},
			1, 1, 2, 3, 3, 3,
			1, 1, 2, 3, 3, 3,
			4, 4, 5, 6, 6, 6)},
		{"wrap-2d", "wrap", x, []int64{1, 2, 0, 1}, nil, nil, mvF([]int{3, 6},
			5, 6, 4, 5, 6, 4,
			2, 3, 1, 2, 3, 1,
			5, 6, 4, 5, 6, 4)},
		// numpy.pad([1, 2, 3], 4, mode="reflect") reflects repeatedly.
		{"reflect-wide", "reflect", mvF([]int{3}, 1, 2, 3), []int64{4, 4}, nil, nil,
			mvF([]int{11}, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3)},
		{"axes", "constant", x, []int64{1, 1}, mvF([]int{}, -1), mvVec(-1),
			mvF([]int{2, 5}, -1, 1, 2, 3, -1, -1, 4, 5, 6, -1)},
		{"int64", "constant", mvVec(3, 4), []int64{1, 2}, mvI([]int{}, 1), nil, mvVec(1, 3, 4, 1, 1)},
		{"int64-edge", "edge", mvVec(3, 4), []int64{1, 0}, nil, nil, mvVec(3, 3, 4)},
		{"scalar", "constant", mvF([]int{}, 3), []int64{}, nil, nil, mvF([]int{}, 3)},
		{"bad-length", "constant", x, []int64{1, 1}, nil, nil, nil},
		{"over-crop", "constant", x, []int64{-2, 0, -1, 0}, nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := mvBuild(t, mvNode("Pad", 1, mvStr("mode", tc.mode)), 18)
			in := []*tensor.Tensor{tc.x, mvVec(tc.pads...), tc.value, tc.axes}
			for len(in) > 2 && in[len(in)-1] == nil {
				in = in[:len(in)-1]
			}
			out, err := mvRun(t, op, in...)
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
		})
	}
}

func TestPadAttributes(t *testing.T) {
	x := mvF([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	for _, name := range []string{"pads", "paddings"} {
		op := mvBuild(t, mvNode("Pad", 1, mvInts(name, 0, 1, 1, 0), mvFloat("value", 7)), 2)
		out, err := mvRun(t, op, x)
		if err != nil {
			t.Fatal(err)
		}
		mvEqual(t, out[0], mvF([]int{3, 4}, 7, 1, 2, 3, 7, 4, 5, 6, 7, 7, 7, 7))
	}
	if _, err := mvRun(t, mvBuild(t, mvNode("Pad", 1, mvStr("mode", "reflect")), 13), mvF([]int{0}), mvVec(1, 1)); err == nil {
		t.Error("reflect-padding an empty dimension succeeded")
	}
	if _, err := ops.New(mvNode("Pad", 1, mvStr("mode", "symmetric")), 13); err == nil {
		t.Error("unknown mode accepted")
	}
}

// TestPadLarge checks constant padding of an image-sized tensor against
// the definition, with several goroutines.
func TestPadLarge(t *testing.T) {
	x := mvIota(2, 3, 40, 50)
	op := mvBuild(t, mvNode("Pad", 1), 13)
	out, err := mvRun(t, op, x, mvVec(0, 0, 2, 3, 0, 0, 1, -2), mvF([]int{}, -1))
	if err != nil {
		t.Fatal(err)
	}
	want := tensor.Zeros(2, 3, 43, 51)
	for n := range 2 {
		for c := range 3 {
			for h := range 43 {
				for w := range 51 {
					v := float32(-1)
					if sh, sw := h-2, w-3; sh >= 0 && sh < 40 && sw >= 0 && sw < 50 {
						v = x.F[((n*3+c)*40+sh)*50+sw]
					}
					want.F[((n*3+c)*43+h)*51+w] = v
				}
			}
		}
	}
	mvEqual(t, out[0], want)
}

func TestPadGrad(t *testing.T) {
	for _, mode := range []string{"constant", "reflect", "edge", "wrap"} {
		t.Run(mode, func(t *testing.T) {
			op := mvBuild(t, mvNode("Pad", 1, mvStr("mode", mode)), 18)
			x := mvRand(1, 2, 4, 5)
			mvGrad(t, op, []*tensor.Tensor{x, mvVec(0, 2, 3, 0, 3, -1)}, []bool{true})
			mvGrad(t, op, []*tensor.Tensor{x, mvVec(1, 1), nil, mvVec(1)}, []bool{true})
		})
	}
	// The constant's own gradient is the sum over the border.
	op := mvBuild(t, mvNode("Pad", 1), 13)
	mvGrad(t, op, []*tensor.Tensor{mvRand(2, 3, 4), mvVec(1, 0, 2, -1), mvF([]int{}, 0.5)}, []bool{true, false, true})
	op2 := mvBuild(t, mvNode("Pad", 1, mvInts("pads", 1, 1, 0, 1)), 2)
	mvGrad(t, op2, []*tensor.Tensor{mvRand(3, 2, 2)}, []bool{true})
}
