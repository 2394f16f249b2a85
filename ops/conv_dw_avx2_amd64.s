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
