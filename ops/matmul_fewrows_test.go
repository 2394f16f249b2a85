package ops_test

import (
	"fmt"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// TestGemmFewRows checks Gemm on the shapes of dense layers (one or a few
// rows, many columns), which are computed as the transposed product, with
// every transposition and with a bias row, a full C and none.
func TestGemmFewRows(t *testing.T) {
	for _, size := range [][2]int{{70, 37}, {600, 500}} { // the second is shared over threads
		testGemmFewRows(t, size[0], size[1])
	}
}

func testGemmFewRows(t *testing.T, n, k int) {
	seed := uint64(500 + n)
	for _, m := range []int{1, 3, 32} {
		for _, trA := range []bool{false, true} {
			for _, trB := range []bool{false, true} {
				for _, cs := range [][]int{nil, {n}, {m, n}} {
					seed++
					t.Run(fmt.Sprintf("%dx%dx%d transA=%v transB=%v C=%v", m, n, k, trA, trB, cs), func(t *testing.T) {
						attrs := []*graph.Attr{cvFloat("alpha", 0.5), cvFloat("beta", 2)}
						as, bs := []int{m, k}, []int{k, n}
						if trA {
							as = []int{k, m}
							attrs = append(attrs, cvInt("transA", 1))
						}
						if trB {
							bs = []int{n, k}
							attrs = append(attrs, cvInt("transB", 1))
						}
						op := cvBuild(t, cvNode("Gemm", 1, attrs...), 13)
						in := []*tensor.Tensor{cvRand(seed, as...), cvRand(seed+1, bs...)}
						want := refMatMul(in[0].F, 0, trA, in[1].F, 0, trB, m, n, k)
						for i := range want {
							want[i] *= 0.5
						}
						if cs != nil {
							c := cvRand(seed+2, cs...)
							in = append(in, c)
							for i := range want {
								j := i
								if len(cs) == 1 {
									j = i % n
								}
								want[i] += 2 * float64(c.F[j])
							}
						}
						out := cvRun(t, op, &ops.Ctx{Threads: 2}, in)
						cvClose(t, "Y", out[0].F, want, 1e-5)
					})
				}
			}
		}
	}
}
