//go:build amd64 && !purego

#include "textflag.h"

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
