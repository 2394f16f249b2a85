package gemm

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// kernelSet is a family of micro-kernels with the cache blocking that suits
// it.
type kernelSet struct {
	name  string
	mr    int // rows of a register tile
	nr    int // columns of a register tile
	nrMin int // a last sliver of at most nrMin columns is packed nrMin wide
	// directA is set when tile can read a non-transposed A in place
	// (see flagDirectA), skipping its packing.
	directA bool
	kc      int // largest depth of a packed block
	nc      int // columns of a packed B block (a multiple of nr)
	mc      int // rows of a packed A panel (a multiple of mr)
	// pack copies operand slivers, with the semantics of packGo.
	pack func(dst, src []float32, base, ld, k, rows, stride int, gather bool)
	// tile computes the mr x ncols tile at c from the packed slivers a
	// (mr values per k step) and b (nr values per k step, or nrMin
	// when ncols <= nrMin) over k steps, with the epilogue of p.
	tile func(mr, ncols, k int, a, b, c []float32, ldc int, p *kparams)
	// tiles, when not nil, computes count whole tiles side by side in
	// one call: the mr x (count*nr) block at c from a and count
	// consecutive B slivers, with p's column biases (if any) running
	// along; the same bits as count calls of tile.
	tiles func(mr, count, k int, a, b, c []float32, ldc int, p *kparams)
	// tileRows, when not nil, is tile with B read in place: k step s
	// reads ncols (at most nr) values at b + p.offs[s]. See SgemmRows.
	tileRows func(mr, ncols, k int, a []float32, b *float32, c []float32, ldc int, p *kparams)
	// narrow, when not nil, computes the last w <= narrowMax columns of
	// s <= narrowSlivers[w-1] consecutive packed A slivers of p.rows rows each
	// (s > 1 only for slivers of mr rows), from B packed w values per k
	// step; see narrowSplit.
	narrow        func(s, w, k int, a, b, c []float32, ldc int, p *kparams)
	narrowMax     int
	narrowSlivers []int // per width w, at narrowSlivers[w-1]
	// colMaxA and colMinB, when colMaxA > 0, bound the blocks that
	// blockCols computes: at most colMaxA bytes of packed A, more than
	// colMinB bytes of B.
	colMaxA, colMinB int
}

// narrowSplit returns how many of nc columns (a block's) the tiles take
// and how many are left to narrow: a remainder past the last whole
// nr-column sliver of at most narrowMax columns, or of 16 + at most
// narrowMax (16 for a one-vector tile, the rest narrow). A 7x7 plane's 49
// columns were a 32-column tile and a masked 32-column tile for 17; they
// are now 32 + 16 + 1.
func (ks *kernelSet) narrowSplit(nc int) (tiles, narrow int) {
	if ks.narrow == nil {
		return nc, 0
	}
	rem := nc % ks.nr
	switch {
	case rem == 0:
	case rem <= ks.narrowMax:
		return nc - rem, rem
	case rem > ks.nrMin && rem-ks.nrMin <= ks.narrowMax:
		return nc - (rem - ks.nrMin), rem - ks.nrMin
	}
	return nc, 0
}

// kparams carries the epilogue of one tile to a micro-kernel. Its layout
// is read by the assembly kernels (see internal/asmgen): do not reorder.
type kparams struct {
	alpha   float32
	beta    float32
	lo      float32
	hi      float32
	mask    uint32 // AVX-512: bit j is set when column j is stored
	flags   uint32
	rowBias *float32 // mr values, or nil
	colBias *float32 // ncols values, or nil
	vmask   [16]int32
	lda     int    // row stride of A when flagDirectA
	offs    *int32 // row offsets of B for tileRows
	rows    int    // rows of each sliver for narrow
	tiles   int    // AVX2 tile kernels: whole tiles a call (see tiles)
	vcols   int    // AVX2: the columns vmask selects (0: not set)
}

// startBlock sets p's beta and clamp bounds for a k block, the first
// and/or the last of the product (which adds C*beta, the extras of o), and
// returns the block's flags.
func (p *kparams) startBlock(first, last bool, beta float32, o *Options) uint32 {
	flags := uint32(0)
	p.beta = 1
	if first {
		p.beta = beta
	}
	if p.beta != 0 {
		flags |= flagLoadC
	}
	if last {
		if o.RowBias != nil {
			flags |= flagRowBias
		}
		if o.ColBias != nil {
			flags |= flagColBias
		}
		if o.Clamp {
			flags |= flagClamp
			p.lo, p.hi = o.Min, o.Max
		}
	}
	return flags
}

// Flags of kparams; keep in sync with internal/asmgen.
const (
	flagLoadC   = 1  // C is read and scaled by beta
	flagRowBias = 2  // rowBias[r] is added to row r
	flagColBias = 4  // colBias[j] is added to column j
	flagClamp   = 8  // the result is clamped to [lo, hi]
	flagPartial = 16 // ncols is less than nr (AVX2 kernels)
	flagDirectA = 32 // a is unpacked A with row stride lda (Go side only)
)

// current is the kernel family used by new calls. Tests switch it.
var current atomic.Pointer[kernelSet]

func init() {
	ks := kernelSets()
	current.Store(ks[0])
}

// worker holds one goroutine's packing buffers.
type worker struct {
	abuf []float32
	bbuf []float32
	p    kparams
}

// workers holds the idle workers. It is a plain free list rather than a
// sync.Pool: a sync.Pool keeps a worker per processor where others cannot
// take it, and a goroutine that moved missed it and grew new buffers (1.9
// MiB in ten ResNet50 forwards). The list holds at most as many workers as
// ever ran at once, each with buffers no larger than a block.
var workers struct {
	sync.Mutex
	idle []*worker
}

func getWorker() *worker {
	workers.Lock()
	defer workers.Unlock()
	n := len(workers.idle)
	if n == 0 {
		return new(worker)
	}
	w := workers.idle[n-1]
	workers.idle = workers.idle[:n-1]
	return w
}

func putWorker(w *worker) {
	workers.Lock()
	workers.idle = append(workers.idle, w)
	workers.Unlock()
}

// buffer returns n elements of *buf, growing it as needed, starting on a
// 64-byte boundary, with at least packSlack more elements after them.
func buffer(buf *[]float32, n int) []float32 {
	const align = 16 // float32s in 64 bytes
	if cap(*buf) < n+2*align {
		*buf = make([]float32, n+2*align)
	}
	b := (*buf)[:cap(*buf)]
	off := int(uintptr(unsafe.Pointer(&b[0]))%64) / 4
	if off != 0 {
		off = align - off
	}
	return b[off : off+n]
}

// block computes rows [i0, i1) and columns [j0, j1) of C. When A is
// packed in advance, i0 is a multiple of the tile height.
func (pr *problem) block(w *worker, i0, i1, j0, j1 int) {
	ks := pr.ks
	mcMax := ks.mc
	if pr.pa != nil {
		mcMax = i1 - i0
	}
	p := &w.p
	p.alpha = pr.alpha
	o := &pr.opt
	for ic := i0; ic < i1; ic += mcMax {
		mc := min(mcMax, i1-ic)
		for k0 := 0; k0 < pr.k; k0 += pr.kc {
			kb := min(pr.kc, pr.k-k0)
			var ap []float32
			switch {
			case pr.direct:
				p.lda = pr.lda
			case pr.pa != nil:
				ap = pr.pa.panel(k0, kb, ic)
			default:
				ap = buffer(&w.abuf, mc*kb)
				ks.packA(ap, pr.transA, pr.a, pr.lda, ic, mc, k0, kb)
			}
			flags := p.startBlock(k0 == 0, k0+kb == pr.k, pr.beta, o)
			if pr.direct {
				flags |= flagDirectA
			}
			for jc := j0; jc < j1; jc += ks.nc {
				nc, tail := min(ks.nc, j1-jc), 0
				if pr.ldc < 1<<24 {
					nc, tail = ks.narrowSplit(nc)
				}
				if !pr.direct && ks.colMaxA > 0 && mc*kb*4 <= ks.colMaxA && nc*kb*4 > ks.colMinB && nc >= 4*ks.nr {
					pr.blockCols(w, flags, ap, ic, mc, k0, kb, jc, nc, tail)
					continue
				}
				main := (nc + ks.nr - 1) / ks.nr * ks.nr * kb
				bp := buffer(&w.bbuf, main+tail*kb)
				ks.packB(bp, pr.transB, pr.b, pr.ldb, k0, kb, jc, nc)
				var tp []float32
				if tail > 0 {
					tp = bp[main:]
					pr.packTail(tp, k0, kb, jc+nc, tail)
				}
				// The narrow tail runs after the tiles of each
				// narrowSlivers slivers, while their A is in the cache;
				// group is the first row it has not done. With A read
				// in place, the narrow kernels read the group's rows
				// packed into gp, each sliver right after its tiles.
				group := 0
				var gp []float32
				if pr.direct && tail > 0 {
					gp = buffer(&w.abuf, min(mc, ks.narrowSlivers[tail-1]*ks.mr)*kb)
				}
				for ir := 0; ir < mc; ir += ks.mr {
					mr := min(ks.mr, mc-ir)
					row := ic + ir
					var as []float32
					if pr.direct {
						as = pr.a[row*pr.lda+k0:]
					} else {
						as = ap[ir*kb:]
					}
					p.setRowBias(flags, o, row)
					jr0 := 0
					if whole := nc / ks.nr; ks.tiles != nil && whole > 1 {
						p.flags = flags
						p.setColBias(flags, o, jc)
						ks.tiles(mr, whole, kb, as, bp, pr.c[row*pr.ldc+jc:], pr.ldc, p)
						jr0 = whole * ks.nr
					}
					for jr := jr0; jr < nc; jr += ks.nr {
						ncols := min(ks.nr, nc-jr)
						col := jc + jr
						p.flags = flags
						p.setColBias(flags, o, col)
						ks.tile(mr, ncols, kb, as, bp[jr*kb:], pr.c[row*pr.ldc+col:], pr.ldc, p)
					}
					if gp != nil {
						ks.packA(gp[(ir-group)*kb:], false, pr.a, pr.lda, row, mr, k0, kb)
					}
					if end := ir + mr; tail > 0 && (end == mc || end-group == ks.narrowSlivers[tail-1]*ks.mr) {
						g := gp
						if g == nil {
							g = ap[group*kb:]
						}
						pr.narrowTail(w, flags, g, ic+group, end-group, kb, tp, jc+nc, tail)
						group = end
					}
				}
			}
		}
	}
}

// setRowBias points p at the row biases of o from row on, when the block's
// flags have them (else nil).
func (p *kparams) setRowBias(flags uint32, o *Options, row int) {
	p.rowBias = nil
	if flags&flagRowBias != 0 {
		p.rowBias = &o.RowBias[row]
	}
}

// setColBias points p at the column biases of o from col on, when the
// block's flags have them (else nil).
func (p *kparams) setColBias(flags uint32, o *Options, col int) {
	p.colBias = nil
	if flags&flagColBias != 0 {
		p.colBias = &o.ColBias[col]
	}
}

// blockCols is the part of block for the k block [k0, k0+kb) and columns
// [jc, jc+nc+tail) of C, for rows [ic, ic+mc) of packed A (ap) few enough
// to stay in the L2 cache: it packs B one sliver at a time and runs every
// row panel on it while it is in L1, rather than packing the whole block
// of B (up to nc columns, more than L2 holds for deep products) and
// streaming it once per panel.
func (pr *problem) blockCols(w *worker, flags uint32, ap []float32, ic, mc, k0, kb, jc, nc, tail int) {
	ks, p, o := pr.ks, &w.p, &pr.opt
	bp := buffer(&w.bbuf, ks.nr*kb+tail*kb)
	for jr := 0; jr < nc; jr += ks.nr {
		ncols := min(ks.nr, nc-jr)
		col := jc + jr
		ks.packB(bp, pr.transB, pr.b, pr.ldb, k0, kb, col, ncols)
		p.setColBias(flags, o, col)
		for ir := 0; ir < mc; ir += ks.mr {
			mr := min(ks.mr, mc-ir)
			row := ic + ir
			p.setRowBias(flags, o, row)
			p.flags = flags
			ks.tile(mr, ncols, kb, ap[ir*kb:], bp, pr.c[row*pr.ldc+col:], pr.ldc, p)
		}
	}
	if tail == 0 {
		return
	}
	tp := bp[ks.nr*kb:]
	pr.packTail(tp, k0, kb, jc+nc, tail)
	pr.narrowTail(w, flags, ap, ic, mc, kb, tp, jc+nc, tail)
}

// packTail packs the rows [k0, k0+kb) of columns [col, col+tail) of op(B)
// into tp for the narrow kernels, tail values a k step.
func (pr *problem) packTail(tp []float32, k0, kb, col, tail int) {
	if pr.transB {
		pr.ks.pack(tp, pr.b, col*pr.ldb+k0, pr.ldb, kb, tail, tail, true)
	} else {
		pr.ks.pack(tp, pr.b, k0*pr.ldb+col, pr.ldb, kb, tail, tail, false)
	}
}

// narrowTail computes columns [col, col+tail) of rows [ic, ic+mc) of C
// with the narrow kernels, from the packed A panel ap (kb deep) and the
// tail of B packed tail values per k step in tp, for a k block with the
// given flags.
func (pr *problem) narrowTail(w *worker, flags uint32, ap []float32, ic, mc, kb int, tp []float32, col, tail int) {
	ks, o, p := pr.ks, &pr.opt, &w.p
	for ir := 0; ir < mc; {
		h, s := min(ks.mr, mc-ir), 1
		if h == ks.mr {
			s = min(ks.narrowSlivers[tail-1], (mc-ir)/ks.mr)
		}
		row := ic + ir
		p.flags, p.rows = flags, h
		p.rowBias, p.colBias = nil, nil
		if flags&flagRowBias != 0 {
			p.rowBias = &o.RowBias[row:][:(s-1)*ks.mr+h][0]
		}
		if flags&flagColBias != 0 {
			p.colBias = &o.ColBias[col:][:tail][0]
		}
		ks.narrow(s, tail, kb, ap[ir*kb:], tp, pr.c[row*pr.ldc+col:], pr.ldc, p)
		ir += s * h
	}
}

// directOK reports whether mr rows of kc elements lda apart may be read in
// place from the L1 cache: rows whose stride is a multiple of a large
// power of two fall into the same sets and would evict each other. The L1
// of the machines in mind has 64 sets of 64-byte lines (48 KiB, 12 ways);
// at most 8 ways per set go to A.
func directOK(lda, kc, mr int) bool {
	const sets, line, ways = 64, 64, 8
	var use [sets]int
	lines := min((kc*4+line-1)/line+1, sets)
	for r := 0; r < mr; r++ {
		s0 := r * lda * 4 / line
		for l := 0; l < lines; l++ {
			if use[(s0+l)%sets]++; use[(s0+l)%sets] > ways {
				return false
			}
		}
	}
	return true
}

// packA copies rows [i0, i0+rows) and columns [k0, k0+kb) of op(A) into
// dst as slivers of mr rows (the last one may be shorter): sliver s starts
// at s*mr*kb and holds, for each k step, one value per row.
func (ks *kernelSet) packA(dst []float32, transA bool, a []float32, lda, i0, rows, k0, kb int) {
	for ir := 0; ir < rows; ir += ks.mr {
		h := min(ks.mr, rows-ir)
		d := dst[ir*kb : ir*kb+h*kb]
		if transA {
			ks.pack(d, a, k0*lda+i0+ir, lda, kb, h, h, false)
		} else {
			ks.pack(d, a, (i0+ir)*lda+k0, lda, kb, h, h, true)
		}
	}
}

// packB copies rows [k0, k0+kb) and columns [jc, jc+nc) of op(B) into dst
// as slivers of nr columns: sliver s starts at s*nr*kb and holds, for each
// k step, nr values (nrMin when the sliver is the last and at most nrMin
// wide), zero-padded past the matrix.
func (ks *kernelSet) packB(dst []float32, transB bool, b []float32, ldb, k0, kb, jc, nc int) {
	for jr := 0; jr < nc; jr += ks.nr {
		w := min(ks.nr, nc-jr)
		s := ks.nr
		if w <= ks.nrMin {
			s = ks.nrMin
		}
		d := dst[jr*kb : jr*kb+s*kb]
		if transB {
			ks.pack(d, b, (jc+jr)*ldb+k0, ldb, kb, w, s, true)
		} else {
			ks.pack(d, b, k0*ldb+jc+jr, ldb, kb, w, s, false)
		}
	}
}

// packGo copies k steps of rows values each from src into dst, step p at
// dst[p*stride:], zero-padded to stride values. Value r of step p is
// src[base+r*ld+p] when gather (reading down the rows of a row-major
// matrix), else src[base+p*ld+r].
func packGo(dst, src []float32, base, ld, k, rows, stride int, gather bool) {
	dst = dst[:k*stride]
	if gather {
		r := 0
		for ; r+4 <= rows; r += 4 {
			s0 := src[base+r*ld:][:k]
			s1 := src[base+(r+1)*ld:][:k]
			s2 := src[base+(r+2)*ld:][:k]
			s3 := src[base+(r+3)*ld:][:k]
			for p := range s0 {
				d := dst[p*stride+r:][:4]
				d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
			}
		}
		for ; r < rows; r++ {
			s := src[base+r*ld:]
			s = s[:k]
			for p, v := range s {
				dst[p*stride+r] = v
			}
		}
		if rows < stride {
			for p := 0; p < k; p++ {
				clear(dst[p*stride+rows : p*stride+stride])
			}
		}
		return
	}
	switch {
	case rows == 16 && stride == 16:
		for p := 0; p < k; p++ {
			*(*[16]float32)(dst[p*16:]) = [16]float32(src[base+p*ld:])
		}
	case rows == 4 && stride == 4:
		for p := 0; p < k; p++ {
			*(*[4]float32)(dst[p*4:]) = [4]float32(src[base+p*ld:])
		}
	default:
		for p := 0; p < k; p++ {
			d := dst[p*stride : p*stride+stride]
			copy(d, src[base+p*ld:][:rows])
			clear(d[rows:])
		}
	}
}
