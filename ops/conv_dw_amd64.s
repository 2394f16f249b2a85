//go:build amd64 && !purego

#include "textflag.h"

// dwlow<> holds (1<<i)-1 for i in [0, 16]: the mask of the first i lanes.
DATA dwlow<>+0(SB)/2, $0x0000
DATA dwlow<>+2(SB)/2, $0x0001
DATA dwlow<>+4(SB)/2, $0x0003
DATA dwlow<>+6(SB)/2, $0x0007
DATA dwlow<>+8(SB)/2, $0x000f
DATA dwlow<>+10(SB)/2, $0x001f
DATA dwlow<>+12(SB)/2, $0x003f
DATA dwlow<>+14(SB)/2, $0x007f
DATA dwlow<>+16(SB)/2, $0x00ff
DATA dwlow<>+18(SB)/2, $0x01ff
DATA dwlow<>+20(SB)/2, $0x03ff
DATA dwlow<>+22(SB)/2, $0x07ff
DATA dwlow<>+24(SB)/2, $0x0fff
DATA dwlow<>+26(SB)/2, $0x1fff
DATA dwlow<>+28(SB)/2, $0x3fff
DATA dwlow<>+30(SB)/2, $0x7fff
DATA dwlow<>+32(SB)/2, $0xffff
GLOBL dwlow<>(SB), RODATA|NOPTR, $34

// dweven<> and dwodd<> pick the even and the odd elements of two vectors
// (VPERMT2PS indices).
DATA dweven<>+0(SB)/4, $0
DATA dweven<>+4(SB)/4, $2
DATA dweven<>+8(SB)/4, $4
DATA dweven<>+12(SB)/4, $6
DATA dweven<>+16(SB)/4, $8
DATA dweven<>+20(SB)/4, $10
DATA dweven<>+24(SB)/4, $12
DATA dweven<>+28(SB)/4, $14
DATA dweven<>+32(SB)/4, $16
DATA dweven<>+36(SB)/4, $18
DATA dweven<>+40(SB)/4, $20
DATA dweven<>+44(SB)/4, $22
DATA dweven<>+48(SB)/4, $24
DATA dweven<>+52(SB)/4, $26
DATA dweven<>+56(SB)/4, $28
DATA dweven<>+60(SB)/4, $30
GLOBL dweven<>(SB), RODATA|NOPTR, $64

DATA dwodd<>+0(SB)/4, $1
DATA dwodd<>+4(SB)/4, $3
DATA dwodd<>+8(SB)/4, $5
DATA dwodd<>+12(SB)/4, $7
DATA dwodd<>+16(SB)/4, $9
DATA dwodd<>+20(SB)/4, $11
DATA dwodd<>+24(SB)/4, $13
DATA dwodd<>+28(SB)/4, $15
DATA dwodd<>+32(SB)/4, $17
DATA dwodd<>+36(SB)/4, $19
DATA dwodd<>+40(SB)/4, $21
DATA dwodd<>+44(SB)/4, $23
DATA dwodd<>+48(SB)/4, $25
DATA dwodd<>+52(SB)/4, $27
DATA dwodd<>+56(SB)/4, $29
DATA dwodd<>+60(SB)/4, $31
GLOBL dwodd<>(SB), RODATA|NOPTR, $64

// DWSETUP loads the taps' addresses of the dwArgs at SI, advanced past
// the CX (a multiple of 16) outputs of the whole vectors, into R8-R13,
// AX, BX and DX, the output address likewise into DI, the table entry of
// the tail into CX and -CX into SI (setting the flags).
#define DWSETUP \
	MOVQ 0(SI), R8 \
	ADDQ 72(SI), R8 \
	LEAQ (R8)(CX*4), R8 \
	MOVQ 8(SI), R9 \
	ADDQ 80(SI), R9 \
	LEAQ (R9)(CX*4), R9 \
	MOVQ 16(SI), R10 \
	ADDQ 88(SI), R10 \
	LEAQ (R10)(CX*4), R10 \
	MOVQ 24(SI), R11 \
	ADDQ 96(SI), R11 \
	LEAQ (R11)(CX*4), R11 \
	MOVQ 32(SI), R12 \
	ADDQ 104(SI), R12 \
	LEAQ (R12)(CX*4), R12 \
	MOVQ 40(SI), R13 \
	ADDQ 112(SI), R13 \
	LEAQ (R13)(CX*4), R13 \
	MOVQ 48(SI), AX \
	ADDQ 120(SI), AX \
	LEAQ (AX)(CX*4), AX \
	MOVQ 56(SI), BX \
	ADDQ 128(SI), BX \
	LEAQ (BX)(CX*4), BX \
	MOVQ 64(SI), DX \
	ADDQ 136(SI), DX \
	LEAQ (DX)(CX*4), DX \
	MOVQ 144(SI), DI \
	LEAQ (DI)(CX*4), DI \
	MOVQ 224(SI), SI \
	LEAQ (SI)(CX*2), SI \
	XCHGQ SI, CX \
	NEGQ SI

// DWNEXT moves the dwArgs at a+0(FP) to its next plane, into SI: it
// jumps to label end after the last plane, else to label again.
#define DWNEXT(again, end) \
	MOVQ a+0(FP), SI \
	DECQ 176(SI) \
	JEQ end \
	MOVQ 184(SI), AX \
	ADDQ AX, 0(SI) \
	ADDQ AX, 8(SI) \
	ADDQ AX, 16(SI) \
	ADDQ AX, 24(SI) \
	ADDQ AX, 32(SI) \
	ADDQ AX, 40(SI) \
	ADDQ AX, 48(SI) \
	ADDQ AX, 56(SI) \
	ADDQ AX, 64(SI) \
	MOVQ 192(SI), AX \
	ADDQ AX, 144(SI) \
	MOVQ 200(SI), AX \
	ADDQ AX, 152(SI) \
	MOVQ 208(SI), AX \
	ADDQ AX, 160(SI) \
	JMP again

// DWTAP adds tap t (weight in Zw, memory operand m) into accumulator Za
// under mask K, loaded from offset 2t of the table entry at e; DWTAPT
// also under the tail mask K7. Merge masking leaves a lane whose tap
// reads outside the input unchanged, and its load does not fault.
#define DWTAP(e, t, K, m, Zw, Za) \
	KMOVW (2*t)e, K \
	VFMADD231PS m, Zw, K, Za

#define DWTAPT(e, t, K, m, Zw, Za) \
	KMOVW (2*t)e, K \
	KANDW K7, K, K \
	VFMADD231PS m, Zw, K, Za

// DWFINISH sums the two accumulators Z12 (bias and taps 0, 1, 2, 5, 7)
// and Z13 (taps 3, 4, 6, 8) and clamps the sum to [Z10, Z11] (max then
// min, the sum as the second Intel operand so that a NaN passes).
#define DWFINISH \
	VADDPS Z13, Z12, Z12 \
	VMAXPS Z12, Z10, Z12 \
	VMINPS Z12, Z11, Z12

// func dwKernelAVX512(a *dwArgs)
//
// For each of a.planes planes: y[i] = min(max(b + Σ_t w[t]*x_t[i], lo),
// hi) for i in [0, a.n), where x_t is a.src[t] moved by a.off[t] bytes
// and tap t counts for output i when bit i%16 of element t of table entry
// i/16 is set (32 bytes an entry; the entry after the last whole vector
// is read even when n is a multiple of 16). Between planes the sources,
// y, the weights and the bias move by their steps (a is updated in
// place). The taps' addresses are advanced to the end of the whole
// vectors, which are indexed from -16*full up to 0.
TEXT ·dwKernelAVX512(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), SI

plane:
	MOVQ 152(SI), AX
	VBROADCASTSS 0(AX), Z0
	VBROADCASTSS 4(AX), Z1
	VBROADCASTSS 8(AX), Z2
	VBROADCASTSS 12(AX), Z3
	VBROADCASTSS 16(AX), Z4
	VBROADCASTSS 20(AX), Z5
	VBROADCASTSS 24(AX), Z6
	VBROADCASTSS 28(AX), Z7
	VBROADCASTSS 32(AX), Z8
	MOVQ 160(SI), AX
	VBROADCASTSS (AX), Z9
	VBROADCASTSS 216(SI), Z10
	VBROADCASTSS 220(SI), Z11
	MOVQ 168(SI), CX
	ANDQ $-16, CX
	DWSETUP
	JEQ tail

loop:
	VMOVAPS Z9, Z12
	VPXORD Z13, Z13, Z13
	DWTAP((CX)(SI*2), 0, K1, (R8)(SI*4), Z0, Z12)
	DWTAP((CX)(SI*2), 3, K2, (R11)(SI*4), Z3, Z13)
	DWTAP((CX)(SI*2), 1, K3, (R9)(SI*4), Z1, Z12)
	DWTAP((CX)(SI*2), 4, K4, (R12)(SI*4), Z4, Z13)
	DWTAP((CX)(SI*2), 2, K5, (R10)(SI*4), Z2, Z12)
	DWTAP((CX)(SI*2), 6, K6, (AX)(SI*4), Z6, Z13)
	DWTAP((CX)(SI*2), 5, K1, (R13)(SI*4), Z5, Z12)
	DWTAP((CX)(SI*2), 8, K2, (DX)(SI*4), Z8, Z13)
	DWTAP((CX)(SI*2), 7, K3, (BX)(SI*4), Z7, Z12)
	DWFINISH
	VMOVUPS Z12, (DI)(SI*4)
	ADDQ $16, SI
	JNE loop

tail:
	MOVQ a+0(FP), SI
	MOVQ 168(SI), SI
	ANDQ $15, SI
	JEQ done
	LEAQ dwlow<>(SB), R14
	KMOVW (R14)(SI*2), K7
	VMOVAPS Z9, Z12
	VPXORD Z13, Z13, Z13
	DWTAPT((CX), 0, K1, (R8), Z0, Z12)
	DWTAPT((CX), 3, K2, (R11), Z3, Z13)
	DWTAPT((CX), 1, K3, (R9), Z1, Z12)
	DWTAPT((CX), 4, K4, (R12), Z4, Z13)
	DWTAPT((CX), 2, K5, (R10), Z2, Z12)
	DWTAPT((CX), 6, K6, (AX), Z6, Z13)
	DWTAPT((CX), 5, K1, (R13), Z5, Z12)
	DWTAPT((CX), 8, K2, (DX), Z8, Z13)
	DWTAPT((CX), 7, K3, (BX), Z7, Z12)
	DWFINISH
	VMOVUPS Z12, K7, (DI)

done:
	DWNEXT(plane, end)

end:
	VZEROUPPER
	RET

// DWMAX takes the maximum of tap t (memory operand m) and Za under mask K
// from offset 2t of the table entry at e; DWMAXT also under the tail
// mask K7.
#define DWMAX(e, t, K, m, Za) \
	KMOVW (2*t)e, K \
	VMAXPS m, Za, K, Za

#define DWMAXT(e, t, K, m, Za) \
	KMOVW (2*t)e, K \
	KANDW K7, K, K \
	VMAXPS m, Za, K, Za

// func dwMaxAVX512(a *dwArgs)
//
// For each of a.planes planes: y[i] = the largest x_t[i] over the taps t
// whose mask bit is set for i, *a.b if none is; the layout of
// dwKernelAVX512 (a.w, a.lo and a.hi are not used).
TEXT ·dwMaxAVX512(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), SI

maxplane:
	MOVQ 160(SI), AX
	VBROADCASTSS (AX), Z9
	MOVQ 168(SI), CX
	ANDQ $-16, CX
	DWSETUP
	JEQ maxtail

maxloop:
	VMOVAPS Z9, Z12
	VMOVAPS Z9, Z13
	DWMAX((CX)(SI*2), 0, K1, (R8)(SI*4), Z12)
	DWMAX((CX)(SI*2), 3, K2, (R11)(SI*4), Z13)
	DWMAX((CX)(SI*2), 1, K3, (R9)(SI*4), Z12)
	DWMAX((CX)(SI*2), 4, K4, (R12)(SI*4), Z13)
	DWMAX((CX)(SI*2), 2, K5, (R10)(SI*4), Z12)
	DWMAX((CX)(SI*2), 6, K6, (AX)(SI*4), Z13)
	DWMAX((CX)(SI*2), 5, K1, (R13)(SI*4), Z12)
	DWMAX((CX)(SI*2), 8, K2, (DX)(SI*4), Z13)
	DWMAX((CX)(SI*2), 7, K3, (BX)(SI*4), Z12)
	VMAXPS Z13, Z12, Z12
	VMOVUPS Z12, (DI)(SI*4)
	ADDQ $16, SI
	JNE maxloop

maxtail:
	MOVQ a+0(FP), SI
	MOVQ 168(SI), SI
	ANDQ $15, SI
	JEQ maxdone
	LEAQ dwlow<>(SB), R14
	KMOVW (R14)(SI*2), K7
	VMOVAPS Z9, Z12
	VMOVAPS Z9, Z13
	DWMAXT((CX), 0, K1, (R8), Z12)
	DWMAXT((CX), 3, K2, (R11), Z13)
	DWMAXT((CX), 1, K3, (R9), Z12)
	DWMAXT((CX), 4, K4, (R12), Z13)
	DWMAXT((CX), 2, K5, (R10), Z12)
	DWMAXT((CX), 6, K6, (AX), Z13)
	DWMAXT((CX), 5, K1, (R13), Z12)
	DWMAXT((CX), 8, K2, (DX), Z13)
	DWMAXT((CX), 7, K3, (BX), Z12)
	VMAXPS Z13, Z12, Z12
	VMOVUPS Z12, K7, (DI)

maxdone:
	DWNEXT(maxplane, maxend)

maxend:
	VZEROUPPER
	RET

// DWLANES sets K to the mask of the first clamp(v, 0, 16) lanes, v in AX;
// BX holds dwlow<>; AX and DX are clobbered.
#define DWLANES(K) \
	XORL DX, DX \
	TESTQ AX, AX \
	CMOVQLT DX, AX \
	MOVL $16, DX \
	CMPQ AX, DX \
	CMOVQGT DX, AX \
	KMOVW (BX)(AX*2), K

// func dwSplit2AVX512(ph, x *float32, rows, iw, ow, psz int)
//
// For each input row r < rows (of iw elements at x), the even columns go
// to row r>>1 of phase plane 2*(r&1) and the odd ones to phase plane
// 2*(r&1)+1 (planes of psz elements at ph, rows of ow), zero past the
// input; rows >= 1 and ow >= 1. Chunks of 16 outputs that read 32 whole
// input elements and write 16 whole outputs (c' < R14 = min(ow, iw/2)
// rounded down to 16) need no masks; those of the first chunk past them
// are the same in every row.
TEXT ·dwSplit2AVX512(SB), NOSPLIT, $0-48
	MOVQ ph+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ iw+24(FP), R9
	MOVQ ow+32(FP), R10
	MOVQ psz+40(FP), R11
	SHLQ $2, R11 // plane bytes
	LEAQ dwlow<>(SB), BX
	VMOVDQU32 dweven<>(SB), Z30
	VMOVDQU32 dwodd<>(SB), Z31
	MOVQ R9, R14
	SHRQ $1, R14
	CMPQ R14, R10
	CMOVQGT R10, R14
	ANDQ $-16, R14
	// K4, K5, K6: the masks of the first chunk past R14, the same in
	// every row.
	MOVQ R14, AX
	SHLQ $1, AX
	NEGQ AX
	ADDQ R9, AX
	DWLANES(K4)
	MOVQ R14, AX
	SHLQ $1, AX
	NEGQ AX
	LEAQ -16(R9)(AX*1), AX
	DWLANES(K5)
	MOVQ R10, AX
	SUBQ R14, AX
	DWLANES(K6)
	XORQ R8, R8 // r

row:
	// R12: even-column destination, R13: odd.
	MOVQ R8, R12
	ANDQ $1, R12
	IMULQ R11, R12
	SHLQ $1, R12
	MOVQ R8, AX
	SHRQ $1, AX
	IMULQ R10, AX
	LEAQ (R12)(AX*4), R12
	ADDQ DI, R12
	LEAQ (R12)(R11*1), R13
	XORQ CX, CX // c'
	CMPQ CX, R14
	JGE edge

whole:
	VMOVUPS (SI)(CX*8), Z1
	VMOVUPS 64(SI)(CX*8), Z2
	VMOVAPS Z1, Z3
	VPERMT2PS Z2, Z30, Z3
	VPERMT2PS Z2, Z31, Z1
	VMOVUPS Z3, (R12)(CX*4)
	VMOVUPS Z1, (R13)(CX*4)
	ADDQ $16, CX
	CMPQ CX, R14
	JLT whole

edge:
	CMPQ CX, R10
	JGE next
	VMOVUPS.Z (SI)(CX*8), K4, Z1
	VMOVUPS.Z 64(SI)(CX*8), K5, Z2
	VMOVAPS Z1, Z3
	VPERMT2PS Z2, Z30, Z3
	VPERMT2PS Z2, Z31, Z1
	VMOVUPS Z3, K6, (R12)(CX*4)
	VMOVUPS Z1, K6, (R13)(CX*4)
	ADDQ $16, CX
	CMPQ CX, R10
	JGE next

col:
	MOVQ CX, AX
	SHLQ $1, AX
	NEGQ AX
	ADDQ R9, AX // iw - 2c'
	DWLANES(K1)
	MOVQ CX, AX
	SHLQ $1, AX
	NEGQ AX
	LEAQ -16(R9)(AX*1), AX // iw - 2c' - 16
	DWLANES(K2)
	MOVQ R10, AX
	SUBQ CX, AX // ow - c'
	DWLANES(K3)
	VMOVUPS.Z (SI)(CX*8), K1, Z1
	VMOVUPS.Z 64(SI)(CX*8), K2, Z2
	VMOVAPS Z1, Z3
	VPERMT2PS Z2, Z30, Z3
	VPERMT2PS Z2, Z31, Z1
	VMOVUPS Z3, K3, (R12)(CX*4)
	VMOVUPS Z1, K3, (R13)(CX*4)
	ADDQ $16, CX
	CMPQ CX, R10
	JLT col

next:
	LEAQ (SI)(R9*4), SI
	INCQ R8
	CMPQ R8, rows+16(FP)
	JLT row
	VZEROUPPER
	RET

// func dwRow9AVX2(y *float32, p *[9]*float32, w *[9]float32, n int, b, lo, hi float32)
//
// y[i] = min(max(b + w0*p0[i] + ... + w8*p8[i], lo), hi) for i in [0, n),
// n a multiple of 8. Each product is rounded and added in turn, left to
// right, as the Go code does (no fused multiply-add), so that both give
// the same bits.
TEXT ·dwRow9AVX2(SB), NOSPLIT, $0-44
	MOVQ y+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS b+32(FP), Y15
	VBROADCASTSS lo+36(FP), Y14
	VBROADCASTSS hi+40(FP), Y13
	VBROADCASTSS 0(DX), Y0
	VBROADCASTSS 4(DX), Y1
	VBROADCASTSS 8(DX), Y2
	VBROADCASTSS 12(DX), Y3
	VBROADCASTSS 16(DX), Y4
	VBROADCASTSS 20(DX), Y5
	VBROADCASTSS 24(DX), Y6
	VBROADCASTSS 28(DX), Y7
	VBROADCASTSS 32(DX), Y8
	MOVQ 0(SI), R8
	MOVQ 8(SI), R9
	MOVQ 16(SI), R10
	MOVQ 24(SI), R11
	MOVQ 32(SI), R12
	MOVQ 40(SI), R13
	MOVQ 48(SI), AX
	MOVQ 56(SI), BX
	MOVQ 64(SI), DX
	XORQ SI, SI
	TESTQ CX, CX
	JEQ done

loop:
	VMULPS (R8)(SI*4), Y0, Y10
	VMULPS (R9)(SI*4), Y1, Y11
	VMULPS (R10)(SI*4), Y2, Y12
	VADDPS Y10, Y15, Y9
	VMULPS (R11)(SI*4), Y3, Y10
	VADDPS Y11, Y9, Y9
	VMULPS (R12)(SI*4), Y4, Y11
	VADDPS Y12, Y9, Y9
	VMULPS (R13)(SI*4), Y5, Y12
	VADDPS Y10, Y9, Y9
	VMULPS (AX)(SI*4), Y6, Y10
	VADDPS Y11, Y9, Y9
	VMULPS (BX)(SI*4), Y7, Y11
	VADDPS Y12, Y9, Y9
	VMULPS (DX)(SI*4), Y8, Y12
	VADDPS Y10, Y9, Y9
	VADDPS Y11, Y9, Y9
	VADDPS Y12, Y9, Y9
	// max(v, lo) then min(., hi), v as the second Intel source so that
	// a NaN passes through.
	VMAXPS Y9, Y14, Y9
	VMINPS Y9, Y13, Y9
	VMOVUPS Y9, (DI)(SI*4)
	ADDQ $8, SI
	CMPQ SI, CX
	JLT loop

done:
	VZEROUPPER
	RET

// func dwSpread2AVX512(z, dy *float32, oh, ow, iw, pt, pl int)
//
// z[(2*oy+1-pt)*iw + 2*ox+1-pl] = dy[oy*ow + ox] for every oy < oh and
// ox < ow, writing the whole of each of those rows of z (iw elements,
// zero between the values); the other rows are left alone. Each chunk of
// 8 values is expanded by VEXPANDPS into the even (pl = 1) or odd (pl =
// 0) lanes of 16.
TEXT ·dwSpread2AVX512(SB), NOSPLIT, $0-56
	MOVQ z+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ ow+24(FP), R10
	MOVQ iw+32(FP), R9
	LEAQ dwlow<>(SB), BX
	// R11: the lanes of the values (0x5555 from column 0, 0xaaaa from 1).
	MOVQ $0x5555, R11
	MOVQ $0xaaaa, R12
	CMPQ pl+48(FP), $0
	CMOVQEQ R12, R11
	// DI: row 1-pt of z.
	MOVQ $1, AX
	SUBQ pt+40(FP), AX
	IMULQ R9, AX
	LEAQ (DI)(AX*4), DI
	MOVQ oh+16(FP), R8

spreadrow:
	XORQ CX, CX // ox

spreadcol:
	// Expand mask: the value lanes among the first 2*(ow-ox).
	MOVQ R10, AX
	SUBQ CX, AX
	SHLQ $1, AX
	DWLANES(K2)
	KMOVW R11, K1
	KANDW K1, K2, K1
	// Store mask: the lanes of z from column 2*ox within the row.
	MOVQ CX, AX
	SHLQ $1, AX
	NEGQ AX
	ADDQ R9, AX // iw - 2*ox
	DWLANES(K3)
	VEXPANDPS.Z (SI)(CX*4), K1, Z1
	VMOVUPS Z1, K3, (DI)(CX*8)
	ADDQ $8, CX
	CMPQ CX, R10
	JLT spreadcol

	LEAQ (SI)(R10*4), SI
	LEAQ (DI)(R9*8), DI // two rows of z
	DECQ R8
	JNE spreadrow
	VZEROUPPER
	RET

// func maxPool3s2AVX512(y, x, v *float32, ih, iw, oh, ow, pt, pl int)
//
// One plane of 3x3 stride-2 max pooling: y (oh x ow) from x (ih x iw)
// with padding pt at the top and pl at the left, for geometries whose
// window centres (2*oy+1-pt, 2*ox+1-pl) lie inside x. Each output row is
// the column maxima of its (one to three) input rows, a window that
// reaches past the input taking its centre row twice, into v[1:], then
// the maxima of three neighbours at every other position of v[1-pl:].
// v holds 1 + iw rounded up to 16 + 48 elements, all -Inf on entry; the
// column maxima leave -Inf past iw.
TEXT ·maxPool3s2AVX512(SB), NOSPLIT, $0-72
	MOVQ y+0(FP), DI
	MOVQ ih+24(FP), R8
	MOVQ iw+32(FP), R9
	MOVQ ow+48(FP), R10
	// K4, K5: the lanes of the last, partial chunk of a row of x, of y.
	LEAQ dwlow<>(SB), BX
	MOVQ R9, AX
	ANDQ $15, AX
	KMOVW (BX)(AX*2), K4
	MOVQ R10, AX
	ANDQ $15, AX
	KMOVW (BX)(AX*2), K5
	MOVQ v+16(FP), BX
	ADDQ $4, BX // v[1:]
	VMOVDQU32 dweven<>(SB), Z30
	VMOVDQU32 dwodd<>(SB), Z31
	MOVL $0xff800000, AX // -Inf
	VPBROADCASTD AX, Z29
	// R14: v - pl (column -pl of the padded row).
	MOVQ pl+64(FP), AX
	SHLQ $2, AX
	MOVQ BX, R14
	SUBQ AX, R14
	// R11: the centre row of output row 0, 1-pt.
	MOVQ $1, R11
	SUBQ pt+56(FP), R11
	MOVQ oh+40(FP), R13

mprow:
	// R12, SI, DX: rows above, at and below the centre (the centre
	// again past the input).
	MOVQ R11, AX
	IMULQ R9, AX
	MOVQ x+8(FP), SI
	LEAQ (SI)(AX*4), SI
	MOVQ SI, R12
	TESTQ R11, R11
	JEQ mpabove
	MOVQ R9, AX
	SHLQ $2, AX
	SUBQ AX, R12

mpabove:
	MOVQ SI, DX
	LEAQ 1(R11), AX
	CMPQ AX, R8
	JGE mpbelow
	LEAQ (DX)(R9*4), DX

mpbelow:
	// Column maxima into v.
	XORQ CX, CX
	MOVQ R9, AX
	ANDQ $-16, AX
	JEQ mpvtail

mpvloop:
	VMOVUPS (SI)(CX*4), Z1
	VMAXPS (R12)(CX*4), Z1, Z1
	VMAXPS (DX)(CX*4), Z1, Z1
	VMOVUPS Z1, (BX)(CX*4)
	ADDQ $16, CX
	CMPQ CX, AX
	JLT mpvloop

mpvtail:
	CMPQ CX, R9
	JGE mphoriz
	VMOVAPS Z29, Z1
	VMOVAPS Z29, Z2
	VMOVAPS Z29, Z3
	VMOVUPS (SI)(CX*4), K4, Z1
	VMOVUPS (R12)(CX*4), K4, Z2
	VMOVUPS (DX)(CX*4), K4, Z3
	VMAXPS Z2, Z1, Z1
	VMAXPS Z3, Z1, Z1
	VMOVUPS Z1, (BX)(CX*4)

mphoriz:
	// y[ox] = max(w[2ox], w[2ox+1], w[2ox+2]), w = v[-pl:].
	XORQ CX, CX

mphloop:
	VMOVUPS (R14)(CX*8), Z1
	VMOVUPS 64(R14)(CX*8), Z2
	VMOVUPS 8(R14)(CX*8), Z4
	VMOVUPS 72(R14)(CX*8), Z5
	VMOVAPS Z1, Z3
	VPERMT2PS Z2, Z30, Z3 // w[2ox]
	VPERMT2PS Z2, Z31, Z1 // w[2ox+1]
	VPERMT2PS Z5, Z30, Z4 // w[2ox+2]
	VMAXPS Z1, Z3, Z3
	VMAXPS Z4, Z3, Z3
	MOVQ R10, AX
	SUBQ CX, AX
	CMPQ AX, $16
	JLT mphtail
	VMOVUPS Z3, (DI)(CX*4)
	ADDQ $16, CX
	CMPQ CX, R10
	JLT mphloop
	JMP mpnext

mphtail:
	VMOVUPS Z3, K5, (DI)(CX*4)

mpnext:
	LEAQ (DI)(R10*4), DI
	ADDQ $2, R11
	DECQ R13
	JNE mprow
	VZEROUPPER
	RET

// func dwConv3s2AVX512(a *dw2Args)
//
// Planes of a 3x3 stride-2 depthwise convolution, a row at a time: for
// output row oy the input rows 2*oy-pt+kh (kh = 0, 1, 2) are copied into
// row buffers with a zero before them and zeros after them (a row past
// the input reads the buffer of zeros instead), and the taps of kw = 0,
// 1, 2 of each are the even and odd picks (VPERMT2PS) of w[2ox+kw],
// w = buffer[1-pl:]. Between planes x, y, the weights (nine a plane) and
// the bias move by their steps; a is changed. Buffers of rowLen floats
// each: three for the rows, then the zeros; rowLen is at least 1 + iw
// rounded up to 16 + 48, and the buffers are zero on entry.
TEXT ·dwConv3s2AVX512(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), SI
	VMOVDQU32 dweven<>(SB), Z30
	VMOVDQU32 dwodd<>(SB), Z31
	LEAQ dwlow<>(SB), AX
	MOVQ 72(SI), CX
	ANDQ $15, CX
	KMOVW (AX)(CX*2), K4
	MOVQ 88(SI), CX
	ANDQ $15, CX
	KMOVW (AX)(CX*2), K5
	VBROADCASTSS 112(SI), Z10
	VBROADCASTSS 116(SI), Z11
	MOVQ 72(SI), R11 // iw
	MOVQ 88(SI), R12 // ow

c2plane:
	MOVQ 16(SI), AX
	VBROADCASTSS 0(AX), Z0
	VBROADCASTSS 4(AX), Z1
	VBROADCASTSS 8(AX), Z2
	VBROADCASTSS 12(AX), Z3
	VBROADCASTSS 16(AX), Z4
	VBROADCASTSS 20(AX), Z5
	VBROADCASTSS 24(AX), Z6
	VBROADCASTSS 28(AX), Z7
	VBROADCASTSS 32(AX), Z8
	MOVQ 24(SI), AX
	VBROADCASTSS (AX), Z9
	MOVQ 8(SI), DI
	XORQ R13, R13 // oy

c2row:
	// Row kh = 0 into R8.
	MOVQ 128(SI), DX
	MOVQ 120(SI), R8
	MOVQ R13, AX
	SHLQ $1, AX
	SUBQ 96(SI), AX
	ADDQ $0, AX // r
	JLT c2zero0
	CMPQ AX, 64(SI)
	JGE c2zero0
	IMULQ $0, DX
	LEAQ 4(R8)(DX*4), R8
	IMULQ R11, AX
	MOVQ 0(SI), BX
	LEAQ (BX)(AX*4), BX
	XORQ CX, CX
	MOVQ R11, AX
	ANDQ $-16, AX
	JEQ c2ctail0

c2copy0:
	VMOVUPS (BX)(CX*4), Z20
	VMOVUPS Z20, (R8)(CX*4)
	ADDQ $16, CX
	CMPQ CX, AX
	JLT c2copy0

c2ctail0:
	CMPQ CX, R11
	JGE c2done0
	VMOVUPS.Z (BX)(CX*4), K4, Z20
	VMOVUPS Z20, (R8)(CX*4)
	JMP c2done0

c2zero0:
	IMULQ $3, DX
	LEAQ 4(R8)(DX*4), R8

c2done0:
	MOVQ 104(SI), AX
	SHLQ $2, AX
	SUBQ AX, R8 // w = buffer[1-pl:]

	// Row kh = 1 into R9.
	MOVQ 128(SI), DX
	MOVQ 120(SI), R9
	MOVQ R13, AX
	SHLQ $1, AX
	SUBQ 96(SI), AX
	ADDQ $1, AX // r
	JLT c2zero1
	CMPQ AX, 64(SI)
	JGE c2zero1
	IMULQ $1, DX
	LEAQ 4(R9)(DX*4), R9
	IMULQ R11, AX
	MOVQ 0(SI), BX
	LEAQ (BX)(AX*4), BX
	XORQ CX, CX
	MOVQ R11, AX
	ANDQ $-16, AX
	JEQ c2ctail1

c2copy1:
	VMOVUPS (BX)(CX*4), Z20
	VMOVUPS Z20, (R9)(CX*4)
	ADDQ $16, CX
	CMPQ CX, AX
	JLT c2copy1

c2ctail1:
	CMPQ CX, R11
	JGE c2done1
	VMOVUPS.Z (BX)(CX*4), K4, Z20
	VMOVUPS Z20, (R9)(CX*4)
	JMP c2done1

c2zero1:
	IMULQ $3, DX
	LEAQ 4(R9)(DX*4), R9

c2done1:
	MOVQ 104(SI), AX
	SHLQ $2, AX
	SUBQ AX, R9 // w = buffer[1-pl:]

	// Row kh = 2 into R10.
	MOVQ 128(SI), DX
	MOVQ 120(SI), R10
	MOVQ R13, AX
	SHLQ $1, AX
	SUBQ 96(SI), AX
	ADDQ $2, AX // r
	JLT c2zero2
	CMPQ AX, 64(SI)
	JGE c2zero2
	IMULQ $2, DX
	LEAQ 4(R10)(DX*4), R10
	IMULQ R11, AX
	MOVQ 0(SI), BX
	LEAQ (BX)(AX*4), BX
	XORQ CX, CX
	MOVQ R11, AX
	ANDQ $-16, AX
	JEQ c2ctail2

c2copy2:
	VMOVUPS (BX)(CX*4), Z20
	VMOVUPS Z20, (R10)(CX*4)
	ADDQ $16, CX
	CMPQ CX, AX
	JLT c2copy2

c2ctail2:
	CMPQ CX, R11
	JGE c2done2
	VMOVUPS.Z (BX)(CX*4), K4, Z20
	VMOVUPS Z20, (R10)(CX*4)
	JMP c2done2

c2zero2:
	IMULQ $3, DX
	LEAQ 4(R10)(DX*4), R10

c2done2:
	MOVQ 104(SI), AX
	SHLQ $2, AX
	SUBQ AX, R10 // w = buffer[1-pl:]

	XORQ CX, CX // ox

c2col:
	VMOVAPS Z9, Z12
	VPXORD Z13, Z13, Z13
	VMOVUPS (R8)(CX*8), Z20
	VMOVUPS 64(R8)(CX*8), Z21
	VMOVUPS 8(R8)(CX*8), Z22
	VMOVUPS 72(R8)(CX*8), Z23
	VMOVAPS Z20, Z24
	VPERMT2PS Z21, Z30, Z24
	VPERMT2PS Z21, Z31, Z20
	VPERMT2PS Z23, Z30, Z22
	VFMADD231PS Z24, Z0, Z12
	VFMADD231PS Z20, Z1, Z13
	VFMADD231PS Z22, Z2, Z12
	VMOVUPS (R9)(CX*8), Z20
	VMOVUPS 64(R9)(CX*8), Z21
	VMOVUPS 8(R9)(CX*8), Z22
	VMOVUPS 72(R9)(CX*8), Z23
	VMOVAPS Z20, Z24
	VPERMT2PS Z21, Z30, Z24
	VPERMT2PS Z21, Z31, Z20
	VPERMT2PS Z23, Z30, Z22
	VFMADD231PS Z24, Z3, Z12
	VFMADD231PS Z20, Z4, Z13
	VFMADD231PS Z22, Z5, Z12
	VMOVUPS (R10)(CX*8), Z20
	VMOVUPS 64(R10)(CX*8), Z21
	VMOVUPS 8(R10)(CX*8), Z22
	VMOVUPS 72(R10)(CX*8), Z23
	VMOVAPS Z20, Z24
	VPERMT2PS Z21, Z30, Z24
	VPERMT2PS Z21, Z31, Z20
	VPERMT2PS Z23, Z30, Z22
	VFMADD231PS Z24, Z6, Z12
	VFMADD231PS Z20, Z7, Z13
	VFMADD231PS Z22, Z8, Z12
	VADDPS Z13, Z12, Z12
	VMAXPS Z12, Z10, Z12
	VMINPS Z12, Z11, Z12
	MOVQ R12, AX
	SUBQ CX, AX
	CMPQ AX, $16
	JLT c2tail
	VMOVUPS Z12, (DI)(CX*4)
	ADDQ $16, CX
	CMPQ CX, R12
	JLT c2col
	JMP c2next

c2tail:
	VMOVUPS Z12, K5, (DI)(CX*4)

c2next:
	LEAQ (DI)(R12*4), DI
	INCQ R13
	CMPQ R13, 80(SI)
	JLT c2row
	DECQ 32(SI)
	JEQ c2end
	MOVQ 40(SI), AX
	ADDQ AX, 0(SI)
	MOVQ 48(SI), AX
	ADDQ AX, 8(SI)
	ADDQ $36, 16(SI)
	MOVQ 56(SI), AX
	ADDQ AX, 24(SI)
	JMP c2plane

c2end:
	VZEROUPPER
	RET
