//go:build amd64 && !purego

#include "textflag.h"

// func evensAVX2(dst, src *float32, n int)
//
// dst[i] = src[2i] for i in [0, n), n a multiple of 8 (reading 2n
// elements of src).
TEXT ·evensAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JEQ evensdone

evensloop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $64, SI
	ADDQ $32, DI
	DECQ CX
	JNE evensloop

evensdone:
	VZEROUPPER
	RET

// DW3TAP loads tap m of the eight outputs under the mask k into t and
// adds w times it into a.
#define DW3TAP(m, k, t, w, a) \
	VMASKMOVPS m, k, t \
	VFMADD231PS t, w, a

// The direct depthwise kernels share their loops: SI holds the dwDirArgs,
// R11 the input plane, DI the output row, R12 the output row's index,
// R8-R10 the three input rows it reads, DX the masks of the vector and CX
// its byte offset in the output row; Y0-Y8 hold the weights.

// DWDWEIGHTS broadcasts the plane's nine weights into Y0-Y8.
#define DWDWEIGHTS \
	MOVQ 16(SI), AX \
	VBROADCASTSS 0(AX), Y0 \
	VBROADCASTSS 4(AX), Y1 \
	VBROADCASTSS 8(AX), Y2 \
	VBROADCASTSS 12(AX), Y3 \
	VBROADCASTSS 16(AX), Y4 \
	VBROADCASTSS 20(AX), Y5 \
	VBROADCASTSS 24(AX), Y6 \
	VBROADCASTSS 28(AX), Y7 \
	VBROADCASTSS 32(AX), Y8

// DWDROW points r at input row AX of the plane, or at a.zero outside it.
#define DWDROW(r) \
	MOVQ 120(SI), r \
	CMPQ AX, 72(SI) \
	JAE 4(PC) \
	MOVQ AX, BX \
	IMULQ 64(SI), BX \
	LEAQ (R11)(BX*1), r

// DWDROWS sets R8-R10 to input rows AX, AX+1, AX+2 (less the padding
// rows), moved by a.colOff, and DX, CX to the row's first vector.
#define DWDROWS \
	SUBQ 96(SI), AX \
	DWDROW(R8) \
	INCQ AX \
	DWDROW(R9) \
	INCQ AX \
	DWDROW(R10) \
	MOVQ 128(SI), AX \
	ADDQ AX, R8 \
	ADDQ AX, R9 \
	ADDQ AX, R10 \
	MOVQ 104(SI), DX \
	XORQ CX, CX

// DWDINSIDE jumps to label masked unless the vector at CX is one whose
// loads are all inside the input row: CX in [a.inLo, a.inHi).
#define DWDINSIDE(masked) \
	CMPQ CX, 152(SI) \
	JLT masked \
	CMPQ CX, 160(SI) \
	JGE masked

// DWDSTORE clamps the sum in Y12 (Y13 the other accumulator) to [a.lo,
// a.hi] and stores it: a whole vector, or the last of a row above
// a.plain (what it writes past the row, the next row overwrites), as is;
// the others under the output mask at moff(DX). It moves to the next
// vector (masks step bytes on) and compares CX with the row's end.
#define DWDSTORE(moff, step) \
	VADDPS Y13, Y12, Y12 \
	VBROADCASTSS 136(SI), Y14 \
	VMAXPS Y12, Y14, Y12 \
	VBROADCASTSS 140(SI), Y15 \
	VMINPS Y12, Y15, Y12 \
	CMPQ CX, 56(SI) \
	JLT 6(PC) \
	CMPQ R12, 144(SI) \
	JLT 4(PC) \
	VMOVUPS moff(DX), Y15 \
	VMASKMOVPS Y12, Y15, (DI)(CX*1) \
	JMP 2(PC) \
	VMOVUPS Y12, (DI)(CX*1) \
	ADDQ $32, CX \
	ADDQ $step, DX \
	CMPQ CX, 112(SI)

// DWDNEXT moves to the next output row (label orow), or to the next plane
// (label plane), or returns after the last.
#define DWDNEXT \
	MOVQ 80(SI), AX \
	LEAQ (DI)(AX*4), DI \
	INCQ R12 \
	CMPQ R12, 88(SI) \
	JLT orow \
	ADDQ 48(SI), R11 \
	ADDQ $36, 16(SI) \
	MOVQ 32(SI), AX \
	ADDQ AX, 24(SI) \
	DECQ 40(SI) \
	JNE plane \
	VZEROUPPER \
	RET

// func dwDirectS1AVX2(a *dwDirArgs)
//
// For each of a.planes planes, one output plane of a 3x3 depthwise
// convolution with stride 1 straight from the input plane: the taps of
// eight outputs are masked loads (a.masks: per vector, the lanes of the
// columns kw = 0, 1, 2 inside the input and of the outputs that exist),
// rows outside the input read a.zero. Fused multiply-adds in the order of
// dwKernelAVX512 (bias and taps 0, 1, 2, 5, 7 in Y12; taps 3, 4, 6, 8 in
// Y13), the sum clamped to [a.lo, a.hi].
TEXT ·dwDirectS1AVX2(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), SI
	MOVQ 0(SI), R11
	MOVQ 8(SI), DI

plane:
	DWDWEIGHTS
	XORQ R12, R12

orow:
	MOVQ R12, AX
	DWDROWS

ovec:
	MOVQ 24(SI), AX
	VBROADCASTSS (AX), Y12
	DWDINSIDE(masked)
	VFMADD231PS (R8)(CX*1), Y0, Y12
	VMULPS (R9)(CX*1), Y3, Y13
	VFMADD231PS 4(R8)(CX*1), Y1, Y12
	VFMADD231PS 4(R9)(CX*1), Y4, Y13
	VFMADD231PS 8(R8)(CX*1), Y2, Y12
	VFMADD231PS (R10)(CX*1), Y6, Y13
	VFMADD231PS 8(R9)(CX*1), Y5, Y12
	VFMADD231PS 8(R10)(CX*1), Y8, Y13
	VFMADD231PS 4(R10)(CX*1), Y7, Y12
	JMP sum

masked:
	VMOVUPS 0(DX), Y9
	VMOVUPS 32(DX), Y10
	VMOVUPS 64(DX), Y11
	DW3TAP((R8)(CX*1), Y9, Y14, Y0, Y12)
	VMASKMOVPS (R9)(CX*1), Y9, Y15
	VMULPS Y15, Y3, Y13
	DW3TAP(4(R8)(CX*1), Y10, Y14, Y1, Y12)
	DW3TAP(4(R9)(CX*1), Y10, Y15, Y4, Y13)
	DW3TAP(8(R8)(CX*1), Y11, Y14, Y2, Y12)
	DW3TAP((R10)(CX*1), Y9, Y15, Y6, Y13)
	DW3TAP(8(R9)(CX*1), Y11, Y14, Y5, Y12)
	DW3TAP(8(R10)(CX*1), Y11, Y15, Y8, Y13)
	DW3TAP(4(R10)(CX*1), Y10, Y14, Y7, Y12)

sum:
	DWDSTORE(96, 128)
	JLT ovec
	DWDNEXT

// DW4ROW loads the taps of eight outputs of one input row for stride 2
// (the row at r moved by a.colOff, the vector's masks at DX): 16 floats
// from column 2*x0-pl (E, O: even and odd) and 16 from two floats on (E2,
// their evens), each half under its mask; E into Y11, O into Y9, E2 into
// Y10. Y14 and Y15 are clobbered. DW4ROWIN does the same with plain loads,
// for vectors whose loads are all inside the row.
#define DW4ROW(r) \
	VMOVUPS 0(DX), Y15 \
	VMASKMOVPS (r)(CX*2), Y15, Y9 \
	VMOVUPS 32(DX), Y15 \
	VMASKMOVPS 32(r)(CX*2), Y15, Y10 \
	VMOVUPS 64(DX), Y15 \
	VMASKMOVPS 8(r)(CX*2), Y15, Y14 \
	VMOVUPS 96(DX), Y15 \
	VMASKMOVPS 40(r)(CX*2), Y15, Y15 \
	DW4SPLIT

#define DW4ROWIN(r) \
	VMOVUPS (r)(CX*2), Y9 \
	VMOVUPS 32(r)(CX*2), Y10 \
	VMOVUPS 8(r)(CX*2), Y14 \
	VMOVUPS 40(r)(CX*2), Y15 \
	DW4SPLIT

// DW4SPLIT sets Y11, Y9 to the even and odd elements of Y9:Y10 and Y10
// to the even ones of Y14:Y15.
#define DW4SPLIT \
	VSHUFPS $0x88, Y10, Y9, Y11 \
	VSHUFPS $0xDD, Y10, Y9, Y9 \
	VPERMPD $0xD8, Y11, Y11 \
	VPERMPD $0xD8, Y9, Y9 \
	VSHUFPS $0x88, Y15, Y14, Y10 \
	VPERMPD $0xD8, Y10, Y10

// DW4TAPS sums the taps of the three input rows (loaded by load) into
// Y12 and Y13 in the order of dwKernelAVX512.
#define DW4TAPS(load) \
	load(R8) \
	VFMADD231PS Y11, Y0, Y12 \
	VFMADD231PS Y9, Y1, Y12 \
	VFMADD231PS Y10, Y2, Y12 \
	load(R9) \
	VMULPS Y11, Y3, Y13 \
	VFMADD231PS Y9, Y4, Y13 \
	VFMADD231PS Y10, Y5, Y12 \
	load(R10) \
	VFMADD231PS Y11, Y6, Y13 \
	VFMADD231PS Y9, Y7, Y12 \
	VFMADD231PS Y10, Y8, Y13

// func dwDirectS2AVX2(a *dwDirArgs)
//
// dwDirectS1AVX2 for stride 2: output row oy reads input rows 2*oy-pt+kh,
// and a.masks holds five masks a vector (the lanes of the four loads of
// DW4ROW inside the input row, then the outputs that exist).
TEXT ·dwDirectS2AVX2(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), SI
	MOVQ 0(SI), R11
	MOVQ 8(SI), DI

plane:
	DWDWEIGHTS
	XORQ R12, R12

orow:
	MOVQ R12, AX
	SHLQ $1, AX
	DWDROWS

ovec:
	MOVQ 24(SI), AX
	VBROADCASTSS (AX), Y12
	DWDINSIDE(masked)
	DW4TAPS(DW4ROWIN)
	JMP sum

masked:
	DW4TAPS(DW4ROW)

sum:
	DWDSTORE(128, 160)
	JLT ovec
	DWDNEXT

// func maxPool3s2AVX2(y, x, v *float32, ih, iw, oh, ow, pt, pl int)
//
// maxPool3s2AVX512 with AVX2, for ow >= 8: each output row takes the
// column maxima of its input rows into v[1:] (eight at a time, the last
// iw%8 one at a time, so that v keeps -Inf past iw), then for eight
// outputs at a time the maxima of base[2*ox], base[2*ox+1] and
// base[2*ox+2], base = v[1-pl:], taken apart into evens and odds with
// VSHUFPS and put back in order with VPERMPD; the last group overlaps the
// one before it when ow is not a multiple of 8.
TEXT ·maxPool3s2AVX2(SB), NOSPLIT, $0-72
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ v+16(FP), DX
	MOVQ ih+24(FP), R8
	MOVQ iw+32(FP), R9
	MOVQ ow+48(FP), R10
	MOVQ $1, R11
	SUBQ pl+64(FP), R11
	LEAQ (DX)(R11*4), R11 // base
	MOVQ R9, R12
	ANDQ $-8, R12 // columns in whole vectors
	XORQ BX, BX   // oy

mprow:
	// Centre row rc = 2*oy + 1 - pt; the rows above and below it, or
	// rc again past the input.
	MOVQ BX, CX
	SHLQ $1, CX
	INCQ CX
	SUBQ pt+56(FP), CX
	MOVQ CX, R13
	DECQ R13
	CMOVQLT CX, R13
	MOVQ CX, R14
	INCQ R14
	CMPQ R14, R8
	CMOVQGE CX, R14
	MOVQ CX, AX
	IMULQ R9, AX
	LEAQ (SI)(AX*4), AX
	IMULQ R9, R13
	LEAQ (SI)(R13*4), R13
	IMULQ R9, R14
	LEAQ (SI)(R14*4), R14
	XORQ CX, CX

mpcol:
	CMPQ CX, R12
	JGE mpcoltail
	VMOVUPS (R13)(CX*4), Y0
	VMAXPS (AX)(CX*4), Y0, Y0
	VMAXPS (R14)(CX*4), Y0, Y0
	VMOVUPS Y0, 4(DX)(CX*4)
	ADDQ $8, CX
	JMP mpcol

mpcoltail:
	CMPQ CX, R9
	JGE mphoriz
	VMOVSS (R13)(CX*4), X0
	VMAXSS (AX)(CX*4), X0, X0
	VMAXSS (R14)(CX*4), X0, X0
	VMOVSS X0, 4(DX)(CX*4)
	INCQ CX
	JMP mpcoltail

mphoriz:
	XORQ CX, CX // ox

mpgroup:
	LEAQ (R11)(CX*8), R13
	VMOVUPS (R13), Y0
	VMOVUPS 32(R13), Y1
	VMOVUPS 8(R13), Y2
	VMOVUPS 40(R13), Y3
	VSHUFPS $0x88, Y1, Y0, Y4
	VSHUFPS $0xDD, Y1, Y0, Y5
	VSHUFPS $0x88, Y3, Y2, Y6
	VMAXPS Y5, Y4, Y4
	VMAXPS Y6, Y4, Y4
	VPERMPD $0xD8, Y4, Y4
	VMOVUPS Y4, (DI)(CX*4)
	ADDQ $8, CX
	CMPQ CX, R10
	JGE mprowdone
	MOVQ R10, R13
	SUBQ $8, R13
	CMPQ CX, R13
	JLE mpgroup
	MOVQ R13, CX
	JMP mpgroup

mprowdone:
	LEAQ (DI)(R10*4), DI
	INCQ BX
	CMPQ BX, oh+40(FP)
	JLT mprow
	VZEROUPPER
	RET

// func evensRowsAVX2(dst, src *float32, rows, n, vec, dstStride, srcStride int)
//
// For each of rows rows: dst[i] = src[2i] for i in [0, n), the first vec
// (a multiple of 8) eight at a time as evensAVX2 does, the rest one at a
// time (reading no further than src[2n-2]); then dst moves dstStride
// floats on and src srcStride.
TEXT ·evensRowsAVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), R8
	MOVQ n+24(FP), R9
	MOVQ vec+32(FP), R10
	MOVQ dstStride+40(FP), R11
	SHLQ $2, R11
	MOVQ srcStride+48(FP), R12
	SHLQ $2, R12
	TESTQ R8, R8
	JEQ erdone

errow:
	XORQ CX, CX

ervec:
	CMPQ CX, R10
	JGE ertail
	VMOVUPS 0(SI)(CX*8), Y0
	VMOVUPS 32(SI)(CX*8), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)(CX*4)
	ADDQ $8, CX
	JMP ervec

ertail:
	CMPQ CX, R9
	JGE ernext
	VMOVSS (SI)(CX*8), X0
	VMOVSS X0, (DI)(CX*4)
	INCQ CX
	JMP ertail

ernext:
	ADDQ R11, DI
	ADDQ R12, SI
	DECQ R8
	JNE errow

erdone:
	VZEROUPPER
	RET
