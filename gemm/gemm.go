// Package gemm multiplies float32 matrices (SGEMM), the kernel under every
// convolution and dense layer.
//
// The implementation follows the GotoBLAS/BLIS design (K. Goto and R. van de
// Geijn, "Anatomy of High-Performance Matrix Multiplication", ACM TOMS 34(3),
// 2008; F. Van Zee and R. van de Geijn, "BLIS: A Framework for Rapidly
// Instantiating BLAS Functionality", ACM TOMS 41(3), 2015): the operands are
// copied into packed panels sized for the caches, and a register-tiled
// micro-kernel multiplies a sliver of A by a sliver of B. On amd64 the
// micro-kernels are Go assembly (AVX-512 with a 14x32 tile, or AVX2+FMA
// with a 6x16 tile, chosen at run time); elsewhere, and with the build tag
// purego, a pure-Go kernel is used.
//
// Matrices are row-major. Weights that are multiplied many times can be
// packed once with PackA and used with SgemmPackedA; convolution computes
// W[Cout x K] * col[K x HW], so the weights are the A side. Packing costs
// most, relative to the product, when op(B) has few columns: products with
// at most 256 columns read a non-transposed A in place instead of packing
// it, and pre-packing pays off most for the deep, narrow layers.
//
// SgemmWith and SgemmPackedA can add a bias per row or column of C and
// clamp the result (ReLU, ReLU6) while C is in registers; see Options.
//
// Large products are split over goroutines; see SetThreads. Products below
// about 4 million multiply-adds stay on the calling goroutine, and a call
// on one goroutine allocates nothing once its packing buffers are pooled.
package gemm

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Options selects extras of SgemmWith and SgemmPackedA. The extras are
// applied to every element v = alpha*op(A)*op(B) + beta*C of row i and
// column j of the result, in this order:
//
//	v += RowBias[i]           if RowBias != nil
//	v += ColBias[j]           if ColBias != nil
//	v = min(max(v, Min), Max) if Clamp (a NaN stays NaN)
//
// A convolution computed as W*col adds its bias with RowBias; a dense layer
// computed as X*W^T adds it with ColBias. ReLU is Clamp with Min 0 and Max
// +Inf.
type Options struct {
	RowBias []float32 // m values, or nil
	ColBias []float32 // n values, or nil
	Clamp   bool      // clamp the result to [Min, Max]
	Min     float32   // lower bound when Clamp
	Max     float32   // upper bound when Clamp
	// Threads, when positive, is the most goroutines the call uses,
	// overriding the package setting (see SetThreads).
	Threads int
}

var threadSetting atomic.Int64

// SetThreads sets the most goroutines one Sgemm call may use. n <= 0
// restores the default, runtime.GOMAXPROCS(0) at the time of each call.
// It is safe to call concurrently with Sgemm.
func SetThreads(n int) {
	if n < 0 {
		n = 0
	}
	threadSetting.Store(int64(n))
}

// Threads reports the most goroutines one Sgemm call may use at present.
func Threads() int {
	if n := int(threadSetting.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// Kernel names the micro-kernel in use: "avx512", "avx2" or "go".
func Kernel() string {
	return current.Load().name
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X or its transpose. op(A) is m x k, op(B) is k x n and C is
// m x n; lda, ldb and ldc are the row strides of A, B and C as stored.
// When beta is 0, C is overwritten and need not be initialised.
//
// Sgemm panics if a dimension is negative, a stride is too small or a slice
// is too short for the dimensions and strides.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmWith(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// SgemmWith is Sgemm with the extras of opt, which may be nil.
func SgemmWith(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, opt *Options) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	if transA {
		checkMatrix("A", k, m, a, lda)
	} else {
		checkMatrix("A", m, k, a, lda)
	}
	pr := problem{ks: current.Load(), a: a, lda: lda, transA: transA}
	pr.setup(transB, m, n, k, alpha, b, ldb, beta, c, ldc, opt)
	// Packing A costs about as much as multiplying it by a few dozen
	// columns: below directMaxN columns, read it in place if the cache
	// allows (a single column sliver reads each sliver of A only once).
	pr.direct = pr.ks.readsInPlace(n, pr.kc, lda, transA)
	pr.run()
}

// ReadsAInPlace reports whether SgemmWith reads a non-transposed A with k
// columns and row stride lda in place, rather than packing it on every
// call, in a product with n columns. When it does not, packing A once with
// PackA saves that copy on each call: worth it for weights multiplied
// often, such as those of a convolution.
func ReadsAInPlace(n, k, lda int) bool {
	ks := current.Load()
	return ks.readsInPlace(n, blockDepth(k, ks.kc), lda, false)
}

// readsInPlace reports whether the kernels read A in place for a product
// of n columns with k blocks of kc.
func (ks *kernelSet) readsInPlace(n, kc, lda int, transA bool) bool {
	return ks.directA && !transA && n <= directMaxN &&
		(n <= ks.nr || directOK(lda, kc, ks.mr))
}

// checkMatrix panics unless x can hold a rows x cols row-major matrix with
// row stride ld.
func checkMatrix(name string, rows, cols int, x []float32, ld int) {
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols {
		panic(fmt.Sprintf("gemm: stride of %s is %d, less than its %d columns", name, ld, cols))
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("gemm: %s has %d elements, needs %d for %dx%d with stride %d", name, len(x), need, rows, cols, ld))
	}
}

// problem is one call, checked and ready to run.
type problem struct {
	ks      *kernelSet
	transA  bool
	transB  bool
	m, n, k int
	kc      int // depth of a k block
	alpha   float32
	a       []float32
	lda     int
	pa      *PackedA // A packed in advance, or nil
	direct  bool     // the kernels read A in place
	b       []float32
	ldb     int
	beta    float32
	c       []float32
	ldc     int
	opt     Options
	threads int
}

// setup checks and records everything but A.
func (pr *problem) setup(transB bool, m, n, k int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int, opt *Options) {
	if transB {
		checkMatrix("B", n, k, b, ldb)
	} else {
		checkMatrix("B", k, n, b, ldb)
	}
	checkMatrix("C", m, n, c, ldc)
	pr.transB = transB
	pr.m, pr.n, pr.k = m, n, k
	pr.alpha, pr.beta = alpha, beta
	pr.b, pr.ldb = b, ldb
	pr.c, pr.ldc = c, ldc
	pr.opt, pr.threads = checkOptions(opt, m, n)
	pr.kc = blockDepth(k, pr.ks.kc)
}

// checkOptions returns a copy of opt (the zero Options when nil) and the
// goroutines the call may use, after checking the biases against an m x n
// result.
func checkOptions(opt *Options, m, n int) (Options, int) {
	threads := Threads()
	if opt == nil {
		return Options{}, threads
	}
	if opt.RowBias != nil && len(opt.RowBias) < m {
		panic(fmt.Sprintf("gemm: RowBias has %d elements, needs %d", len(opt.RowBias), m))
	}
	if opt.ColBias != nil && len(opt.ColBias) < n {
		panic(fmt.Sprintf("gemm: ColBias has %d elements, needs %d", len(opt.ColBias), n))
	}
	if opt.Threads > 0 {
		threads = opt.Threads
	}
	return *opt, threads
}

// blockDepth splits k into equal blocks of at most kcMax.
func blockDepth(k, kcMax int) int {
	if k <= kcMax {
		return max(k, 1)
	}
	nb := (k + kcMax - 1) / kcMax
	return (k + nb - 1) / nb
}

// directMaxN is the most columns of C for which the kernels read a
// non-transposed A in place instead of packing it.
const directMaxN = 256

// Work below minParallel multiply-adds stays on the calling goroutine; a
// goroutine gets at least minPerThread.
const (
	minParallel  = 1 << 22
	minPerThread = 1 << 21
)

func (pr *problem) run() {
	m, n, k := pr.m, pr.n, pr.k
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || pr.alpha == 0 {
		pr.scaleOnly()
		return
	}
	work := m * n * k
	nt := pr.threads
	if work < minParallel {
		nt = 1
	}
	nt = min(nt, max(work/minPerThread, 1))
	ks := pr.ks
	mSlivers := (m + ks.mr - 1) / ks.mr
	nSlivers := (n + ks.nr - 1) / ks.nr
	// Split N when it has enough slivers: the threads then share A and
	// each packs only its own part of B. Otherwise split M.
	splitN := nSlivers >= 4*nt || nSlivers >= mSlivers
	if splitN {
		nt = min(nt, nSlivers)
	} else {
		nt = min(nt, mSlivers)
	}
	if nt <= 1 {
		w := getWorker()
		pr.block(w, 0, m, 0, n)
		putWorker(w)
		return
	}
	runParallel(*pr, nt, splitN)
}

// runParallel computes pr on nt goroutines, splitting C along N or M. It
// takes pr by value so that the single-goroutine path allocates nothing.
func runParallel(pr problem, nt int, splitN bool) {
	if testHookParallel != nil {
		testHookParallel(nt, splitN)
	}
	ks := pr.ks
	mSlivers := (pr.m + ks.mr - 1) / ks.mr
	nSlivers := (pr.n + ks.nr - 1) / ks.nr
	var wg sync.WaitGroup
	for t := nt - 1; t >= 0; t-- {
		var i0, i1, j0, j1 int
		if splitN {
			i0, i1 = 0, pr.m
			j0, j1 = part(nSlivers, nt, t, ks.nr, pr.n)
		} else {
			i0, i1 = part(mSlivers, nt, t, ks.mr, pr.m)
			j0, j1 = 0, pr.n
		}
		if t == 0 {
			w := getWorker()
			pr.block(w, i0, i1, j0, j1)
			putWorker(w)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := getWorker()
			pr.block(w, i0, i1, j0, j1)
			putWorker(w)
		}()
	}
	wg.Wait()
}

// testHookParallel, when set by tests, is told how runParallel splits.
var testHookParallel func(nt int, splitN bool)

// part returns the range of elements of part t of nt, splitting slivers of
// size unit as evenly as possible; total is the element count.
func part(slivers, nt, t, unit, total int) (lo, hi int) {
	lo = slivers * t / nt * unit
	hi = min(slivers*(t+1)/nt*unit, total)
	return lo, hi
}

// scaleOnly computes C = beta*C followed by the extras, for k == 0 or
// alpha == 0 where op(A)*op(B) does not contribute.
func (pr *problem) scaleOnly() {
	for i := 0; i < pr.m; i++ {
		ci := pr.c[i*pr.ldc : i*pr.ldc+pr.n]
		switch pr.beta {
		case 0:
			clear(ci)
		case 1:
		default:
			for j := range ci {
				ci[j] *= pr.beta
			}
		}
		o := &pr.opt
		if o.RowBias == nil && o.ColBias == nil && !o.Clamp {
			continue
		}
		for j := range ci {
			v := ci[j]
			if o.RowBias != nil {
				v += o.RowBias[i]
			}
			if o.ColBias != nil {
				v += o.ColBias[j]
			}
			if o.Clamp {
				v = clamp(v, o.Min, o.Max)
			}
			ci[j] = v
		}
	}
}

// clamp returns min(max(v, lo), hi), passing a NaN v through.
func clamp(v, lo, hi float32) float32 {
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v
}
