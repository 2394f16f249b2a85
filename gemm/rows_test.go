package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// rowsCase is one SgemmRows problem: B's rows are read from b at random
// offsets (overlapping, in any order, some at the very end of b).
type rowsCase struct {
	m, n, k int
	beta    float32
	bias    bool
	clamp   bool
	threads int
}

func (tc rowsCase) String() string {
	return fmt.Sprintf("m%d_n%d_k%d_beta%g_bias%v_clamp%v_t%d", tc.m, tc.n, tc.k, tc.beta, tc.bias, tc.clamp, tc.threads)
}

func (tc rowsCase) run(t *testing.T, rng *rand.Rand) {
	m, n, k := tc.m, tc.n, tc.k
	a := randSlice(rng, m*k)
	b := randSlice(rng, 3*n+50)
	offs := make([]int32, k)
	for p := range offs {
		offs[p] = int32(rng.IntN(len(b) - n + 1))
		if p%7 == 3 {
			offs[p] = int32(len(b) - n) // the last row ends at the end of b
		}
	}
	ldc := n + 3
	c := make([]float32, m*ldc)
	for i := range c {
		c[i] = sentinel
	}
	c0 := make([]float32, len(c))
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			c[i*ldc+j] = float32(rng.NormFloat64())
		}
	}
	copy(c0, c)
	opt := Options{Threads: tc.threads}
	if tc.bias {
		opt.RowBias = randSlice(rng, m)
	}
	if tc.clamp {
		opt.Clamp, opt.Min, opt.Max = true, -0.5, 2
	}
	pa := PackA(false, m, k, a, k)
	SgemmRows(pa, offs, n, b, tc.beta, c, ldc, &opt)
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= n {
				if got != sentinel {
					t.Fatalf("C[%d][%d] (outside the result) = %v, was %v", i, j, got, sentinel)
				}
				continue
			}
			var want, mag float64
			for p := 0; p < k; p++ {
				v := float64(a[i*k+p]) * float64(b[int(offs[p])+j])
				want += v
				mag += math.Abs(v)
			}
			if tc.beta == 1 {
				want += float64(c0[i*ldc+j])
				mag += math.Abs(float64(c0[i*ldc+j]))
			}
			if tc.bias {
				want += float64(opt.RowBias[i])
			}
			if tc.clamp {
				want = math.Min(math.Max(want, float64(opt.Min)), float64(opt.Max))
			}
			if d := math.Abs(float64(got) - want); d > 1e-5*(mag+1) {
				t.Fatalf("C[%d][%d] = %v, want %v (diff %g)", i, j, got, want, d)
			}
		}
	}
}

func TestSgemmRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var cases []rowsCase
	for _, m := range []int{1, 5, 14, 15, 29} {
		for _, n := range []int{1, 16, 17, 32, 33, 70} {
			for _, k := range []int{1, 9, 40} {
				cases = append(cases, rowsCase{m: m, n: n, k: k, beta: float32(rng.IntN(2)), bias: rng.IntN(2) == 0, clamp: rng.IntN(2) == 0, threads: 1})
			}
		}
	}
	// Large enough to be split over goroutines and blocked along k.
	cases = append(cases,
		rowsCase{m: 64, n: 700, k: 576, beta: 0, bias: true, clamp: true, threads: 2},
		rowsCase{m: 30, n: 1000, k: 800, beta: 1, threads: 2},
		rowsCase{m: 3, n: 5000, k: 300, beta: 0, threads: 3},
	)
	for _, ks := range kernelVariants() {
		t.Run(ks.name, func(t *testing.T) {
			useKernel(t, ks)
			for _, tc := range cases {
				t.Run(tc.String(), func(t *testing.T) { tc.run(t, rng) })
			}
		})
	}
	// The packing fallback of kernel families with an in-place kernel.
	for _, ks := range kernelSets() {
		if ks.tileRows == nil {
			continue
		}
		noRows := *ks
		noRows.tileRows = nil
		t.Run(ks.name+"-packed", func(t *testing.T) {
			useKernel(t, &noRows)
			for _, tc := range cases[:20] {
				t.Run(tc.String(), func(t *testing.T) { tc.run(t, rng) })
			}
		})
	}
}

func TestSgemmRowsPanics(t *testing.T) {
	pa := PackA(false, 2, 3, make([]float32, 6), 3)
	c := make([]float32, 8)
	for name, f := range map[string]func(){
		"offsets count": func() { SgemmRows(pa, []int32{0, 0}, 4, make([]float32, 10), 0, c, 4, nil) },
		"past the end":  func() { SgemmRows(pa, []int32{0, 0, 7}, 4, make([]float32, 10), 0, c, 4, nil) },
		"negative":      func() { SgemmRows(pa, []int32{0, -1, 0}, 4, make([]float32, 10), 0, c, 4, nil) },
		"beta":          func() { SgemmRows(pa, []int32{0, 0, 0}, 4, make([]float32, 10), 0.5, c, 4, nil) },
		"short C":       func() { SgemmRows(pa, []int32{0, 0, 0}, 5, make([]float32, 10), 0, c, 5, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			f()
		})
	}
}

// TestPackedARows checks that products with a view of some rows of a
// packed matrix equal those rows of the whole product, for SgemmPackedA and
// SgemmRows, on every kernel family.
func TestPackedARows(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, ks := range kernelVariants() {
		t.Run(ks.name, func(t *testing.T) {
			useKernel(t, ks)
			const m, n, k = 47, 37, 30
			a := randSlice(rng, m*k)
			b := randSlice(rng, k*n)
			offs := make([]int32, k)
			for p := range offs {
				offs[p] = int32(p * n)
			}
			pa := PackA(false, m, k, a, k)
			al := pa.RowAlign()
			want := make([]float32, m*n)
			SgemmPackedA(pa, false, n, 1, b, n, 0, want, n, nil)
			for _, r := range [][2]int{{0, m}, {0, al}, {al, m}, {2 * al, 3 * al}} {
				i0, i1 := r[0], min(r[1], m)
				v := pa.Rows(i0, i1)
				if vm, vk := v.Dims(); vm != i1-i0 || vk != k {
					t.Fatalf("Rows(%d, %d).Dims() = %d, %d", i0, i1, vm, vk)
				}
				for name, f := range map[string]func(c []float32){
					"SgemmPackedA": func(c []float32) { SgemmPackedA(v, false, n, 1, b, n, 0, c, n, nil) },
					"SgemmRows":    func(c []float32) { SgemmRows(v, offs, n, b, 0, c, n, nil) },
				} {
					got := make([]float32, (i1-i0)*n)
					f(got)
					if d := maxDiff(got, want[i0*n:i1*n]); d > 1e-5 {
						t.Errorf("%s on rows [%d, %d): differs from the whole product by %g", name, i0, i1, d)
					}
				}
			}
			func() {
				defer func() {
					if recover() == nil && al > 1 {
						t.Errorf("Rows(0, 1) with alignment %d: no panic", al)
					}
				}()
				pa.Rows(0, 1)
			}()
		})
	}
}

func maxDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestReadsAInPlace checks the advice on packing weights once: wide
// products and rows that alias in the cache pack A, narrow products with
// harmless strides read it in place, on the families that can.
func TestReadsAInPlace(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.name, func(t *testing.T) {
			useKernel(t, ks)
			// Rows 4 or 8 KiB apart fall into the same cache sets: more
			// rows per tile than the ways allotted to A (8) evict
			// each other.
			alias := ks.mr <= 8
			for _, c := range []struct {
				n, k, lda int
				want      bool
			}{
				{49, 4608, 4608, true},
				{49, 2048, 2048, alias},
				{196, 1024, 1024, alias},
				{1000, 64, 64, false}, // too many columns
				{8, 2048, 2048, true}, // one column sliver reads each row once
			} {
				want := c.want && ks.directA
				if c.n <= ks.nr && ks.directA {
					want = true
				}
				if got := ReadsAInPlace(c.n, c.k, c.lda); got != want {
					t.Errorf("ReadsAInPlace(%d, %d, %d) = %v, want %v", c.n, c.k, c.lda, got, want)
				}
			}
		})
	}
}
