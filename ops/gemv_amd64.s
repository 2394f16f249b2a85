//go:build amd64 && !purego

#include "textflag.h"

// func dot4AVX512(w *float32, ldw int, x *float32, n int, out *[4]float32)
//
// out[r] = Σ_i w[r*ldw+i] * x[i] for r in 0..3 and i in [0, n), n a
// multiple of 16, with fused multiply-adds in 16 lanes (two sets of
// accumulators when n allows), summed across lanes at the end.
TEXT ·dot4AVX512(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ ldw+8(FP), DX
	SHLQ $2, DX
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ out+32(FP), R8
	LEAQ (SI)(DX*1), R9
	LEAQ (SI)(DX*2), R10
	LEAQ (R9)(DX*2), R11
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	XORQ AX, AX
	MOVQ CX, BX
	SUBQ $32, BX
	JLT dot4tail

dot4loop:
	VMOVUPS (DI)(AX*4), Z8
	VMOVUPS 64(DI)(AX*4), Z9
	VFMADD231PS (SI)(AX*4), Z8, Z0
	VFMADD231PS 64(SI)(AX*4), Z9, Z4
	VFMADD231PS (R9)(AX*4), Z8, Z1
	VFMADD231PS 64(R9)(AX*4), Z9, Z5
	VFMADD231PS (R10)(AX*4), Z8, Z2
	VFMADD231PS 64(R10)(AX*4), Z9, Z6
	VFMADD231PS (R11)(AX*4), Z8, Z3
	VFMADD231PS 64(R11)(AX*4), Z9, Z7
	ADDQ $32, AX
	CMPQ AX, BX
	JLE dot4loop

dot4tail:
	CMPQ AX, CX
	JGE dot4sum
	VMOVUPS (DI)(AX*4), Z8
	VFMADD231PS (SI)(AX*4), Z8, Z0
	VFMADD231PS (R9)(AX*4), Z8, Z1
	VFMADD231PS (R10)(AX*4), Z8, Z2
	VFMADD231PS (R11)(AX*4), Z8, Z3

dot4sum:
	VADDPS Z4, Z0, Z0
	VADDPS Z5, Z1, Z1
	VADDPS Z6, Z2, Z2
	VADDPS Z7, Z3, Z3
	VEXTRACTF32X8 $1, Z0, Y4
	VEXTRACTF32X8 $1, Z1, Y5
	VEXTRACTF32X8 $1, Z2, Y6
	VEXTRACTF32X8 $1, Z3, Y7
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	// Y0 = [a0..a7], Y1 = [b0..b7]...: two horizontal adds give the
	// four sums per 128-bit half, then the halves are added.
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVUPS X0, (R8)
	VZEROUPPER
	RET
