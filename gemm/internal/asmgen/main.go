// Command asmgen writes the Go assembly micro-kernels and packing routines
// of package gemm (kernels_amd64.s) and their Go declarations
// (kernels_amd64.go). Run it through go generate:
//
//	go generate ./gemm/
//
// Each kernel computes one register tile of C = alpha*A*B + beta*C from
// packed operands, following the GotoBLAS/BLIS design: K. Goto and
// R. van de Geijn, "Anatomy of High-Performance Matrix Multiplication",
// ACM TOMS 34(3), 2008, and F. Van Zee and R. van de Geijn, "BLIS: A
// Framework for Rapidly Instantiating BLAS Functionality", ACM TOMS 41(3),
// 2015. The packed A sliver holds mr values per k step (one per tile row,
// broadcast), the packed B sliver holds nr values per k step (vector loads
// along a row of C). The "direct" kernels (names with D) read the A sliver
// in place from a row-major matrix instead, row r at a + r*lda. The
// "offset" kernels (names with O, AVX-512 two-vector tiles only) read B
// unpacked through a table of row offsets: k step p loads its nr values
// from b + offs[p] (kparams.offs, int32 elements), with the column mask
// applied to the loads, so that a convolution reads its input in place.
//
// Families: AVX-512, mr = 1..14 rows by 16 or 32 columns (zmm
// accumulators), and AVX2+FMA, mr = 1..6 rows by 16 columns (ymm).
//
// Go declaration of every kernel (see kernels_amd64.go):
//
//	func name(k int, a, b, c *float32, ldc int, p *kparams)
//
// with kparams laid out as
//
//	 0 alpha   float32
//	 4 beta    float32
//	 8 lo      float32 (clamp lower bound)
//	12 hi      float32 (clamp upper bound)
//	16 mask    uint32  (AVX-512: bit j set when column j is stored)
//	20 flags   uint32  (flag* constants below)
//	24 rowBias *float32 (mr values, one per row)
//	32 colBias *float32 (nr values, one per column)
//	40 vmask   [16]int32 (AVX2: -1 for a stored column, 0 otherwise)
//	104 lda    int (row stride of an unpacked A, in elements)
//	112 offs   *int32 (offset kernels: row offsets of B, in elements)
//	120 rows   int (narrow kernels: rows of each sliver)
//	128 tiles  int (AVX2 tile kernels: whole tiles to compute, at least one)
//
// The narrow kernels (AVX-512, names kernAVX512Nx{s}x{w}) compute the
// last w <= 4 columns of s <= 4 consecutive packed A slivers of rows rows
// each (the slivers' rows*k values apart), with B packed w values per k
// step: one accumulator per sliver and column, vectors along the rows,
// so that a tail of a few columns costs a few FMAs per k step instead of
// a 16-column tile. Each element is still the sum of its products in k
// order, with the same epilogue, so the bits equal those of the tiles.
// C is read (beta) and written through gathers and scatters down the
// columns.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"strings"
)

// Flags of kparams.flags; keep in sync with package gemm.
const (
	flagLoadC   = 1 // C is read and scaled by beta
	flagRowBias = 2 // rowBias[r] is added to row r
	flagColBias = 4 // colBias[j] is added to column j
	flagClamp   = 8 // the result is clamped to [lo, hi]
	flagPartial = 16
)

// Offsets in kparams.
const (
	offAlpha   = 0
	offBeta    = 4
	offLo      = 8
	offHi      = 12
	offMask    = 16
	offFlags   = 20
	offRowBias = 24
	offColBias = 32
	offVMask   = 40
	offLda     = 104
	offOffs    = 112
	offRows    = 120
	offTiles   = 128
)

// Limits of the narrow kernels: slivers and columns a call.
const (
	narrowS = 4
	narrowW = 4
	// The AVX2 narrow kernels: at most narrowS256 slivers of mr256 rows
	// and narrowW columns, with one accumulator for each sliver and column
	// (at most narrowAcc256 of them; a broadcast takes another register).
	// More slivers for fewer columns: each accumulator is a chain of
	// dependent fused multiply-adds, and one column of three slivers
	// waited on their latency.
	narrowS256   = 6
	narrowAcc256 = 12
)

// avx2NarrowOK reports whether the AVX2 narrow kernel of ns slivers and nw
// columns exists (its accumulators fit).
func avx2NarrowOK(ns, nw int) bool { return ns*nw <= narrowAcc256 }

// Parameters of the AVX-512 and AVX2 families.
const (
	mr512 = 14 // rows of the AVX-512 tile
	mr256 = 6  // rows of the AVX2 tile
)

// Tuning knobs, set by flags (the defaults are what is committed).
var (
	unroll    = 4     // k steps per loop iteration
	bPrefetch = 0     // bytes ahead of B to prefetch per k step, 0 for none
	bcst2     = false // two-vector AVX-512 tiles use embedded broadcasts
)

type gen struct {
	buf bytes.Buffer
}

func (g *gen) p(format string, args ...any) {
	fmt.Fprintf(&g.buf, "\t"+format+"\n", args...)
}

func (g *gen) label(name string) {
	fmt.Fprintf(&g.buf, "%s:\n", name)
}

func (g *gen) header(name string) { g.headerFrame(name, 0) }

// headerFrame is header for a kernel with frame bytes of stack.
func (g *gen) headerFrame(name string, frame int) {
	fmt.Fprintf(&g.buf, "\n// func %s(k int, a, b, c *float32, ldc int, p *kparams)\n", name)
	fmt.Fprintf(&g.buf, "TEXT ·%s(SB), NOSPLIT, $%d-48\n", name, frame)
	g.p("MOVQ k+0(FP), CX")
	g.p("MOVQ a+8(FP), AX")
	g.p("MOVQ b+16(FP), BX")
	g.p("MOVQ c+24(FP), DI")
	g.p("MOVQ ldc+32(FP), SI")
	g.p("MOVQ p+40(FP), DX")
	g.p("SHLQ $2, SI")
}

// prefetchC touches the rows of the C tile so that they are on their way
// to the cache while the k loop runs.
func (g *gen) prefetchC(mr, rowBytes int) {
	g.p("MOVQ DI, R8")
	for r := 0; r < mr; r++ {
		for off := 0; off < rowBytes; off += 64 {
			g.p("PREFETCHT0 %d(R8)", off)
		}
		// Touch the last byte too: the row need not be line aligned.
		g.p("PREFETCHT0 %d(R8)", rowBytes-1)
		if r < mr-1 {
			g.p("ADDQ SI, R8")
		}
	}
}

// kloop emits the k loop, unrolled, calling step(u) for the k step at
// offset u within an iteration. A advances aStep bytes per k step (in AX,
// and in R10 too when direct).
func (g *gen) kloop(aStep, nrBytes int, direct bool, step func(u int)) {
	g.kloopWith(step, func(n int) {
		g.p("ADDQ $%d, AX", n*aStep)
		if direct {
			g.p("ADDQ $%d, R10", n*aStep)
		}
		g.p("ADDQ $%d, BX", n*nrBytes)
	})
}

// kloopWith emits the k loop, unrolled, calling step(u) for the k step at
// offset u within an iteration and advance(n) to move the operands n
// steps on.
func (g *gen) kloopWith(step func(u int), advance func(n int)) {
	g.p("MOVQ CX, R9")
	g.p("SHRQ $%d, R9", log2(unroll))
	g.p("ANDQ $%d, CX", unroll-1)
	g.p("TESTQ R9, R9")
	g.p("JZ tail")
	g.label("loop")
	for u := 0; u < unroll; u++ {
		step(u)
	}
	advance(unroll)
	g.p("DECQ R9")
	g.p("JNZ loop")
	g.label("tail")
	g.p("TESTQ CX, CX")
	g.p("JZ epilogue")
	g.label("loop1")
	step(0)
	advance(1)
	g.p("DECQ CX")
	g.p("JNZ loop1")
	g.label("epilogue")
}

// directSetup loads the registers that directRow uses.
func (g *gen) directSetup() {
	g.p("MOVQ %d(DX), R12", offLda)
	g.p("SHLQ $2, R12")
	g.p("LEAQ (R12)(R12*2), R13")
	g.p("LEAQ (R12)(R12*4), R11")
	g.p("LEAQ (AX)(R11*1), R10")
}

// directRow returns the address of row r of an unpacked A at byte offset
// off, with AX = row 0, R10 = row 5, R12 = L, R13 = 3L and R11 = 5L for
// the row stride L in bytes.
func directRow(r, off int) string {
	modes := []string{
		"(AX)", "(AX)(R12*1)", "(AX)(R12*2)", "(AX)(R13*1)", "(AX)(R12*4)",
		"(AX)(R11*1)", "(AX)(R13*2)", "(R10)(R12*2)", "(AX)(R12*8)", "(R10)(R12*4)",
		"(AX)(R11*2)", "(R10)(R13*2)", "(AX)(R13*4)", "(R10)(R12*8)",
	}
	return fmt.Sprintf("%d%s", off, modes[r])
}

func kernName256(mr int, direct bool) string {
	if direct {
		return fmt.Sprintf("kernAVX2Dx%dx16", mr)
	}
	return fmt.Sprintf("kernAVX2x%dx16", mr)
}

func kernName512Offs(mr int) string {
	return fmt.Sprintf("kernAVX512Ox%dx32", mr)
}

func kernName512(mr, nv int, direct bool) string {
	if direct {
		return fmt.Sprintf("kernAVX512Dx%dx%d", mr, 16*nv)
	}
	return fmt.Sprintf("kernAVX512x%dx%d", mr, 16*nv)
}

func log2(n int) int {
	s := 0
	for 1<<s < n {
		s++
	}
	return s
}

// avx512 emits the kernel for an mr x (16*nv) tile held in zmm registers:
// accumulators Z0.. (row r, vector v in Z[r*nv+v]), B vectors in Z28/Z29,
// broadcasts in Z30/Z31 (nv == 2) or embedded broadcasts (nv == 1).
// A direct kernel reads A unpacked: row r of the sliver at a + r*lda
// (kparams.lda elements), k step p at +4p bytes.
func (g *gen) avx512(mr, nv int, direct bool) {
	name := kernName512(mr, nv, direct)
	g.header(name)
	aStep := mr * 4
	aAddr := func(r, u int) string { return fmt.Sprintf("%d(AX)", u*aStep+4*r) }
	if direct {
		aStep = 4
		aAddr = func(r, u int) string { return directRow(r, 4*u) }
		g.directSetup()
	}
	acc := func(r, v int) string { return fmt.Sprintf("Z%d", r*nv+v) }
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VPXORD %[1]s, %[1]s, %[1]s", acc(r, v))
		}
	}
	g.prefetchC(mr, 64*nv)
	nrBytes := 64 * nv
	g.kloop(aStep, nrBytes, direct, func(u int) {
		bo := u * nrBytes
		for v := 0; v < nv; v++ {
			g.p("VMOVUPS %d(BX), Z%d", bo+64*v, 28+v)
		}
		if bPrefetch > 0 {
			for v := 0; v < nv; v++ {
				g.p("PREFETCHT0 %d(BX)", bo+64*v+bPrefetch)
			}
		}
		for r := 0; r < mr; r++ {
			if nv == 1 || bcst2 {
				for v := 0; v < nv; v++ {
					g.p("VFMADD231PS.BCST %s, Z%d, %s", aAddr(r, u), 28+v, acc(r, v))
				}
				continue
			}
			bc := fmt.Sprintf("Z%d", 30+r%2)
			g.p("VBROADCASTSS %s, %s", aAddr(r, u), bc)
			for v := 0; v < nv; v++ {
				g.p("VFMADD231PS Z%d, %s, %s", 28+v, bc, acc(r, v))
			}
		}
	})
	g.epilogue512(mr, nv)
}

// epilogue512 emits the end of an AVX-512 kernel: acc = alpha*acc
// (+ beta*C) (+ bias) (clamp), then masked stores.
func (g *gen) epilogue512(mr, nv int) {
	acc := func(r, v int) string { return fmt.Sprintf("Z%d", r*nv+v) }
	g.p("MOVL %d(DX), R9", offFlags)
	g.p("MOVL %d(DX), R10", offMask)
	g.p("KMOVW R10, K1")
	if nv == 2 {
		g.p("SHRL $16, R10")
		g.p("KMOVW R10, K2")
	}
	mask := func(v int) string { return fmt.Sprintf("K%d", v+1) }
	g.p("VBROADCASTSS %d(DX), Z30", offAlpha)
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VMULPS Z30, %[1]s, %[1]s", acc(r, v))
		}
	}
	g.p("TESTL $%d, R9", flagLoadC)
	g.p("JZ nobeta")
	g.p("VBROADCASTSS %d(DX), Z31", offBeta)
	g.p("MOVQ DI, R8")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VMOVUPS.Z %d(R8), %s, Z%d", 64*v, mask(v), 28+v)
			g.p("VFMADD231PS Z31, Z%d, %s", 28+v, acc(r, v))
		}
		if r < mr-1 {
			g.p("ADDQ SI, R8")
		}
	}
	g.label("nobeta")
	g.p("TESTL $%d, R9", flagRowBias)
	g.p("JZ norowbias")
	g.p("MOVQ %d(DX), R8", offRowBias)
	for r := 0; r < mr; r++ {
		g.p("VBROADCASTSS %d(R8), Z28", 4*r)
		for v := 0; v < nv; v++ {
			g.p("VADDPS Z28, %[1]s, %[1]s", acc(r, v))
		}
	}
	g.label("norowbias")
	g.p("TESTL $%d, R9", flagColBias)
	g.p("JZ nocolbias")
	g.p("MOVQ %d(DX), R8", offColBias)
	for v := 0; v < nv; v++ {
		g.p("VMOVUPS.Z %d(R8), %s, Z%d", 64*v, mask(v), 28+v)
	}
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VADDPS Z%d, %[2]s, %[2]s", 28+v, acc(r, v))
		}
	}
	g.label("nocolbias")
	var accs []string
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			accs = append(accs, acc(r, v))
		}
	}
	g.clamp512(accs)
	g.p("MOVQ DI, R8")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VMOVUPS %s, %s, %d(R8)", acc(r, v), mask(v), 64*v)
		}
		if r < mr-1 {
			g.p("ADDQ SI, R8")
		}
	}
	g.p("VZEROUPPER")
	g.p("RET")
}

// clamp512 emits the clamp of an AVX-512 epilogue (when flagClamp is set
// in R9) on the accumulators accs, ending at label noclamp.
func (g *gen) clamp512(accs []string) {
	g.p("TESTL $%d, R9", flagClamp)
	g.p("JZ noclamp")
	g.p("VBROADCASTSS %d(DX), Z28", offLo)
	g.p("VBROADCASTSS %d(DX), Z29", offHi)
	for _, a := range accs {
		// Intel operand order vmaxps acc, lo, acc: a NaN in acc (the
		// second source) is passed through.
		g.p("VMAXPS %[1]s, Z28, %[1]s", a)
		g.p("VMINPS %[1]s, Z29, %[1]s", a)
	}
	g.label("noclamp")
}

// avx512Offs emits the offset kernel for an mr x 32 tile: the avx512
// kernel with packed A whose B vectors of k step p are loaded, masked by
// the tile's columns, from b + 4*offs[p] (R11 walks the offsets, R12
// holds the current one).
func (g *gen) avx512Offs(mr int) {
	const nv = 2
	g.header(kernName512Offs(mr))
	aStep := mr * 4
	acc := func(r, v int) string { return fmt.Sprintf("Z%d", r*nv+v) }
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VPXORD %[1]s, %[1]s, %[1]s", acc(r, v))
		}
	}
	g.prefetchC(mr, 64*nv)
	g.p("MOVQ %d(DX), R11", offOffs)
	g.p("MOVL %d(DX), R10", offMask)
	g.p("KMOVW R10, K1")
	g.p("SHRL $16, R10")
	g.p("KMOVW R10, K2")
	g.kloopWith(func(u int) {
		g.p("MOVLQSX %d(R11), R12", 4*u)
		g.p("VMOVUPS.Z (BX)(R12*4), K1, Z28")
		g.p("VMOVUPS.Z 64(BX)(R12*4), K2, Z29")
		for r := 0; r < mr; r++ {
			bc := fmt.Sprintf("Z%d", 30+r%2)
			g.p("VBROADCASTSS %d(AX), %s", u*aStep+4*r, bc)
			for v := 0; v < nv; v++ {
				g.p("VFMADD231PS Z%d, %s, %s", 28+v, bc, acc(r, v))
			}
		}
	}, func(n int) {
		g.p("ADDQ $%d, AX", n*aStep)
		g.p("ADDQ $%d, R11", 4*n)
	})
	g.epilogue512(mr, nv)
}

func kernName256Narrow(s, w int) string {
	return fmt.Sprintf("kernAVX2Nx%dx%d", s, w)
}

// avx2Narrow emits the AVX2 kernel of the last nw columns of ns packed A
// slivers (p.rows rows each, p.rows <= 6): one ymm accumulator per sliver
// and column, lanes for rows, in Y0..; B broadcast into Y12 one column at
// a time; A read straight from memory, eight floats a sliver and k step
// (the packed buffers have slack past their end for the two to seven
// floats beyond the last step). Each element is summed over k in order
// with one fused multiply-add a step, as the tiles do, so that the two
// give the same bits; the epilogue, also in the tiles' order, goes
// through the stack one lane at a time (AVX2 has no scatter).
func (g *gen) avx2Narrow(ns, nw int) {
	g.headerFrame(kernName256Narrow(ns, nw), 32)
	acc := func(s, j int) string { return fmt.Sprintf("Y%d", s*nw+j) }
	for s := 0; s < ns; s++ {
		for j := 0; j < nw; j++ {
			g.p("VXORPS %[1]s, %[1]s, %[1]s", acc(s, j))
		}
	}
	// R12: bytes a k step of a sliver; R13: bytes a sliver; R14: the
	// fourth sliver, when there is one.
	g.p("MOVQ %d(DX), R12", offRows)
	g.p("SHLQ $2, R12")
	g.p("MOVQ R12, R13")
	g.p("IMULQ CX, R13")
	sliver := []string{"(AX)", "(AX)(R13*1)", "(AX)(R13*2)", "(R14)", "(AX)(R13*4)", "(R14)(R13*2)"}
	if ns > 3 {
		g.p("LEAQ (AX)(R13*2), R14")
		g.p("ADDQ R13, R14")
	}
	g.p("TESTQ CX, CX")
	g.p("JZ epilogue")
	g.label("loop")
	for j := 0; j < nw; j++ {
		g.p("VBROADCASTSS %d(BX), Y12", 4*j)
		for s := 0; s < ns; s++ {
			g.p("VFMADD231PS %s, Y12, %s", sliver[s], acc(s, j))
		}
	}
	g.p("ADDQ R12, AX")
	if ns > 3 {
		g.p("ADDQ R12, R14")
	}
	g.p("ADDQ $%d, BX", 4*nw)
	g.p("DECQ CX")
	g.p("JNZ loop")
	g.label("epilogue")
	g.p("MOVL %d(DX), R9", offFlags)
	g.p("VMOVSS %d(DX), X12", offBeta)
	g.p("VMOVSS %d(DX), X13", offLo)
	g.p("VMOVSS %d(DX), X14", offAlpha)
	g.p("VMOVSS %d(DX), X15", offHi)
	g.p("MOVQ %d(DX), CX", offRows)
	for s := 0; s < ns; s++ {
		for j := 0; j < nw; j++ {
			l := fmt.Sprintf("s%dj%d", s, j)
			g.p("VMOVUPS %s, 0(SP)", acc(s, j))
			// R8: C at row 6s, column j; R10: rowBias from row 6s;
			// R11: colBias at column j; BX: the lane.
			g.p("MOVQ SI, R10")
			g.p("IMULQ $%d, R10", mr256*s)
			g.p("LEAQ %d(DI)(R10*1), R8", 4*j)
			g.p("MOVQ %d(DX), R10", offRowBias)
			g.p("MOVQ %d(DX), R11", offColBias)
			g.p("XORQ BX, BX")
			g.label(l + "lane")
			x := fmt.Sprintf("X%d", s*nw+j) // the lane, in the freed accumulator
			g.p("VMOVSS 0(SP)(BX*4), %s", x)
			g.p("VMULSS X14, %[1]s, %[1]s", x)
			g.p("TESTL $%d, R9", flagLoadC)
			g.p("JZ %snobeta", l)
			g.p("VFMADD231SS (R8), X12, %s", x)
			g.label(l + "nobeta")
			g.p("TESTL $%d, R9", flagRowBias)
			g.p("JZ %snorowbias", l)
			g.p("VADDSS %d(R10)(BX*4), %[2]s, %[2]s", 4*mr256*s, x)
			g.label(l + "norowbias")
			g.p("TESTL $%d, R9", flagColBias)
			g.p("JZ %snocolbias", l)
			g.p("VADDSS %d(R11), %[2]s, %[2]s", 4*j, x)
			g.label(l + "nocolbias")
			g.p("TESTL $%d, R9", flagClamp)
			g.p("JZ %snoclamp", l)
			g.p("VMAXSS %[1]s, X13, %[1]s", x)
			g.p("VMINSS %[1]s, X15, %[1]s", x)
			g.label(l + "noclamp")
			g.p("VMOVSS %s, (R8)", x)
			g.p("ADDQ SI, R8")
			g.p("INCQ BX")
			g.p("CMPQ BX, CX")
			g.p("JLT %slane", l)
		}
	}
	g.p("VZEROUPPER")
	g.p("RET")
}

func kernName512Narrow(s, w int) string {
	return fmt.Sprintf("kernAVX512Nx%dx%d", s, w)
}

// avx512Narrow emits the narrow kernel for ns slivers and nw columns (see
// the package comment): accumulators Z0.. (sliver s, column j in
// Z[s*nw+j]), A vectors in Z16..Z19, B broadcasts in Z20..Z23; K1 holds
// the rows' mask, Z24 the row offsets of C (r*ldc elements). AX walks
// the first sliver (R12 bytes a k step), R13 is the bytes between
// slivers and R11 three times that.
func (g *gen) avx512Narrow(ns, nw int) {
	g.header(kernName512Narrow(ns, nw))
	acc := func(s, j int) string { return fmt.Sprintf("Z%d", s*nw+j) }
	for s := 0; s < ns; s++ {
		for j := 0; j < nw; j++ {
			g.p("VPXORD %[1]s, %[1]s, %[1]s", acc(s, j))
		}
	}
	g.p("MOVQ %d(DX), R12", offRows)
	g.p("MOVL $1, R9")
	g.p("SHLXL R12, R9, R9")
	g.p("DECL R9")
	g.p("KMOVW R9, K1")
	g.p("SHLQ $2, R12")
	g.p("MOVQ R12, R13")
	g.p("IMULQ CX, R13")
	g.p("LEAQ (R13)(R13*2), R11")
	sliver := []string{"(AX)", "(AX)(R13*1)", "(AX)(R13*2)", "(AX)(R11*1)"}
	g.p("TESTQ CX, CX")
	g.p("JZ epilogue")
	g.label("loop")
	for s := 0; s < ns; s++ {
		g.p("VMOVUPS.Z %s, K1, Z%d", sliver[s], 16+s)
	}
	for j := 0; j < nw; j++ {
		g.p("VBROADCASTSS %d(BX), Z%d", 4*j, 20+j)
	}
	for s := 0; s < ns; s++ {
		for j := 0; j < nw; j++ {
			g.p("VFMADD231PS Z%d, Z%d, %s", 20+j, 16+s, acc(s, j))
		}
	}
	g.p("ADDQ R12, AX")
	if ns > 3 {
		g.p("ADDQ R12, R14")
	}
	g.p("ADDQ $%d, BX", 4*nw)
	g.p("DECQ CX")
	g.p("JNZ loop")
	g.label("epilogue")
	// Z24: lane r holds r*ldc, the element offset of row r in C.
	g.p("MOVQ ldc+32(FP), R8")
	g.p("VPBROADCASTD R8, Z25")
	g.p("VMOVDQU32 iota<>(SB), Z24")
	g.p("VPMULLD Z25, Z24, Z24")
	g.p("MOVL %d(DX), R9", offFlags)
	g.p("VBROADCASTSS %d(DX), Z30", offAlpha)
	for s := 0; s < ns; s++ {
		for j := 0; j < nw; j++ {
			g.p("VMULPS Z30, %[1]s, %[1]s", acc(s, j))
		}
	}
	// R10: bytes from one sliver's first row of C to the next's.
	g.p("MOVQ SI, R10")
	g.p("IMULQ $%d, R10", mr512)
	g.p("TESTL $%d, R9", flagLoadC)
	g.p("JZ nobeta")
	g.p("VBROADCASTSS %d(DX), Z31", offBeta)
	g.p("MOVQ DI, R8")
	for s := 0; s < ns; s++ {
		for j := 0; j < nw; j++ {
			g.p("KMOVW K1, K2")
			g.p("VPXORD Z28, Z28, Z28")
			g.p("VGATHERDPS %d(R8)(Z24*4), K2, Z28", 4*j)
			g.p("VFMADD231PS Z31, Z28, %s", acc(s, j))
		}
		if s < ns-1 {
			g.p("ADDQ R10, R8")
		}
	}
	g.label("nobeta")
	g.p("TESTL $%d, R9", flagRowBias)
	g.p("JZ norowbias")
	g.p("MOVQ %d(DX), R8", offRowBias)
	for s := 0; s < ns; s++ {
		g.p("VMOVUPS.Z %d(R8), K1, Z28", 4*mr512*s)
		for j := 0; j < nw; j++ {
			g.p("VADDPS Z28, %[1]s, %[1]s", acc(s, j))
		}
	}
	g.label("norowbias")
	g.p("TESTL $%d, R9", flagColBias)
	g.p("JZ nocolbias")
	g.p("MOVQ %d(DX), R8", offColBias)
	for j := 0; j < nw; j++ {
		g.p("VBROADCASTSS %d(R8), Z28", 4*j)
		for s := 0; s < ns; s++ {
			g.p("VADDPS Z28, %[1]s, %[1]s", acc(s, j))
		}
	}
	g.label("nocolbias")
	var accs []string
	for s := 0; s < ns; s++ {
		for j := 0; j < nw; j++ {
			accs = append(accs, acc(s, j))
		}
	}
	g.clamp512(accs)
	g.p("MOVQ DI, R8")
	for s := 0; s < ns; s++ {
		for j := 0; j < nw; j++ {
			g.p("KMOVW K1, K2")
			g.p("VSCATTERDPS %s, K2, %d(R8)(Z24*4)", acc(s, j), 4*j)
		}
		if s < ns-1 {
			g.p("ADDQ R10, R8")
		}
	}
	g.p("VZEROUPPER")
	g.p("RET")
}

// avx2 emits the kernel for an mr x 16 tile held in ymm registers:
// accumulators Y0..Y11 (row r, vector v in Y[2r+v]), B vectors in Y12/Y13,
// broadcasts in Y14/Y15.
func (g *gen) avx2(mr int, direct bool) {
	const nv = 2
	name := kernName256(mr, direct)
	// The kernel computes p.tiles (at least one) consecutive whole tiles
	// of C from consecutive slivers of B: its frame keeps k, a and the
	// tiles left, and each tile after the first starts at "tile" with C
	// 64 bytes on, B where the previous k loop left it (the next sliver)
	// and the column biases 64 bytes on.
	g.headerFrame(name, 24)
	g.p("MOVQ CX, 0(SP)")
	g.p("MOVQ AX, 8(SP)")
	g.p("MOVQ %d(DX), R8", offTiles)
	g.p("MOVQ R8, 16(SP)")
	aStep := mr * 4
	aAddr := func(r, u int) string { return fmt.Sprintf("%d(AX)", u*aStep+4*r) }
	if direct {
		aStep = 4
		aAddr = func(r, u int) string { return directRow(r, 4*u) }
		g.directSetup()
	}
	g.label("tile")
	acc := func(r, v int) string { return fmt.Sprintf("Y%d", r*nv+v) }
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VXORPS %[1]s, %[1]s, %[1]s", acc(r, v))
		}
	}
	g.prefetchC(mr, 64)
	const nrBytes = 64
	g.kloop(aStep, nrBytes, direct, func(u int) {
		bo := u * nrBytes
		g.p("VMOVUPS %d(BX), Y12", bo)
		g.p("VMOVUPS %d(BX), Y13", bo+32)
		for r := 0; r < mr; r++ {
			bc := fmt.Sprintf("Y%d", 14+r%2)
			g.p("VBROADCASTSS %s, %s", aAddr(r, u), bc)
			for v := 0; v < nv; v++ {
				g.p("VFMADD231PS Y%d, %s, %s", 12+v, bc, acc(r, v))
			}
		}
	})
	g.p("MOVL %d(DX), R9", offFlags)
	g.p("VMOVUPS %d(DX), Y12", offVMask)
	g.p("VMOVUPS %d(DX), Y13", offVMask+32)
	g.p("VBROADCASTSS %d(DX), Y14", offAlpha)
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VMULPS Y14, %[1]s, %[1]s", acc(r, v))
		}
	}
	g.p("TESTL $%d, R9", flagLoadC)
	g.p("JZ nobeta")
	g.p("VBROADCASTSS %d(DX), Y14", offBeta)
	g.p("MOVQ DI, R8")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			// Masked loads never touch the columns outside the tile.
			g.p("VMASKMOVPS %d(R8), Y%d, Y15", 32*v, 12+v)
			g.p("VFMADD231PS Y14, Y15, %s", acc(r, v))
		}
		if r < mr-1 {
			g.p("ADDQ SI, R8")
		}
	}
	g.label("nobeta")
	g.p("TESTL $%d, R9", flagRowBias)
	g.p("JZ norowbias")
	g.p("MOVQ %d(DX), R8", offRowBias)
	for r := 0; r < mr; r++ {
		g.p("VBROADCASTSS %d(R8), Y15", 4*r)
		for v := 0; v < nv; v++ {
			g.p("VADDPS Y15, %[1]s, %[1]s", acc(r, v))
		}
	}
	g.label("norowbias")
	g.p("TESTL $%d, R9", flagColBias)
	g.p("JZ nocolbias")
	g.p("MOVQ %d(DX), R8", offColBias)
	g.p("VMASKMOVPS 0(R8), Y12, Y14")
	g.p("VMASKMOVPS 32(R8), Y13, Y15")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VADDPS Y%d, %[2]s, %[2]s", 14+v, acc(r, v))
		}
	}
	g.label("nocolbias")
	g.p("TESTL $%d, R9", flagClamp)
	g.p("JZ noclamp")
	g.p("VBROADCASTSS %d(DX), Y14", offLo)
	g.p("VBROADCASTSS %d(DX), Y15", offHi)
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VMAXPS %[1]s, Y14, %[1]s", acc(r, v))
			g.p("VMINPS %[1]s, Y15, %[1]s", acc(r, v))
		}
	}
	g.label("noclamp")
	g.p("MOVQ DI, R8")
	g.p("TESTL $%d, R9", flagPartial)
	g.p("JNZ partial")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VMOVUPS %s, %d(R8)", acc(r, v), 32*v)
		}
		if r < mr-1 {
			g.p("ADDQ SI, R8")
		}
	}
	g.p("DECQ 16(SP)")
	g.p("JLE done")
	g.p("ADDQ $64, DI")
	g.p("MOVQ 0(SP), CX")
	g.p("MOVQ 8(SP), AX")
	if direct {
		g.p("LEAQ (AX)(R11*1), R10")
	}
	g.p("TESTL $%d, R9", flagColBias)
	g.p("JZ tile")
	g.p("ADDQ $64, %d(DX)", offColBias)
	g.p("JMP tile")
	g.label("done")
	g.p("VZEROUPPER")
	g.p("RET")
	g.label("partial")
	for r := 0; r < mr; r++ {
		for v := 0; v < nv; v++ {
			g.p("VMASKMOVPS %s, Y%d, %d(R8)", acc(r, v), 12+v, 32*v)
		}
		if r < mr-1 {
			g.p("ADDQ SI, R8")
		}
	}
	g.p("VZEROUPPER")
	g.p("RET")
}

// goDecls returns the Go declarations of the kernels and their tables.
func goDecls() []byte {
	var b bytes.Buffer
	b.WriteString("// Code generated by gemm/internal/asmgen. DO NOT EDIT.\n\n")
	b.WriteString("//go:build amd64 && !purego\n\n")
	b.WriteString("package gemm\n")
	var names512 [2][2][]string
	for d, direct := range []bool{false, true} {
		what := "packed"
		if direct {
			what = "unpacked"
		}
		for nv := 1; nv <= 2; nv++ {
			for mr := 1; mr <= mr512; mr++ {
				name := kernName512(mr, nv, direct)
				names512[d][nv-1] = append(names512[d][nv-1], name)
				fmt.Fprintf(&b, "\n// %s computes an %dx%d tile with AVX-512 from %s A.\n//\n//go:noescape\nfunc %s(k int, a, b, c *float32, ldc int, p *kparams)\n", name, mr, 16*nv, what, name)
			}
		}
	}
	var namesOffs []string
	for mr := 1; mr <= mr512; mr++ {
		name := kernName512Offs(mr)
		namesOffs = append(namesOffs, name)
		fmt.Fprintf(&b, "\n// %s computes an %dx32 tile with AVX-512 from packed A and\n// B rows at offsets.\n//\n//go:noescape\nfunc %s(k int, a, b, c *float32, ldc int, p *kparams)\n", name, mr, name)
	}
	var names256Narrow [narrowS256][narrowW]string
	for ns := 1; ns <= narrowS256; ns++ {
		for nw := 1; nw <= narrowW; nw++ {
			if !avx2NarrowOK(ns, nw) {
				names256Narrow[ns-1][nw-1] = "nil"
				continue
			}
			name := kernName256Narrow(ns, nw)
			names256Narrow[ns-1][nw-1] = name
			fmt.Fprintf(&b, "\n// %s computes the last %d columns of %d packed A\n// slivers with AVX2.\n//\n//go:noescape\nfunc %s(k int, a, b, c *float32, ldc int, p *kparams)\n", name, nw, ns, name)
		}
	}
	var namesNarrow [narrowS][narrowW]string
	for ns := 1; ns <= narrowS; ns++ {
		for nw := 1; nw <= narrowW; nw++ {
			name := kernName512Narrow(ns, nw)
			namesNarrow[ns-1][nw-1] = name
			fmt.Fprintf(&b, "\n// %s computes the last %d columns of %d packed A\n// slivers with AVX-512.\n//\n//go:noescape\nfunc %s(k int, a, b, c *float32, ldc int, p *kparams)\n", name, nw, ns, name)
		}
	}
	var names256 [2][]string
	for d, direct := range []bool{false, true} {
		what := "packed"
		if direct {
			what = "unpacked"
		}
		for mr := 1; mr <= mr256; mr++ {
			name := kernName256(mr, direct)
			names256[d] = append(names256[d], name)
			fmt.Fprintf(&b, "\n// %s computes an %dx16 tile with AVX2 and FMA from %s A.\n//\n//go:noescape\nfunc %s(k int, a, b, c *float32, ldc int, p *kparams)\n", name, mr, what, name)
		}
	}
	b.WriteString("\n// copyPack16AVX2 packs k steps of 16 values with AVX2 (see internal/asmgen).\n//\n//go:noescape\nfunc copyPack16AVX2(dst, src *float32, ld, k int, mask *[16]int32)\n")
	b.WriteString("\n// gather6AVX2 packs 8*n steps of six rows of A with AVX2 (see internal/asmgen).\n//\n//go:noescape\nfunc gather6AVX2(dst, src *float32, ld, n int, mask *[16]int32)\n")
	for _, name := range []string{"gatherPack", "copyPack"} {
		fmt.Fprintf(&b, "\n// %s packs k steps with AVX-512 (see internal/asmgen).\n//\n//go:noescape\nfunc %s(dst, src *float32, ld, k int, gmask, smask uint32)\n", name, name)
	}
	fmt.Fprintf(&b, "\n// avx512Kernels[d][v][r] computes an (r+1) x 16*(v+1) tile from packed\n// (d == 0) or unpacked (d == 1) A.\nvar avx512Kernels = [2][2][%d]asmKernel{\n", mr512)
	for _, d := range names512 {
		b.WriteString("\t{\n")
		for _, row := range d {
			b.WriteString("\t\t{")
			for i, n := range row {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(n)
			}
			b.WriteString("},\n")
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "\n// avx512OffsKernels[r] computes an (r+1) x 32 tile from packed A and B\n// rows at offsets (kparams.offs).\nvar avx512OffsKernels = [%d]asmKernel{", mr512)
	for i, n := range namesOffs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "\n// avx512NarrowKernels[s][w] computes the last w+1 columns of s+1 packed A\n// slivers (kparams.rows rows each).\nvar avx512NarrowKernels = [%d][%d]asmKernel{\n", narrowS, narrowW)
	for _, row := range namesNarrow {
		fmt.Fprintf(&b, "\t{%s},\n", strings.Join(row[:], ", "))
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "\n// avx2NarrowKernels[s][w] computes the last w+1 columns of s+1 packed A\n// slivers (kparams.rows rows each); nil where the accumulators would not\n// fit.\nvar avx2NarrowKernels = [%d][%d]asmKernel{\n", narrowS256, narrowW)
	for _, row := range names256Narrow {
		fmt.Fprintf(&b, "\t{%s},\n", strings.Join(row[:], ", "))
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "\n// avx2Kernels[d][r] computes an (r+1) x 16 tile from packed (d == 0) or\n// unpacked (d == 1) A.\nvar avx2Kernels = [2][%d]asmKernel{\n", mr256)
	for _, row := range names256 {
		fmt.Fprintf(&b, "\t{%s},\n", strings.Join(row, ", "))
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	return src
}

// packers emits the AVX-512 packing routines. Both copy k steps of up to 32
// values into dst, one step every stride floats (stride <= 32), writing
// zeros past the values selected by gmask (bit r for value r) up to
// smask (the stored lanes):
//
//	func gatherPack(dst, src *float32, ld, k int, gmask, smask uint32)
//	    value r of step p is src[r*ld+p] (rows of a row-major matrix)
//	func copyPack(dst, src *float32, ld, k int, gmask, smask uint32)
//	    value r of step p is src[p*ld+r] (a row of a row-major matrix)
//
// stride is popcount(smask) floats.
func (g *gen) packers() {
	g.buf.WriteString("\nDATA iota<>+0(SB)/8, $0x0000000100000000\n")
	for i := 1; i < 8; i++ {
		fmt.Fprintf(&g.buf, "DATA iota<>+%d(SB)/8, $0x%08x%08x\n", 8*i, 2*i+1, 2*i)
	}
	g.buf.WriteString("GLOBL iota<>(SB), RODATA|NOPTR, $64\n")
	for _, gather := range []bool{true, false} {
		name := "copyPack"
		if gather {
			name = "gatherPack"
		}
		fmt.Fprintf(&g.buf, "\n// func %s(dst, src *float32, ld, k int, gmask, smask uint32)\n", name)
		fmt.Fprintf(&g.buf, "TEXT ·%s(SB), NOSPLIT, $0-40\n", name)
		g.p("MOVQ dst+0(FP), DI")
		g.p("MOVQ src+8(FP), SI")
		g.p("MOVQ ld+16(FP), AX")
		g.p("MOVQ k+24(FP), CX")
		g.p("MOVL gmask+32(FP), R8")
		g.p("MOVL smask+36(FP), R9")
		g.p("KMOVW R8, K3")
		g.p("SHRL $16, R8")
		g.p("KMOVW R8, K4")
		g.p("KMOVW R9, K5")
		g.p("MOVL R9, R10")
		g.p("SHRL $16, R10")
		g.p("KMOVW R10, K6")
		g.p("POPCNTL R9, DX")
		g.p("SHLQ $2, DX")
		if gather {
			// Z30 = r*ld for r in 0..15, Z31 = (r+16)*ld.
			g.p("VPBROADCASTD AX, Z29")
			g.p("VMOVDQU32 iota<>(SB), Z30")
			g.p("VPMULLD Z29, Z30, Z30")
			g.p("VPSLLD $4, Z29, Z29")
			g.p("VPADDD Z29, Z30, Z31")
			g.p("MOVQ $4, AX")
		} else {
			g.p("SHLQ $2, AX")
		}
		g.p("TESTQ CX, CX")
		g.p("JZ done")
		g.p("CMPL R10, $0")
		g.p("JNE loop2")
		g.label("loop1")
		if gather {
			g.p("KMOVW K3, K1")
			g.p("VPXORD Z0, Z0, Z0")
			g.p("VGATHERDPS (SI)(Z30*4), K1, Z0")
		} else {
			g.p("VMOVUPS.Z (SI), K3, Z0")
		}
		g.p("VMOVUPS Z0, K5, (DI)")
		g.p("ADDQ AX, SI")
		g.p("ADDQ DX, DI")
		g.p("DECQ CX")
		g.p("JNZ loop1")
		g.p("JMP done")
		g.label("loop2")
		if gather {
			g.p("KMOVW K3, K1")
			g.p("KMOVW K4, K2")
			g.p("VPXORD Z0, Z0, Z0")
			g.p("VPXORD Z1, Z1, Z1")
			g.p("VGATHERDPS (SI)(Z30*4), K1, Z0")
			g.p("VGATHERDPS (SI)(Z31*4), K2, Z1")
		} else {
			g.p("VMOVUPS.Z (SI), K3, Z0")
			g.p("VMOVUPS.Z 64(SI), K4, Z1")
		}
		g.p("VMOVUPS Z0, K5, (DI)")
		g.p("VMOVUPS Z1, K6, 64(DI)")
		g.p("ADDQ AX, SI")
		g.p("ADDQ DX, DI")
		g.p("DECQ CX")
		g.p("JNZ loop2")
		g.label("done")
		g.p("VZEROUPPER")
		g.p("RET")
	}
}

// packerHeader emits the head of an AVX2 packer
//
//	func name(dst, src *float32, ld, count int, mask *[16]int32)
//
// loading dst into DI, src into SI, ld in bytes into AX, count (named so)
// into CX and mask into the register maskReg.
func (g *gen) packerHeader(name, count, maskReg string) {
	fmt.Fprintf(&g.buf, "\n// func %s(dst, src *float32, ld, %s int, mask *[16]int32)\n", name, count)
	fmt.Fprintf(&g.buf, "TEXT ·%s(SB), NOSPLIT, $0-40\n", name)
	g.p("MOVQ dst+0(FP), DI")
	g.p("MOVQ src+8(FP), SI")
	g.p("MOVQ ld+16(FP), AX")
	g.p("SHLQ $2, AX")
	g.p("MOVQ %s+24(FP), CX", count)
	g.p("MOVQ mask+32(FP), %s", maskReg)
}

// copyPack16 emits the AVX2 packer of rows of B into 16-wide slivers:
//
//	func copyPack16AVX2(dst, src *float32, ld, k int, mask *[16]int32)
//	    dst[16p+r] = src[p*ld+r] for the lanes r whose mask is -1, else 0;
//	    with mask nil all 16 lanes are copied
//
// Two k steps go through each loop iteration when the mask is nil.
func (g *gen) copyPack16() {
	g.packerHeader("copyPack16AVX2", "k", "DX")
	g.p("TESTQ CX, CX")
	g.p("JZ done")
	g.p("TESTQ DX, DX")
	g.p("JNZ masked")
	g.p("LEAQ (SI)(AX*1), BX")
	g.p("SHLQ $1, AX")
	g.p("MOVQ CX, R8")
	g.p("SHRQ $1, R8")
	g.p("JZ last")
	g.label("loop2")
	g.p("VMOVUPS (SI), Y0")
	g.p("VMOVUPS 32(SI), Y1")
	g.p("VMOVUPS (BX), Y2")
	g.p("VMOVUPS 32(BX), Y3")
	g.p("VMOVUPS Y0, (DI)")
	g.p("VMOVUPS Y1, 32(DI)")
	g.p("VMOVUPS Y2, 64(DI)")
	g.p("VMOVUPS Y3, 96(DI)")
	g.p("ADDQ AX, SI")
	g.p("ADDQ AX, BX")
	g.p("ADDQ $128, DI")
	g.p("DECQ R8")
	g.p("JNZ loop2")
	g.label("last")
	g.p("TESTQ $1, CX")
	g.p("JZ done")
	g.p("VMOVUPS (SI), Y0")
	g.p("VMOVUPS 32(SI), Y1")
	g.p("VMOVUPS Y0, (DI)")
	g.p("VMOVUPS Y1, 32(DI)")
	g.p("JMP done")
	g.label("masked")
	g.p("VMOVUPS (DX), Y4")
	g.p("VMOVUPS 32(DX), Y5")
	g.label("loop1")
	g.p("VMASKMOVPS (SI), Y4, Y0")
	g.p("VMASKMOVPS 32(SI), Y5, Y1")
	g.p("VMOVUPS Y0, (DI)")
	g.p("VMOVUPS Y1, 32(DI)")
	g.p("ADDQ AX, SI")
	g.p("ADDQ $64, DI")
	g.p("DECQ CX")
	g.p("JNZ loop1")
	g.label("done")
	g.p("VZEROUPPER")
	g.p("RET")
}

// gather6 emits the AVX2 packer of six rows of a row-major A into a
// sliver of the AVX2 tiles (six values a k step):
//
//	func gather6AVX2(dst, src *float32, ld, n int, mask *[16]int32)
//	    dst[6p+r] = src[r*ld+p] for r < 6 and p < 8n
//
// Each iteration loads eight steps of the six rows, transposes them
// (unpack, shuffle, then the 128-bit halves) and stores each step as a
// vector of eight whose last two lanes the next step's store overwrites;
// the very last store is masked to the six lanes of mask (-1 for the
// first six), so that nothing past step 8n is written.
func (g *gen) gather6() {
	g.packerHeader("gather6AVX2", "n", "R8")
	g.p("TESTQ CX, CX")
	g.p("JZ done")
	g.p("VMOVUPS (R8), Y15")
	g.p("LEAQ (AX)(AX*2), DX") // 3 rows
	g.p("LEAQ (SI)(DX*1), BX") // row 3
	g.label("loop")
	g.p("VMOVUPS (SI), Y0")
	g.p("VMOVUPS (SI)(AX*1), Y1")
	g.p("VMOVUPS (SI)(AX*2), Y2")
	g.p("VMOVUPS (BX), Y3")
	g.p("VMOVUPS (BX)(AX*1), Y4")
	g.p("VMOVUPS (BX)(AX*2), Y5")
	// Pairs of rows: Y6 = r0 r1 of steps 0,1 | 4,5; Y7 of 2,3 | 6,7.
	g.p("VUNPCKLPS Y1, Y0, Y6")
	g.p("VUNPCKHPS Y1, Y0, Y7")
	g.p("VUNPCKLPS Y3, Y2, Y8")
	g.p("VUNPCKHPS Y3, Y2, Y9")
	g.p("VUNPCKLPS Y5, Y4, Y10")
	g.p("VUNPCKHPS Y5, Y4, Y11")
	// Rows 0-3 of one step in each 128-bit half: Y0 steps 0|4, Y1 1|5,
	// Y2 2|6, Y3 3|7.
	g.p("VSHUFPS $0x44, Y8, Y6, Y0")
	g.p("VSHUFPS $0xEE, Y8, Y6, Y1")
	g.p("VSHUFPS $0x44, Y9, Y7, Y2")
	g.p("VSHUFPS $0xEE, Y9, Y7, Y3")
	// Rows 4 and 5 in the low 64 bits of each half: Y10 steps 0|4, Y12
	// 1|5, Y11 2|6, Y13 3|7.
	g.p("VSHUFPS $0xEE, Y10, Y10, Y12")
	g.p("VSHUFPS $0xEE, Y11, Y11, Y13")
	g.p("VINSERTF128 $1, X10, Y0, Y4")
	g.p("VMOVUPS Y4, (DI)")
	g.p("VINSERTF128 $1, X12, Y1, Y4")
	g.p("VMOVUPS Y4, 24(DI)")
	g.p("VINSERTF128 $1, X11, Y2, Y4")
	g.p("VMOVUPS Y4, 48(DI)")
	g.p("VINSERTF128 $1, X13, Y3, Y4")
	g.p("VMOVUPS Y4, 72(DI)")
	g.p("VPERM2F128 $0x31, Y10, Y0, Y4")
	g.p("VMOVUPS Y4, 96(DI)")
	g.p("VPERM2F128 $0x31, Y12, Y1, Y4")
	g.p("VMOVUPS Y4, 120(DI)")
	g.p("VPERM2F128 $0x31, Y11, Y2, Y4")
	g.p("VMOVUPS Y4, 144(DI)")
	g.p("VPERM2F128 $0x31, Y13, Y3, Y4")
	g.p("CMPQ CX, $1")
	g.p("JEQ last")
	g.p("VMOVUPS Y4, 168(DI)")
	g.p("ADDQ $32, SI")
	g.p("ADDQ $32, BX")
	g.p("ADDQ $192, DI")
	g.p("DECQ CX")
	g.p("JMP loop")
	g.label("last")
	g.p("VMASKMOVPS Y4, Y15, 168(DI)")
	g.label("done")
	g.p("VZEROUPPER")
	g.p("RET")
}

func main() {
	out := flag.String("out", "kernels_amd64.s", "assembly output file")
	goOut := flag.String("goout", "kernels_amd64.go", "Go declarations output file")
	flag.IntVar(&unroll, "unroll", unroll, "k steps per loop iteration (a power of 2)")
	flag.IntVar(&bPrefetch, "bprefetch", bPrefetch, "prefetch distance for B in bytes (0: none)")
	flag.BoolVar(&bcst2, "bcst2", bcst2, "embedded broadcasts in two-vector AVX-512 tiles")
	flag.Parse()
	if err := os.WriteFile(*goOut, goDecls(), 0o644); err != nil {
		log.Fatal(err)
	}
	var g gen
	g.buf.WriteString("// Code generated by gemm/internal/asmgen. DO NOT EDIT.\n\n")
	g.buf.WriteString("//go:build amd64 && !purego\n\n")
	g.buf.WriteString("#include \"textflag.h\"\n")
	for _, direct := range []bool{false, true} {
		for nv := 1; nv <= 2; nv++ {
			for mr := 1; mr <= mr512; mr++ {
				g.avx512(mr, nv, direct)
			}
		}
	}
	for mr := 1; mr <= mr512; mr++ {
		g.avx512Offs(mr)
	}
	for ns := 1; ns <= narrowS; ns++ {
		for nw := 1; nw <= narrowW; nw++ {
			g.avx512Narrow(ns, nw)
		}
	}
	for ns := 1; ns <= narrowS256; ns++ {
		for nw := 1; nw <= narrowW; nw++ {
			if !avx2NarrowOK(ns, nw) {
				continue
			}
			g.avx2Narrow(ns, nw)
		}
	}
	for _, direct := range []bool{false, true} {
		for mr := 1; mr <= mr256; mr++ {
			g.avx2(mr, direct)
		}
	}
	g.packers()
	g.copyPack16()
	g.gather6()
	if err := os.WriteFile(*out, g.buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
