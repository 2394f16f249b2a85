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

// func dwRow9AVX512(y *float32, p *[9]*float32, w *[9]float32, n int, b, lo, hi float32)
//
// dwRow9AVX2 with 16 lanes: n a multiple of 16, the same order of
// operations (so the same bits).
TEXT ·dwRow9AVX512(SB), NOSPLIT, $0-44
	MOVQ y+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS b+32(FP), Z15
	VBROADCASTSS lo+36(FP), Z14
	VBROADCASTSS hi+40(FP), Z13
	VBROADCASTSS 0(DX), Z0
	VBROADCASTSS 4(DX), Z1
	VBROADCASTSS 8(DX), Z2
	VBROADCASTSS 12(DX), Z3
	VBROADCASTSS 16(DX), Z4
	VBROADCASTSS 20(DX), Z5
	VBROADCASTSS 24(DX), Z6
	VBROADCASTSS 28(DX), Z7
	VBROADCASTSS 32(DX), Z8
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
	JEQ done512

loop512:
	VMULPS (R8)(SI*4), Z0, Z10
	VMULPS (R9)(SI*4), Z1, Z11
	VMULPS (R10)(SI*4), Z2, Z12
	VADDPS Z10, Z15, Z9
	VMULPS (R11)(SI*4), Z3, Z10
	VADDPS Z11, Z9, Z9
	VMULPS (R12)(SI*4), Z4, Z11
	VADDPS Z12, Z9, Z9
	VMULPS (R13)(SI*4), Z5, Z12
	VADDPS Z10, Z9, Z9
	VMULPS (AX)(SI*4), Z6, Z10
	VADDPS Z11, Z9, Z9
	VMULPS (BX)(SI*4), Z7, Z11
	VADDPS Z12, Z9, Z9
	VMULPS (DX)(SI*4), Z8, Z12
	VADDPS Z10, Z9, Z9
	VADDPS Z11, Z9, Z9
	VADDPS Z12, Z9, Z9
	VMAXPS Z9, Z14, Z9
	VMINPS Z9, Z13, Z9
	VMOVUPS Z9, (DI)(SI*4)
	ADDQ $16, SI
	CMPQ SI, CX
	JLT loop512

done512:
	VZEROUPPER
	RET
