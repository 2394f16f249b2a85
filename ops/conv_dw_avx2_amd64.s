//go:build amd64 && !purego

#include "textflag.h"

// DW2TAP adds tap (weight w, memory operand m) into accumulator a with a
// fused multiply-add.
#define DW2TAP(m, w, a) \
	VFMADD231PS m, w, a

// DW2OUT computes eight outputs from x byte offset CX of the sources
// (R8-R10: rows kh = 0-2 at column kw = 0, kw = 2 at off2 bytes further;
// R11-R13: the same rows at column kw = 1) into Y12, in the order of
// dwKernelAVX512: the bias and taps 0, 1, 2, 5, 7 in Y12, taps 3, 4, 6, 8
// in Y13, then their sum clamped to [Y10, Y11].
#define DW2OUT(off2) \
	VMOVAPS Y9, Y12 \
	DW2TAP((R8)(CX*1), Y0, Y12) \
	VMULPS (R9)(CX*1), Y3, Y13 \
	DW2TAP((R11)(CX*1), Y1, Y12) \
	DW2TAP((R12)(CX*1), Y4, Y13) \
	DW2TAP(off2(R8)(CX*1), Y2, Y12) \
	DW2TAP((R10)(CX*1), Y6, Y13) \
	DW2TAP(off2(R9)(CX*1), Y5, Y12) \
	DW2TAP(off2(R10)(CX*1), Y8, Y13) \
	DW2TAP((R13)(CX*1), Y7, Y12) \
	VADDPS Y13, Y12, Y12 \
	VMAXPS Y12, Y10, Y12 \
	VMINPS Y12, Y11, Y12

// DW2PLANE is the body of dwPlaneS1AVX2 and dwPlaneS2AVX2 (off2: the
// bytes from tap kw = 0 to kw = 2 in a source row).
#define DW2PLANE(off2) \
	MOVQ a+0(FP), SI \
	MOVQ 0(SI), R8 \
	MOVQ 8(SI), R9 \
	MOVQ 16(SI), R10 \
	MOVQ 24(SI), R11 \
	MOVQ 32(SI), R12 \
	MOVQ 40(SI), R13 \
	MOVQ 48(SI), DI \
	MOVQ 56(SI), AX \
	VBROADCASTSS 0(AX), Y0 \
	VBROADCASTSS 4(AX), Y1 \
	VBROADCASTSS 8(AX), Y2 \
	VBROADCASTSS 12(AX), Y3 \
	VBROADCASTSS 16(AX), Y4 \
	VBROADCASTSS 20(AX), Y5 \
	VBROADCASTSS 24(AX), Y6 \
	VBROADCASTSS 28(AX), Y7 \
	VBROADCASTSS 32(AX), Y8 \
	VBROADCASTSS 64(SI), Y9 \
	VBROADCASTSS 68(SI), Y10 \
	VBROADCASTSS 72(SI), Y11 \
	MOVQ 80(SI), DX \
	MOVQ 88(SI), AX \
	MOVQ 96(SI), BX \
	MOVQ DX, R14 \
	ANDQ $-8, R14 \
	SHLQ $2, R14 \
	MOVQ 104(SI), CX \
	VMOVUPS (CX), Y14 \
	SHLQ $2, DX \
row: \
	XORQ CX, CX \
	TESTQ R14, R14 \
	JEQ tail \
full: \
	DW2OUT(off2) \
	VMOVUPS Y12, (DI)(CX*1) \
	ADDQ $32, CX \
	CMPQ CX, R14 \
	JLT full \
tail: \
	CMPQ CX, DX \
	JGE next \
	DW2OUT(off2) \
	VMASKMOVPS Y12, Y14, (DI)(CX*1) \
next: \
	ADDQ BX, R8 \
	ADDQ BX, R9 \
	ADDQ BX, R10 \
	ADDQ BX, R11 \
	ADDQ BX, R12 \
	ADDQ BX, R13 \
	ADDQ DX, DI \
	DECQ AX \
	JNE row \
	VZEROUPPER \
	RET

// func dwPlaneS1AVX2(a *dwPadArgs)
//
// One output plane of a 3x3 depthwise convolution with stride 1 from a
// zero-padded copy of its input (see dwPadArgs): tap (kh, kw) of output
// (oy, ox) at row source kh + oy*rowStep bytes, float ox+kw.
TEXT ·dwPlaneS1AVX2(SB), NOSPLIT, $0-8
	DW2PLANE(8)

// func dwPlaneS2AVX2(a *dwPadArgs)
//
// The same with stride 2 from the even and odd columns of the padded
// input rows: tap (kh, 0) at float ox of the even row, (kh, 1) at ox of
// the odd one, (kh, 2) at ox+1 of the even one.
TEXT ·dwPlaneS2AVX2(SB), NOSPLIT, $0-8
	DW2PLANE(4)

// func splitAVX2(ev, od, x *float32, n int)
//
// ev[i] = x[2i] and od[i] = x[2i+1] for i in [0, n), n a multiple of 8.
TEXT ·splitAVX2(SB), NOSPLIT, $0-32
	MOVQ ev+0(FP), DI
	MOVQ od+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JEQ splitdone

splitloop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	VPERMPD $0xD8, Y2, Y2
	VPERMPD $0xD8, Y3, Y3
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, (DX)
	ADDQ $64, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNE splitloop

splitdone:
	VZEROUPPER
	RET

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
	MOVQ 16(SI), AX
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	VBROADCASTSS 16(AX), Y4
	VBROADCASTSS 20(AX), Y5
	VBROADCASTSS 24(AX), Y6
	VBROADCASTSS 28(AX), Y7
	VBROADCASTSS 32(AX), Y8
	XORQ R12, R12

orow:
	// R8-R10: input rows oy-pt+kh (a.zero outside), moved by a.colOff.
	MOVQ R12, AX
	SUBQ 96(SI), AX
	MOVQ 120(SI), R8
	CMPQ AX, 72(SI)
	JAE 4(PC)
	MOVQ AX, BX
	IMULQ 64(SI), BX
	LEAQ (R11)(BX*1), R8
	INCQ AX
	MOVQ 120(SI), R9
	CMPQ AX, 72(SI)
	JAE 4(PC)
	MOVQ AX, BX
	IMULQ 64(SI), BX
	LEAQ (R11)(BX*1), R9
	INCQ AX
	MOVQ 120(SI), R10
	CMPQ AX, 72(SI)
	JAE 4(PC)
	MOVQ AX, BX
	IMULQ 64(SI), BX
	LEAQ (R11)(BX*1), R10
	MOVQ 128(SI), AX
	ADDQ AX, R8
	ADDQ AX, R9
	ADDQ AX, R10
	MOVQ 104(SI), DX
	XORQ CX, CX

ovec:
	VMOVUPS 0(DX), Y9
	VMOVUPS 32(DX), Y10
	VMOVUPS 64(DX), Y11
	MOVQ 24(SI), AX
	VBROADCASTSS (AX), Y12
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
	VADDPS Y13, Y12, Y12
	VBROADCASTSS 136(SI), Y14
	VMAXPS Y12, Y14, Y12
	VBROADCASTSS 140(SI), Y15
	VMINPS Y12, Y15, Y12
	// A whole vector, or the last of a row but the plane's last (what
	// it writes past the row, the next row overwrites), is stored as
	// is; the plane's last under the mask of the outputs.
	CMPQ CX, 56(SI)
	JLT store
	MOVQ 88(SI), AX
	DECQ AX
	CMPQ R12, AX
	JLT store
	VMOVUPS 96(DX), Y15
	VMASKMOVPS Y12, Y15, (DI)(CX*1)
	JMP stored

store:
	VMOVUPS Y12, (DI)(CX*1)

stored:
	ADDQ $32, CX
	SUBQ $-128, DX
	CMPQ CX, 112(SI)
	JLT ovec

	MOVQ 80(SI), AX
	LEAQ (DI)(AX*4), DI
	INCQ R12
	CMPQ R12, 88(SI)
	JLT orow

	ADDQ 48(SI), R11
	ADDQ $36, 16(SI)
	MOVQ 32(SI), AX
	ADDQ AX, 24(SI)
	DECQ 40(SI)
	JNE plane
	VZEROUPPER
	RET
