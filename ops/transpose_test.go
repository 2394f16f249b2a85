package ops_test

import (
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// mvNaiveTranspose is the textbook definition, element by element:
// out[i_0..i_{r-1}] = x[j] with j[perm[k]] = i_k.
func mvNaiveTranspose(x *tensor.Tensor, perm []int) *tensor.Tensor {
	r := x.Rank()
	os := make([]int, r)
	for k, p := range perm {
		os[k] = x.Shape[p]
	}
	out := tensor.New(x.DType, os...)
	idx := make([]int, r)
	src := make([]int, r)
	for o := range out.Len() {
		rem := o
		for k := r - 1; k >= 0; k-- {
			idx[k] = rem % os[k]
			rem /= os[k]
		}
		for k, p := range perm {
			src[p] = idx[k]
		}
		off := tensor.Offset(x.Shape, src)
		if x.DType == tensor.Int64 {
			out.I[o] = x.I[off]
		} else {
			out.F[o] = x.F[off]
		}
	}
	return out
}

func TestTransposeSmall(t *testing.T) {
	tests := []struct {
		name string
		perm []int64
		x    *tensor.Tensor
		want *tensor.Tensor
	}{
		{"default-2d", nil, mvF([]int{2, 3}, 1, 2, 3, 4, 5, 6), mvF([]int{3, 2}, 1, 4, 2, 5, 3, 6)},
		{"default-3d", nil, mvIota(2, 1, 2), mvF([]int{2, 1, 2}, 0, 2, 1, 3)},
		{"swap-leading", []int64{1, 0, 2}, mvIota(2, 2, 2), mvF([]int{2, 2, 2}, 0, 1, 4, 5, 2, 3, 6, 7)},
		{"int64", []int64{1, 0}, mvI([]int{1, 3}, 7, 8, 9), mvI([]int{3, 1}, 7, 8, 9)},
		{"nchw-to-nhwc", []int64{0, 2, 3, 1}, mvIota(1, 2, 2, 2), mvF([]int{1, 2, 2, 2}, 0, 4, 1, 5, 2, 6, 3, 7)},
		{"nhwc-to-nchw", []int64{0, 3, 1, 2}, mvIota(1, 2, 2, 2), mvF([]int{1, 2, 2, 2}, 0, 2, 4, 6, 1, 3, 5, 7)},
		{"scalar", nil, mvF([]int{}, 3), mvF([]int{}, 3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var attrs []*graph.Attr
			if tc.perm != nil {
				attrs = append(attrs, mvInts("perm", tc.perm...))
			}
			out, err := mvRun(t, mvBuild(t, mvNode("Transpose", 1, attrs...), 13), tc.x)
			if err != nil {
				t.Fatal(err)
			}
			mvEqual(t, out[0], tc.want)
		})
	}
	for _, bad := range [][]int64{{0, 0}, {0, 2}, {0}} {
		if _, err := mvRun(t, mvBuild(t, mvNode("Transpose", 1, mvInts("perm", bad...)), 13), mvIota(2, 3)); err == nil {
			t.Errorf("perm %v accepted for rank 2", bad)
		}
	}
}

// TestTransposeLarge compares the blocked and strided paths with the
// definition on shapes that are not multiples of the tile size, with
// several goroutines.
func TestTransposeLarge(t *testing.T) {
	tests := []struct {
		shape []int
		perm  []int
	}{
		{[]int{2, 5, 33, 35}, []int{0, 2, 3, 1}},
		{[]int{2, 33, 35, 5}, []int{0, 3, 1, 2}},
		{[]int{70, 45}, []int{1, 0}},
		{[]int{3, 4, 5, 6}, []int{2, 0, 3, 1}},
		{[]int{4, 5, 60}, []int{1, 0, 2}},
		{[]int{1, 64, 7, 7}, []int{0, 2, 3, 1}},
	}
	for _, tc := range tests {
		perm := make([]int64, len(tc.perm))
		for i, p := range tc.perm {
			perm[i] = int64(p)
		}
		op := mvBuild(t, mvNode("Transpose", 1, mvInts("perm", perm...)), 13)
		x := mvIota(tc.shape...)
		out, err := mvRun(t, op, x)
		if err != nil {
			t.Fatal(err)
		}
		mvEqual(t, out[0], mvNaiveTranspose(x, tc.perm))
		xi := tensor.New(tensor.Int64, tc.shape...)
		for i := range xi.I {
			xi.I[i] = int64(i) * 3
		}
		out, err = mvRun(t, op, xi)
		if err != nil {
			t.Fatal(err)
		}
		mvEqual(t, out[0], mvNaiveTranspose(xi, tc.perm))
	}
}

func TestTransposeGrad(t *testing.T) {
	for _, perm := range [][]int64{{0, 2, 3, 1}, {0, 3, 1, 2}, {2, 0, 1, 3}, nil} {
		var attrs []*graph.Attr
		if perm != nil {
			attrs = append(attrs, mvInts("perm", perm...))
		}
		op := mvBuild(t, mvNode("Transpose", 1, attrs...), 13)
		mvGrad(t, op, []*tensor.Tensor{mvRand(1, 2, 3, 4, 5)}, []bool{true})
	}
}
