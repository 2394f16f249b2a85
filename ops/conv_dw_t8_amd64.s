//go:build amd64 && !purego

#include "textflag.h"

// The channel-blocked depthwise path (see dwT8): eight planes are
// transposed into a zero-padded buffer of eight-channel pixels, convolved
// there one output pixel (eight channels) at a time, and transposed back.

// T8X8 transposes the 8x8 block of floats in Y0-Y7 (row i in Yi) into
// Y8-Y15 (row i of the result, column i of the block, in Y(8+i)).
#define T8X8 \
	VUNPCKLPS Y1, Y0, Y8 \
	VUNPCKHPS Y1, Y0, Y9 \
	VUNPCKLPS Y3, Y2, Y10 \
	VUNPCKHPS Y3, Y2, Y11 \
	VUNPCKLPS Y5, Y4, Y12 \
	VUNPCKHPS Y5, Y4, Y13 \
	VUNPCKLPS Y7, Y6, Y14 \
	VUNPCKHPS Y7, Y6, Y15 \
	VSHUFPS $0x44, Y10, Y8, Y0 \
	VSHUFPS $0xEE, Y10, Y8, Y1 \
	VSHUFPS $0x44, Y11, Y9, Y2 \
	VSHUFPS $0xEE, Y11, Y9, Y3 \
	VSHUFPS $0x44, Y14, Y12, Y4 \
	VSHUFPS $0xEE, Y14, Y12, Y5 \
	VSHUFPS $0x44, Y15, Y13, Y6 \
	VSHUFPS $0xEE, Y15, Y13, Y7 \
	VPERM2F128 $0x20, Y4, Y0, Y8 \
	VPERM2F128 $0x20, Y5, Y1, Y9 \
	VPERM2F128 $0x20, Y6, Y2, Y10 \
	VPERM2F128 $0x20, Y7, Y3, Y11 \
	VPERM2F128 $0x31, Y4, Y0, Y12 \
	VPERM2F128 $0x31, Y5, Y1, Y13 \
	VPERM2F128 $0x31, Y6, Y2, Y14 \
	VPERM2F128 $0x31, Y7, Y3, Y15

// T8STORE stores Y8-Y15 at r, 32 bytes apart.
#define T8STORE(r) \
	VMOVUPS Y8, 0(r) \
	VMOVUPS Y9, 32(r) \
	VMOVUPS Y10, 64(r) \
	VMOVUPS Y11, 96(r) \
	VMOVUPS Y12, 128(r) \
	VMOVUPS Y13, 160(r) \
	VMOVUPS Y14, 192(r) \
	VMOVUPS Y15, 224(r)

// func dwT8InAVX2(t, x *float32, inPlane, ih, iw, rs int, mask *int32)
//
// For each input row r of eight planes (inPlane bytes apart, rows of iw
// floats), stores pixel c of the row (its eight channels, 32 bytes) at t
// + (r*rs + c)*32: eight pixels at a time, the last iw%8 of a row under
// mask (eight lanes, the first iw%8 set), which stores zeros for the
// pixels past the row.
TEXT ·dwT8InAVX2(SB), NOSPLIT, $0-56
	MOVQ t+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ inPlane+16(FP), R9
	MOVQ ih+24(FP), BX
	MOVQ iw+32(FP), DX
	MOVQ rs+40(FP), R13
	SHLQ $5, R13 // bytes a row of t
	MOVQ mask+48(FP), AX
	LEAQ (R9)(R9*2), R10 // 3 planes
	LEAQ (R9)(R9*4), R11 // 5 planes
	LEAQ (R10)(R9*4), R12 // 7 planes
	MOVQ DX, R14
	ANDQ $-8, R14 // pixels in whole groups
	ANDQ $7, DX   // the rest

inrow:
	MOVQ SI, R8
	MOVQ DI, R15
	XORQ CX, CX

ingroup:
	CMPQ CX, R14
	JGE intail
	VMOVUPS (R8), Y0
	VMOVUPS (R8)(R9*1), Y1
	VMOVUPS (R8)(R9*2), Y2
	VMOVUPS (R8)(R10*1), Y3
	VMOVUPS (R8)(R9*4), Y4
	VMOVUPS (R8)(R11*1), Y5
	VMOVUPS (R8)(R10*2), Y6
	VMOVUPS (R8)(R12*1), Y7
	T8X8
	T8STORE(R15)
	ADDQ $32, R8
	ADDQ $256, R15
	ADDQ $8, CX
	JMP ingroup

intail:
	TESTQ DX, DX
	JEQ innext
	VMOVUPS (AX), Y15
	VMASKMOVPS (R8), Y15, Y0
	VMASKMOVPS (R8)(R9*1), Y15, Y1
	VMASKMOVPS (R8)(R9*2), Y15, Y2
	VMASKMOVPS (R8)(R10*1), Y15, Y3
	VMASKMOVPS (R8)(R9*4), Y15, Y4
	VMASKMOVPS (R8)(R11*1), Y15, Y5
	VMASKMOVPS (R8)(R10*2), Y15, Y6
	VMASKMOVPS (R8)(R12*1), Y15, Y7
	T8X8
	T8STORE(R15)

innext:
	MOVQ iw+32(FP), CX
	LEAQ (SI)(CX*4), SI
	ADDQ R13, DI
	DECQ BX
	JNE inrow
	VZEROUPPER
	RET

// func dwT8OutAVX2(y, o *float32, outPlane, p int)
//
// Stores the p >= 8 pixels at o (eight channels each, 32 bytes) into
// eight planes at y, outPlane bytes apart: eight pixels at a time, the
// last group moved back to end at p (it overlaps the one before, storing
// the same values again).
TEXT ·dwT8OutAVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ o+8(FP), SI
	MOVQ outPlane+16(FP), R9
	MOVQ p+24(FP), DX
	LEAQ (R9)(R9*2), R10
	LEAQ (R9)(R9*4), R11
	LEAQ (R10)(R9*4), R12
	LEAQ -8(DX), R14 // the last group's first pixel
	XORQ CX, CX

outgroup:
	MOVQ CX, AX
	SHLQ $5, AX
	VMOVUPS 0(SI)(AX*1), Y0
	VMOVUPS 32(SI)(AX*1), Y1
	VMOVUPS 64(SI)(AX*1), Y2
	VMOVUPS 96(SI)(AX*1), Y3
	VMOVUPS 128(SI)(AX*1), Y4
	VMOVUPS 160(SI)(AX*1), Y5
	VMOVUPS 192(SI)(AX*1), Y6
	VMOVUPS 224(SI)(AX*1), Y7
	T8X8
	LEAQ (DI)(CX*4), R8
	VMOVUPS Y8, (R8)
	VMOVUPS Y9, (R8)(R9*1)
	VMOVUPS Y10, (R8)(R9*2)
	VMOVUPS Y11, (R8)(R10*1)
	VMOVUPS Y12, (R8)(R9*4)
	VMOVUPS Y13, (R8)(R11*1)
	VMOVUPS Y14, (R8)(R10*2)
	VMOVUPS Y15, (R8)(R12*1)
	CMPQ CX, R14
	JGE outdone
	ADDQ $8, CX
	CMPQ CX, R14
	JLE outgroup
	MOVQ R14, CX
	JMP outgroup

outdone:
	VZEROUPPER
	RET

// func dwT8ConvAVX2(o, t, w *float32, oh, ow, s, rs int, lo, hi float32)
//
// For each output pixel (oy, ox) of eight channels at once: the 3x3
// window of the padded pixels at t (rows of rs pixels, 32 bytes each)
// from pixel (s*oy, s*ox), times the nine weight vectors at w (tap-major,
// eight channels each) after the bias vector at w+288, clamped to [lo,
// hi], stored at o + (oy*ow + ox)*32. The sums are taken in the order of
// dwDirectS1AVX2: bias and taps 0, 1, 2, 5, 7 in one accumulator, taps 3,
// 4, 6, 8 in another, then their sum.
TEXT ·dwT8ConvAVX2(SB), NOSPLIT, $0-64
	MOVQ o+0(FP), DI
	MOVQ t+8(FP), SI
	MOVQ w+16(FP), AX
	MOVQ oh+24(FP), BX
	MOVQ s+40(FP), R10
	SHLQ $5, R10 // bytes between output pixels' windows
	MOVQ rs+48(FP), R9
	SHLQ $5, R9 // bytes a padded row
	MOVQ R9, R11
	IMULQ s+40(FP), R11 // bytes between output rows' windows
	VMOVUPS 0(AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS 64(AX), Y2
	VMOVUPS 96(AX), Y3
	VMOVUPS 128(AX), Y4
	VMOVUPS 160(AX), Y5
	VMOVUPS 192(AX), Y6
	VMOVUPS 224(AX), Y7
	VMOVUPS 256(AX), Y8
	VMOVUPS 288(AX), Y9
	VBROADCASTSS lo+56(FP), Y14
	VBROADCASTSS hi+60(FP), Y15

convrow:
	MOVQ SI, R8
	MOVQ ow+32(FP), CX

convpix:
	VMOVAPS Y9, Y12
	VFMADD231PS 0(R8), Y0, Y12
	VMULPS 0(R8)(R9*1), Y3, Y13
	VFMADD231PS 32(R8), Y1, Y12
	VFMADD231PS 32(R8)(R9*1), Y4, Y13
	VFMADD231PS 64(R8), Y2, Y12
	VFMADD231PS 0(R8)(R9*2), Y6, Y13
	VFMADD231PS 64(R8)(R9*1), Y5, Y12
	VFMADD231PS 64(R8)(R9*2), Y8, Y13
	VFMADD231PS 32(R8)(R9*2), Y7, Y12
	VADDPS Y13, Y12, Y12
	VMAXPS Y12, Y14, Y12
	VMINPS Y12, Y15, Y12
	VMOVUPS Y12, (DI)
	ADDQ $32, DI
	ADDQ R10, R8
	DECQ CX
	JNE convpix
	ADDQ R11, SI
	DECQ BX
	JNE convrow
	VZEROUPPER
	RET
