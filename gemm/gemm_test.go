package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"
)

// kernelVariants returns every kernel family this machine runs, each also
// with tiny cache blocks so that small tests cross every blocking loop,
// and, where A is read in place for small problems, with A always packed.
func kernelVariants() []*kernelSet {
	var out []*kernelSet
	for _, ks := range kernelSets() {
		out = append(out, ks)
		tiny := *ks
		tiny.name += "-tinyblocks"
		tiny.kc = 5
		tiny.nc = 2 * ks.nr
		tiny.mc = 2 * ks.mr
		out = append(out, &tiny)
		if ks.directA {
			packed := tiny
			packed.name += "-packA"
			packed.directA = false
			out = append(out, &packed)
		}
	}
	return out
}

// useKernel makes ks the kernel family of new calls until the test ends.
func useKernel(t testing.TB, ks *kernelSet) {
	old := current.Swap(ks)
	t.Cleanup(func() { current.Store(old) })
}

// sentinel marks elements that a call must not write.
const sentinel = float32(-12345.5)

// mat is a row-major matrix with stride; the padding holds sentinel.
type mat struct {
	rows, cols, ld int
	v              []float32
}

func newMat(rng *rand.Rand, rows, cols, pad int) mat {
	ld := cols + pad
	m := mat{rows: rows, cols: cols, ld: ld, v: make([]float32, max(rows*ld, 1))}
	for i := range m.v {
		m.v[i] = sentinel
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			m.v[i*ld+j] = float32(rng.NormFloat64())
		}
	}
	return m
}

func (m mat) at(i, j int) float32 { return m.v[i*m.ld+j] }

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra stride beyond the width, for A, B and C
	opt            *Options
}

func (tc gemmCase) String() string {
	s := fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,alpha=%g,beta=%g,pad=%d",
		tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.pad)
	if tc.opt != nil {
		s += fmt.Sprintf(",row=%v,col=%v,clamp=%v[%g,%g],threads=%d", tc.opt.RowBias != nil,
			tc.opt.ColBias != nil, tc.opt.Clamp, tc.opt.Min, tc.opt.Max, tc.opt.Threads)
	}
	return s
}

// operands makes random A, B and C for tc. With beta 0, C holds NaN, which
// must be overwritten.
func (tc gemmCase) operands(rng *rand.Rand) (a, b, c mat) {
	if tc.transA {
		a = newMat(rng, tc.k, tc.m, tc.pad)
	} else {
		a = newMat(rng, tc.m, tc.k, tc.pad)
	}
	if tc.transB {
		b = newMat(rng, tc.n, tc.k, tc.pad)
	} else {
		b = newMat(rng, tc.k, tc.n, tc.pad)
	}
	c = newMat(rng, tc.m, tc.n, tc.pad)
	if tc.beta == 0 {
		for i := 0; i < tc.m; i++ {
			for j := 0; j < tc.n; j++ {
				c.v[i*c.ld+j] = float32(math.NaN())
			}
		}
	}
	return a, b, c
}

// check compares got with the float64 reference computed from a, b and
// the original c0, and checks that the padding of got is untouched.
func (tc gemmCase) check(t *testing.T, a, b, c0, got mat) {
	t.Helper()
	bad := 0
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var sum, abs float64
			for p := 0; p < tc.k; p++ {
				var x, y float64
				if tc.transA {
					x = float64(a.at(p, i))
				} else {
					x = float64(a.at(i, p))
				}
				if tc.transB {
					y = float64(b.at(j, p))
				} else {
					y = float64(b.at(p, j))
				}
				sum += x * y
				abs += math.Abs(x * y)
			}
			want := float64(tc.alpha) * sum
			abs *= math.Abs(float64(tc.alpha))
			if tc.beta != 0 {
				want += float64(tc.beta) * float64(c0.at(i, j))
				abs += math.Abs(float64(tc.beta) * float64(c0.at(i, j)))
			}
			if o := tc.opt; o != nil {
				if o.RowBias != nil {
					want += float64(o.RowBias[i])
					abs += math.Abs(float64(o.RowBias[i]))
				}
				if o.ColBias != nil {
					want += float64(o.ColBias[j])
					abs += math.Abs(float64(o.ColBias[j]))
				}
				if o.Clamp {
					want = math.Min(math.Max(want, float64(o.Min)), float64(o.Max))
				}
			}
			g := float64(got.at(i, j))
			tol := 1e-6 + abs*float64(tc.k+4)*2e-7
			if !(math.Abs(g-want) <= tol) {
				if bad < 5 {
					t.Errorf("%v: C[%d,%d] = %v, want %v (tol %g)", tc, i, j, g, want, tol)
				}
				bad++
			}
		}
		for j := tc.n; j < got.ld && i*got.ld+j < len(got.v); j++ {
			if got.v[i*got.ld+j] != sentinel {
				t.Fatalf("%v: padding C[%d,%d] overwritten with %v", tc, i, j, got.v[i*got.ld+j])
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%v: %d wrong elements", tc, bad)
	}
}

func (tc gemmCase) run(t *testing.T, rng *rand.Rand, packed bool) {
	t.Helper()
	a, b, c0 := tc.operands(rng)
	c := mat{rows: c0.rows, cols: c0.cols, ld: c0.ld, v: append([]float32(nil), c0.v...)}
	if packed {
		pa := PackA(tc.transA, tc.m, tc.k, a.v, a.ld)
		if m, k := pa.Dims(); m != tc.m || k != tc.k {
			t.Fatalf("Dims() = %d, %d, want %d, %d", m, k, tc.m, tc.k)
		}
		SgemmPackedA(pa, tc.transB, tc.n, tc.alpha, b.v, b.ld, tc.beta, c.v, c.ld, tc.opt)
	} else {
		SgemmWith(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a.v, a.ld, b.v, b.ld, tc.beta, c.v, c.ld, tc.opt)
	}
	tc.check(t, a, b, c0, c)
}

// edgeDims are sizes around the tile sizes of every kernel family.
var edgeDims = []int{1, 2, 3, 4, 5, 6, 7, 8, 11, 13, 14, 15, 16, 17, 19, 28, 29, 31, 32, 33, 37, 47, 48, 49, 53, 64, 67, 70}

// randomCases returns count cases with dimensions drawn from edgeDims.
func randomCases(rng *rand.Rand, count int) []gemmCase {
	alphas := []float32{1, -1, 0.5, 2.25}
	betas := []float32{0, 1, -0.75, 2}
	var cases []gemmCase
	for range count {
		cases = append(cases, gemmCase{
			transA: rng.IntN(2) == 1,
			transB: rng.IntN(2) == 1,
			m:      edgeDims[rng.IntN(len(edgeDims))],
			n:      edgeDims[rng.IntN(len(edgeDims))],
			k:      edgeDims[rng.IntN(len(edgeDims))],
			alpha:  alphas[rng.IntN(len(alphas))],
			beta:   betas[rng.IntN(len(betas))],
			pad:    []int{0, 0, 3, 17}[rng.IntN(4)],
		})
	}
	return cases
}

func TestSgemmKernels(t *testing.T) {
	for _, ks := range kernelVariants() {
		t.Run(ks.name, func(t *testing.T) {
			useKernel(t, ks)
			rng := rand.New(rand.NewPCG(1, 2))
			// Every tile height and width with both transposes.
			for _, mn := range [][2]int{{1, 1}, {ks.mr - 1, ks.nr - 1}, {ks.mr, ks.nr}, {ks.mr + 1, ks.nr + 1}, {2*ks.mr + 3, ks.nr/2 + 1}} {
				for _, tA := range []bool{false, true} {
					for _, tB := range []bool{false, true} {
						tc := gemmCase{transA: tA, transB: tB, m: mn[0], n: mn[1], k: 9, alpha: 1.5, beta: 0.5, pad: 2}
						tc.run(t, rng, false)
					}
				}
			}
			for _, tc := range randomCases(rng, 250) {
				tc.run(t, rng, false)
			}
		})
	}
}

// TestSgemmDeep covers k spanning several blocks of the real block depth.
func TestSgemmDeep(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.name, func(t *testing.T) {
			useKernel(t, ks)
			rng := rand.New(rand.NewPCG(3, 4))
			for _, tc := range []gemmCase{
				{m: 17, n: 35, k: 2*ks.kc + 7, alpha: 1, beta: 0},
				{transA: true, transB: true, m: 3, n: 50, k: ks.kc + 1, alpha: -2, beta: 1, pad: 5},
				{transB: true, m: ks.mr*2 + 1, n: ks.nc + 3, k: 40, alpha: 1, beta: 0.5},
			} {
				tc.run(t, rng, false)
			}
		})
	}
}

func TestSgemmPackedA(t *testing.T) {
	for _, ks := range kernelVariants() {
		t.Run(ks.name, func(t *testing.T) {
			useKernel(t, ks)
			rng := rand.New(rand.NewPCG(5, 6))
			for _, tc := range randomCases(rng, 80) {
				tc.run(t, rng, true)
			}
		})
	}
}

// TestPackedAReuse multiplies one packed matrix by several B, and checks
// that a PackedA keeps the kernel family it was packed for.
func TestPackedAReuse(t *testing.T) {
	sets := kernelSets()
	rng := rand.New(rand.NewPCG(7, 8))
	tc := gemmCase{m: 29, n: 40, k: 33, alpha: 1, beta: 0}
	a, _, _ := tc.operands(rng)
	for _, ks := range sets {
		t.Run(ks.name, func(t *testing.T) {
			useKernel(t, ks)
			pa := PackA(false, tc.m, tc.k, a.v, a.ld)
			// Switch the family: pa must still use its own layout.
			current.Store(sets[len(sets)-1])
			for range 3 {
				_, b, c0 := tc.operands(rng)
				c := mat{rows: c0.rows, cols: c0.cols, ld: c0.ld, v: append([]float32(nil), c0.v...)}
				SgemmPackedA(pa, false, tc.n, tc.alpha, b.v, b.ld, tc.beta, c.v, c.ld, nil)
				tc.check(t, a, b, c0, c)
			}
		})
	}
}

func TestSgemmOptions(t *testing.T) {
	for _, ks := range kernelVariants() {
		t.Run(ks.name, func(t *testing.T) {
			useKernel(t, ks)
			rng := rand.New(rand.NewPCG(9, 10))
			for i, tc := range randomCases(rng, 60) {
				bias := func(n int) []float32 {
					v := make([]float32, n)
					for j := range v {
						v[j] = float32(rng.NormFloat64())
					}
					return v
				}
				o := &Options{}
				if i%2 == 0 {
					o.RowBias = bias(tc.m)
				}
				if i%3 != 1 {
					o.ColBias = bias(tc.n)
				}
				switch i % 4 {
				case 0:
					o.Clamp, o.Min, o.Max = true, 0, float32(math.Inf(1))
				case 1:
					o.Clamp, o.Min, o.Max = true, -0.5, 0.75
				}
				tc.opt = o
				tc.run(t, rng, i%5 == 0)
			}
		})
	}
}

// TestSgemmThreads runs problems large enough to be split, along N and
// along M, with packed and unpacked A.
func TestSgemmThreads(t *testing.T) {
	var gotNT int
	var gotSplitN bool
	testHookParallel = func(nt int, splitN bool) { gotNT, gotSplitN = nt, splitN }
	defer func() { testHookParallel = nil }()
	for _, ks := range kernelSets() {
		t.Run(ks.name, func(t *testing.T) {
			useKernel(t, ks)
			rng := rand.New(rand.NewPCG(11, 12))
			seen := map[bool]bool{}
			for _, tc := range []gemmCase{
				{m: 40, n: 1000, k: 160, alpha: 1, beta: 0},
				{m: 300, n: 49, k: 440, alpha: 0.5, beta: 1, transA: true},
				{m: 301, n: 30, k: 700, alpha: 0.5, beta: 1},
				{m: 100, n: 130, k: 500, alpha: 1, beta: 0, transB: true, pad: 1},
			} {
				for _, threads := range []int{2, 3} {
					tc.opt = &Options{Threads: threads}
					for _, packed := range []bool{false, true} {
						gotNT = 0
						tc.run(t, rng, packed)
						if gotNT != threads {
							t.Errorf("%v: split in %d, want %d", tc, gotNT, threads)
						}
						seen[gotSplitN] = true
					}
				}
			}
			if !seen[true] || !seen[false] {
				t.Errorf("split along N: %v, along M: %v; want both", seen[true], seen[false])
			}
			// Small products stay on the calling goroutine.
			gotNT = 0
			small := gemmCase{m: 64, n: 64, k: 64, alpha: 1, opt: &Options{Threads: 2}}
			small.run(t, rng, false)
			if gotNT != 0 {
				t.Errorf("%v: split in %d, want no split", small, gotNT)
			}
		})
	}
}

func TestSetThreads(t *testing.T) {
	defer SetThreads(0)
	SetThreads(3)
	if got := Threads(); got != 3 {
		t.Errorf("Threads() = %d after SetThreads(3)", got)
	}
	SetThreads(0)
	if got := Threads(); got < 1 {
		t.Errorf("Threads() = %d after SetThreads(0)", got)
	}
}

// TestSgemmConcurrent runs calls from several goroutines at once, with
// SetThreads changing under them.
func TestSgemmConcurrent(t *testing.T) {
	defer SetThreads(0)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			SetThreads(g%2 + 1)
			rng := rand.New(rand.NewPCG(uint64(g), 13))
			tc := gemmCase{m: 64 + g, n: 300, k: 120, alpha: 1, beta: 0}
			a, b, c := tc.operands(rng)
			for range 5 {
				SgemmWith(false, false, tc.m, tc.n, tc.k, 1, a.v, a.ld, b.v, b.ld, 0, c.v, c.ld, nil)
				var sum float64
				for p := 0; p < tc.k; p++ {
					sum += float64(a.at(3, p)) * float64(b.at(p, 7))
				}
				if d := math.Abs(float64(c.at(3, 7)) - sum); d > 1e-3 {
					errs <- fmt.Sprintf("goroutine %d: C[3,7] = %v, want %v", g, c.at(3, 7), sum)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestSgemmDegenerate covers alpha == 0, k == 0 and empty results.
func TestSgemmDegenerate(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.name, func(t *testing.T) {
			useKernel(t, ks)
			rng := rand.New(rand.NewPCG(14, 15))
			for _, tc := range []gemmCase{
				{m: 5, n: 6, k: 0, alpha: 1, beta: 0, pad: 1},
				{m: 5, n: 6, k: 0, alpha: 1, beta: 2, pad: 1},
				{m: 5, n: 6, k: 4, alpha: 0, beta: 0, pad: 1},
				{m: 5, n: 6, k: 4, alpha: 0, beta: -1, opt: &Options{RowBias: []float32{1, 2, 3, 4, 5}, Clamp: true, Min: -1, Max: 1}},
				{m: 0, n: 6, k: 4, alpha: 1, beta: 0},
				{m: 5, n: 0, k: 4, alpha: 1, beta: 0},
			} {
				tc.run(t, rng, false)
			}
		})
	}
}

func TestSgemmPanics(t *testing.T) {
	buf := make([]float32, 100)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2) }},
		{"lda too small", func() { Sgemm(false, false, 2, 2, 3, 1, buf, 2, buf, 2, 0, buf, 2) }},
		{"transposed lda too small", func() { Sgemm(true, false, 3, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2) }},
		{"A too short", func() { Sgemm(false, false, 4, 2, 30, 1, buf, 30, buf, 2, 0, buf, 2) }},
		{"B too short", func() { Sgemm(false, true, 2, 10, 11, 1, buf, 11, buf, 11, 0, buf, 10) }},
		{"ldc too small", func() { Sgemm(false, false, 2, 3, 2, 1, buf, 2, buf, 3, 0, buf, 2) }},
		{"short RowBias", func() {
			SgemmWith(false, false, 3, 3, 3, 1, buf, 3, buf, 3, 0, buf, 3, &Options{RowBias: buf[:2]})
		}},
		{"short ColBias", func() {
			SgemmWith(false, false, 3, 3, 3, 1, buf, 3, buf, 3, 0, buf, 3, &Options{ColBias: buf[:2]})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			tc.f()
		})
	}
}

// TestKernelName checks that the best family of this machine is in use.
func TestKernelName(t *testing.T) {
	if got, want := Kernel(), kernelSets()[0].name; got != want {
		t.Errorf("Kernel() = %q, want %q", got, want)
	}
}

// TestKparamsLayout checks the offsets that the assembly kernels use
// (internal/asmgen).
func TestKparamsLayout(t *testing.T) {
	var p kparams
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"alpha", unsafe.Offsetof(p.alpha), 0},
		{"beta", unsafe.Offsetof(p.beta), 4},
		{"lo", unsafe.Offsetof(p.lo), 8},
		{"hi", unsafe.Offsetof(p.hi), 12},
		{"mask", unsafe.Offsetof(p.mask), 16},
		{"flags", unsafe.Offsetof(p.flags), 20},
		{"rowBias", unsafe.Offsetof(p.rowBias), 24},
		{"colBias", unsafe.Offsetof(p.colBias), 32},
		{"vmask", unsafe.Offsetof(p.vmask), 40},
		{"lda", unsafe.Offsetof(p.lda), 104},
		{"offs", unsafe.Offsetof(p.offs), 112},
		{"rows", unsafe.Offsetof(p.rows), 120},
	} {
		if f.got != f.want {
			t.Errorf("offset of kparams.%s = %d, want %d", f.name, f.got, f.want)
		}
	}
}

// TestNarrowTailBits checks that the narrow kernels give the last columns
// the same bits as the tiles do without them, for tails of 1 to 4
// columns after whole tiles and after a 16-column tile, over one to
// several slivers (a short last one too), k blocks and every epilogue.
func TestNarrowTailBits(t *testing.T) {
	for _, ks := range kernelSets() {
		if ks.narrow == nil {
			continue
		}
		t.Run(ks.name, func(t *testing.T) {
			plain := *ks
			plain.name += "-nonarrow"
			plain.narrow = nil
			tiny := *ks
			tiny.name += "-tinyblocks"
			tiny.kc, tiny.nc, tiny.mc = 7, 2*ks.nr, 3*ks.mr
			tinyPlain := tiny
			tinyPlain.narrow = nil
			rng := rand.New(rand.NewPCG(3, 4))
			for _, n := range []int{1, 3, 4, 5, 17, 20, 21, 33, 36, 49, 98, 196} {
				for _, m := range []int{1, 13, 14, 29, 56, 70, 71} {
					for e := range 8 {
						// Depths of every residue, and multiples of 8
						// (the in-place narrow kernels) with every
						// epilogue.
						k := 37 + 11*e
						if e >= 4 {
							e -= 4
							k = 48 + 8*e
						}
						tc, a, b, c0 := epilogueCase(rng, m, n, k, e, 0.75)
						// outs[2i] packs A once, outs[2i+1] leaves it to
						// SgemmWith (read in place for narrow products).
						var outs [8][]float32
						for i, set := range []*kernelSet{&plain, ks, &tinyPlain, &tiny} {
							current.Store(set)
							pa := PackA(false, m, tc.k, a.v, a.ld)
							c := append([]float32(nil), c0.v...)
							SgemmPackedA(pa, tc.transB, n, tc.alpha, b.v, b.ld, tc.beta, c, c0.ld, tc.opt)
							outs[2*i] = c
							c = append([]float32(nil), c0.v...)
							SgemmWith(false, tc.transB, m, n, tc.k, tc.alpha, a.v, a.ld, b.v, b.ld, tc.beta, c, c0.ld, tc.opt)
							outs[2*i+1] = c
						}
						current.Store(ks)
						for i := 1; i < 8; i++ {
							ref := outs[i&^3] // the first set of its pair, A packed
							for j := range outs[i] {
								if math.Float32bits(outs[i][j]) != math.Float32bits(ref[j]) {
									t.Fatalf("%v (output %d): element %d (row %d, column %d) is %v, %v without narrow kernels",
										tc, i, j, j/c0.ld, j%c0.ld, outs[i][j], ref[j])
								}
							}
						}
						tc.check(t, a, b, c0, mat{rows: m, cols: n, ld: c0.ld, v: outs[3]})
					}
				}
			}
		})
	}
}

// epilogueCase returns case e (0 to 3) of the tests that compare kernel
// paths bit for bit, with its operands: beta 0 (e even) or beta, row and
// column biases and a clamp from e = 2 on, B transposed for e = 3.
func epilogueCase(rng *rand.Rand, m, n, k, e int, beta float32) (tc gemmCase, a, b, c mat) {
	tc = gemmCase{m: m, n: n, k: k, alpha: 1, beta: float32(e%2) * beta, pad: e, opt: &Options{Threads: 1}}
	if e >= 2 {
		tc.opt.RowBias = randSlice(rng, m)
		tc.opt.ColBias = randSlice(rng, n)
		tc.opt.Clamp, tc.opt.Min, tc.opt.Max = true, -0.5, 0.75
	}
	tc.transB = e == 3
	a, b, c = tc.operands(rng)
	return tc, a, b, c
}

// TestColumnOrderBits checks that blocks computed sliver by sliver
// (blockCols) give the bits of the usual order, with and without narrow
// tails and every epilogue, and match the float64 reference.
func TestColumnOrderBits(t *testing.T) {
	for _, ks := range kernelSets() {
		t.Run(ks.name, func(t *testing.T) {
			rows := *ks
			rows.colMaxA = 0
			cols := *ks
			cols.colMaxA, cols.colMinB = 1<<20, 0
			small := cols
			small.kc, small.nc = 37, 4*ks.nr
			rng := rand.New(rand.NewPCG(5, 6))
			for _, n := range []int{4 * ks.nr, 200, 4*ks.nr + 1, 300} {
				for _, m := range []int{1, 13, 64, 71} {
					for e := range 4 {
						tc, a, b, c0 := epilogueCase(rng, m, n, 60+50*e, e, 0.5)
						var outs [3][]float32
						for i, set := range []*kernelSet{&rows, &cols, &small} {
							current.Store(set)
							pa := PackA(false, m, tc.k, a.v, a.ld)
							c := append([]float32(nil), c0.v...)
							SgemmPackedA(pa, tc.transB, n, tc.alpha, b.v, b.ld, tc.beta, c, c0.ld, tc.opt)
							outs[i] = c
						}
						current.Store(ks)
						for i := 1; i < 3; i++ {
							ref := outs[0]
							if i == 2 {
								// Other k blocks round differently: check
								// against the reference only.
								tc.check(t, a, b, c0, mat{rows: m, cols: n, ld: c0.ld, v: outs[i]})
								continue
							}
							for j := range outs[i] {
								if math.Float32bits(outs[i][j]) != math.Float32bits(ref[j]) {
									t.Fatalf("%v: element %d (row %d, column %d) is %v, %v in row order", tc, j, j/c0.ld, j%c0.ld, outs[i][j], ref[j])
								}
							}
						}
						tc.check(t, a, b, c0, mat{rows: m, cols: n, ld: c0.ld, v: outs[1]})
					}
				}
			}
		})
	}
}

// TestTilesBits checks that a kernel set's tiles, which compute a row of
// whole tiles in one call, give the bits of one tile call each: packed
// and in-place A (SgemmWith), every epilogue, several k blocks, and
// widths with and without a partial or narrow last tile.
func TestTilesBits(t *testing.T) {
	for _, ks := range kernelSets() {
		if ks.tiles == nil {
			continue
		}
		t.Run(ks.name, func(t *testing.T) {
			one := *ks
			one.tiles = nil
			small := *ks
			small.kc, small.nc = 37, 3*ks.nr
			rng := rand.New(rand.NewPCG(7, 8))
			for _, n := range []int{2 * ks.nr, 5*ks.nr + 3, 7*ks.nr + 11, 300} {
				for _, m := range []int{1, 5, 13, 64} {
					for e := range 4 {
						tc, a, b, c0 := epilogueCase(rng, m, n, 20+45*e, e, 0.5)
						for _, direct := range []bool{false, true} {
							var outs [3][]float32
							for i, set := range []*kernelSet{&one, ks, &small} {
								current.Store(set)
								c := append([]float32(nil), c0.v...)
								if direct {
									SgemmWith(false, tc.transB, m, n, tc.k, tc.alpha, a.v, a.ld, b.v, b.ld, tc.beta, c, c0.ld, tc.opt)
								} else {
									pa := PackA(false, m, tc.k, a.v, a.ld)
									SgemmPackedA(pa, tc.transB, n, tc.alpha, b.v, b.ld, tc.beta, c, c0.ld, tc.opt)
								}
								outs[i] = c
							}
							current.Store(ks)
							for j := range outs[1] {
								if math.Float32bits(outs[1][j]) != math.Float32bits(outs[0][j]) {
									t.Fatalf("%v direct=%v: element %d (row %d, column %d) is %v, %v a tile a call", tc, direct, j, j/c0.ld, j%c0.ld, outs[1][j], outs[0][j])
								}
							}
							tc.check(t, a, b, c0, mat{rows: m, cols: n, ld: c0.ld, v: outs[2]})
						}
					}
				}
			}
		})
	}
}
