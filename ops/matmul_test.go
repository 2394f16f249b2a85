package ops_test

import (
	"fmt"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/gradcheck"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// refMatMul multiplies an m x k matrix stored at a[ao:] by a k x n one at
// b[bo:] in float64; trA and trB say the operands are stored transposed.
func refMatMul(a []float32, ao int, trA bool, b []float32, bo int, trB bool, m, n, k int) []float64 {
	y := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				ai, bi := ao+i*k+p, bo+p*n+j
				if trA {
					ai = ao + p*m + i
				}
				if trB {
					bi = bo + j*k + p
				}
				s += float64(a[ai]) * float64(b[bi])
			}
			y[i*n+j] = s
		}
	}
	return y
}

func TestGemm(t *testing.T) {
	const m, n, k = 4, 5, 3
	cShapes := [][]int{nil, {}, {1}, {n}, {1, n}, {m, 1}, {m, n}, {1, 1}}
	seed := uint64(0)
	for _, trA := range []bool{false, true} {
		for _, trB := range []bool{false, true} {
			for ci, cs := range cShapes {
				seed++
				alpha, beta := float32(1), float32(1)
				var attrs []*graph.Attr
				if ci%2 == 1 {
					alpha, beta = 0.5, -2
					attrs = append(attrs, cvFloat("alpha", alpha), cvFloat("beta", beta))
				}
				if trA {
					attrs = append(attrs, cvInt("transA", 1))
				}
				if trB {
					attrs = append(attrs, cvInt("transB", 1))
				}
				t.Run(fmt.Sprintf("transA=%v transB=%v C=%v", trA, trB, cs), func(t *testing.T) {
					op := cvBuild(t, cvNode("Gemm", 1, attrs...), 13)
					as, bs := []int{m, k}, []int{k, n}
					if trA {
						as = []int{k, m}
					}
					if trB {
						bs = []int{n, k}
					}
					in := []*tensor.Tensor{cvRand(seed, as...), cvRand(seed+100, bs...)}
					want := refMatMul(in[0].F, 0, trA, in[1].F, 0, trB, m, n, k)
					for i := range want {
						want[i] *= float64(alpha)
					}
					if cs != nil {
						c := cvRand(seed+200, cs...)
						in = append(in, c)
						// Broadcast C by hand: a size-1 dimension repeats.
						for i := range m {
							for j := range n {
								ci, cj := i, j
								if len(cs) < 2 || cs[0] == 1 {
									ci = 0
								}
								if len(cs) == 0 || cs[len(cs)-1] == 1 {
									cj = 0
								}
								idx := cj
								if len(cs) == 2 {
									idx = ci*cs[1] + cj
								}
								want[i*n+j] += float64(beta) * float64(c.F[idx])
							}
						}
					}
					out := cvRun(t, op, nil, in)
					cvClose(t, "Y", out[0].F, want, 1e-6)
					gradcheck.Check(t, op, in, []bool{true, true, true}, gradcheck.Options{Seed: seed})
				})
			}
		}
	}
}

func TestGemmErrors(t *testing.T) {
	op := cvBuild(t, cvNode("Gemm", 1), 13)
	bad := [][][]int{
		{{2, 3}, {4, 5}},
		{{2, 3, 1}, {3, 5}},
		{{2, 3}, {3, 5}, {3, 5}},
		{{2, 3}, {3, 5}, {2}},
		{{2, 3}, {3, 5}, {1, 2, 5}},
	}
	for _, shapes := range bad {
		var in []ops.Value
		for _, s := range shapes {
			in = append(in, ops.Value{DType: tensor.Float32, Shape: s})
		}
		if _, err := op.Infer(in); err == nil {
			t.Errorf("Gemm Infer accepted %v", shapes)
		}
	}
}

func TestMatMul(t *testing.T) {
	cases := []struct {
		a, b, want []int
		// pairs lists, for each output matrix, the A and B matrices it
		// multiplies, worked out by hand from the broadcasting rules.
		pairs [][2]int
	}{
		{[]int{3, 4}, []int{4, 5}, []int{3, 5}, [][2]int{{0, 0}}},
		{[]int{4}, []int{4, 5}, []int{5}, [][2]int{{0, 0}}},
		{[]int{3, 4}, []int{4}, []int{3}, [][2]int{{0, 0}}},
		{[]int{4}, []int{4}, []int{}, [][2]int{{0, 0}}},
		{[]int{2, 3, 4}, []int{4, 5}, []int{2, 3, 5}, [][2]int{{0, 0}, {1, 0}}},
		{[]int{3, 4}, []int{2, 4, 5}, []int{2, 3, 5}, [][2]int{{0, 0}, {0, 1}}},
		{[]int{2, 3, 4}, []int{2, 4, 5}, []int{2, 3, 5}, [][2]int{{0, 0}, {1, 1}}},
		{[]int{2, 1, 3, 4}, []int{3, 4, 2}, []int{2, 3, 3, 2},
			[][2]int{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}}},
		{[]int{1, 2, 3, 4}, []int{2, 1, 4, 5}, []int{2, 2, 3, 5},
			[][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}}},
		{[]int{2, 3, 4}, []int{4}, []int{2, 3}, [][2]int{{0, 0}, {1, 0}}},
		{[]int{4}, []int{2, 4, 5}, []int{2, 5}, [][2]int{{0, 0}, {0, 1}}},
		{[]int{5, 2, 3, 4}, []int{4, 2}, []int{5, 2, 3, 2},
			[][2]int{{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 0}, {6, 0}, {7, 0}, {8, 0}, {9, 0}}},
	}
	op := cvBuild(t, cvNode("MatMul", 1), 13)
	for i, c := range cases {
		t.Run(fmt.Sprintf("%v x %v", c.a, c.b), func(t *testing.T) {
			in := []*tensor.Tensor{cvRand(uint64(i), c.a...), cvRand(uint64(i)+50, c.b...)}
			m, k, n := 1, c.a[len(c.a)-1], 1
			if len(c.a) > 1 {
				m = c.a[len(c.a)-2]
			}
			if len(c.b) > 1 {
				n = c.b[len(c.b)-1]
			}
			var want []float64
			for _, p := range c.pairs {
				want = append(want, refMatMul(in[0].F, p[0]*m*k, false, in[1].F, p[1]*k*n, false, m, n, k)...)
			}
			for _, threads := range []int{1, 3} {
				out := cvRun(t, op, &ops.Ctx{Threads: threads}, in)
				if !tensor.EqualShape(out[0].Shape, c.want) {
					t.Fatalf("shape %v, want %v", out[0].Shape, c.want)
				}
				cvClose(t, "Y", out[0].F, want, 1e-6)
			}
			gradcheck.Check(t, op, in, []bool{true, true}, gradcheck.Options{Seed: uint64(i)})
		})
	}
	for _, bad := range [][2][]int{{{3, 4}, {5, 6}}, {{2, 3, 4}, {3, 4, 5}}, {{}, {3}}} {
		in := []ops.Value{{DType: tensor.Float32, Shape: bad[0]}, {DType: tensor.Float32, Shape: bad[1]}}
		if _, err := op.Infer(in); err == nil {
			t.Errorf("MatMul Infer accepted %v", bad)
		}
	}
}

// TestMatMulLarge exercises the split over goroutines against the
// reference on a product big enough to be split.
func TestMatMulLarge(t *testing.T) {
	op := cvBuild(t, cvNode("MatMul", 1), 13)
	for _, s := range [][2][]int{{{130, 70}, {70, 90}}, {{20, 90}, {90, 300}}, {{3, 40, 70}, {3, 70, 60}}} {
		in := []*tensor.Tensor{cvRand(1, s[0]...), cvRand(2, s[1]...)}
		m, k, n := s[0][len(s[0])-2], s[0][len(s[0])-1], s[1][len(s[1])-1]
		var want []float64
		for b := range tensor.Size(s[0][:len(s[0])-2]) {
			want = append(want, refMatMul(in[0].F, b*m*k, false, in[1].F, b*k*n, false, m, n, k)...)
		}
		out := cvRun(t, op, &ops.Ctx{Threads: 4}, in)
		cvClose(t, fmt.Sprint(s), out[0].F, want, 1e-5)
	}
}
