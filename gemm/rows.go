package gemm

import (
	"fmt"
	"sync"
)

// SgemmRows computes C = op(A)*B + beta*C with the extras of opt, for
// op(A) (m x k) packed in advance by PackA and a k x n matrix B that is not
// stored as such: its row p is the n values of b from offs[p] on,
// B[p][j] = b[offs[p]+j]. beta is 0 (C need not be initialised) or 1.
//
// This is the product of a convolution with unit strides read straight
// from its input: when each input plane is zero-padded and the output
// positions are numbered along rows as wide as the padded input (dropping
// the extra columns afterwards), the unfolded input (im2col) has row
// (c, kh, kw) equal to the padded plane c shifted by kh rows and kw
// columns, a fixed offset. SgemmRows multiplies by it without writing it
// out: the AVX-512 kernels load B through the offsets, the others pack
// each block of B from them.
//
// SgemmRows panics if offs has not k elements, an offset is negative or
// offs[p]+n exceeds len(b), beta is not 0 or 1, or C is too short.
func SgemmRows(pa *PackedA, offs []int32, n int, b []float32, beta float32, c []float32, ldc int, opt *Options) {
	m, k := pa.m, pa.k
	if n < 0 {
		panic(fmt.Sprintf("gemm: negative dimension n=%d", n))
	}
	if len(offs) != k {
		panic(fmt.Sprintf("gemm: %d row offsets for k=%d", len(offs), k))
	}
	if beta != 0 && beta != 1 {
		panic(fmt.Sprintf("gemm: SgemmRows takes beta 0 or 1, not %v", beta))
	}
	for p, o := range offs {
		if o < 0 || int(o)+n > len(b) {
			panic(fmt.Sprintf("gemm: row %d of B at offset %d with %d columns is outside the %d elements of b", p, o, n, len(b)))
		}
	}
	checkMatrix("C", m, n, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	pr := rowsProblem{pa: pa, offs: offs, n: n, b: b, beta: beta, c: c, ldc: ldc}
	pr.opt, pr.threads = checkOptions(opt, m, n)
	if k == 0 {
		pr.scaleOnly()
		return
	}
	ks := pa.ks
	nt := min(pr.threads, max(m*n*k/minPerThread, 1), (n+ks.nr-1)/ks.nr)
	if m*n*k < minParallel || nt <= 1 {
		w := getWorker()
		pr.block(w, 0, n)
		putWorker(w)
		return
	}
	slivers := (n + ks.nr - 1) / ks.nr
	var wg sync.WaitGroup
	for t := 1; t < nt; t++ {
		j0, j1 := part(slivers, nt, t, ks.nr, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := getWorker()
			pr.block(w, j0, j1)
			putWorker(w)
		}()
	}
	j0, j1 := part(slivers, nt, 0, ks.nr, n)
	w := getWorker()
	pr.block(w, j0, j1)
	putWorker(w)
	wg.Wait()
}

// rowsProblem is one call of SgemmRows, checked.
type rowsProblem struct {
	pa      *PackedA
	offs    []int32
	n       int
	b       []float32
	beta    float32
	c       []float32
	ldc     int
	opt     Options
	threads int
}

// block computes columns [j0, j1) of C in the order of the packed
// products (see problem.block): for each k block and each block of nc
// columns, every sliver of A is multiplied by the column slivers in turn,
// so that it stays in the L1 cache while B comes from L2.
func (pr *rowsProblem) block(w *worker, j0, j1 int) {
	pa := pr.pa
	ks := pa.ks
	m, k := pa.m, pa.k
	kc := blockDepth(k, ks.kc)
	o := &pr.opt
	p := &w.p
	p.alpha = 1
	for k0 := 0; k0 < k; k0 += kc {
		kb := min(kc, k-k0)
		flags := p.startBlock(k0 == 0, k0+kb == k, pr.beta, o)
		ap := pa.panel(k0, kb, 0)
		offs := pr.offs[k0 : k0+kb]
		p.offs = &offs[0]
		for jc := j0; jc < j1; jc += ks.nc {
			nc := min(ks.nc, j1-jc)
			var bp []float32
			if ks.tileRows == nil {
				bp = pr.packRows(w, offs, jc, nc)
			}
			for ir := 0; ir < m; ir += ks.mr {
				mr := min(ks.mr, m-ir)
				p.rowBias = nil
				if flags&flagRowBias != 0 {
					p.rowBias = &o.RowBias[ir]
				}
				as := ap[ir*kb:]
				for jr := jc; jr < jc+nc; jr += ks.nr {
					ncols := min(ks.nr, jc+nc-jr)
					p.flags = flags
					p.colBias = nil
					if flags&flagColBias != 0 {
						p.colBias = &o.ColBias[jr]
					}
					cs := pr.c[ir*pr.ldc+jr:]
					if bp == nil {
						ks.tileRows(mr, ncols, kb, as, &pr.b[jr], cs, pr.ldc, p)
					} else {
						ks.tile(mr, ncols, kb, as, bp[(jr-jc)*kb:], cs, pr.ldc, p)
					}
				}
			}
		}
	}
}

// packRows packs columns [jc, jc+nc) of the rows of B at offs into
// slivers in the layout tile expects (see kernelSet.packB).
func (pr *rowsProblem) packRows(w *worker, offs []int32, jc, nc int) []float32 {
	ks := pr.pa.ks
	kb := len(offs)
	bp := buffer(&w.bbuf, (nc+ks.nr-1)/ks.nr*ks.nr*kb)
	for jr := 0; jr < nc; jr += ks.nr {
		cols := min(ks.nr, nc-jr)
		s := ks.nr
		if cols <= ks.nrMin {
			s = ks.nrMin
		}
		d := bp[jr*kb : jr*kb+s*kb]
		for q, o := range offs {
			dq := d[q*s : (q+1)*s]
			src := int(o) + jc + jr
			copy(dq, pr.b[src:src+cols])
			clear(dq[cols:])
		}
	}
	return bp
}

// scaleOnly computes C = beta*C followed by the extras when k is 0.
func (pr *rowsProblem) scaleOnly() {
	full := problem{m: pr.pa.m, n: pr.n, beta: pr.beta, c: pr.c, ldc: pr.ldc, opt: pr.opt}
	full.scaleOnly()
}
