//go:build amd64 && !purego

#include "textflag.h"

// func vmax2AVX2(dst, a, b *float32, n int)
//
// dst[i] = max(a[i], b[i]) for i in [0, n), n a multiple of 8 (VMAXPS:
// b[i] when either is NaN).
TEXT ·vmax2AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	XORQ AX, AX
	TESTQ CX, CX
	JEQ vmaxdone

vmaxloop:
	VMOVUPS (SI)(AX*4), Y0
	VMAXPS (DX)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT vmaxloop

vmaxdone:
	VZEROUPPER
	RET

// Indices of the even elements of two concatenated 16-float vectors.
DATA evenIdx<>+0(SB)/4, $0
DATA evenIdx<>+4(SB)/4, $2
DATA evenIdx<>+8(SB)/4, $4
DATA evenIdx<>+12(SB)/4, $6
DATA evenIdx<>+16(SB)/4, $8
DATA evenIdx<>+20(SB)/4, $10
DATA evenIdx<>+24(SB)/4, $12
DATA evenIdx<>+28(SB)/4, $14
DATA evenIdx<>+32(SB)/4, $16
DATA evenIdx<>+36(SB)/4, $18
DATA evenIdx<>+40(SB)/4, $20
DATA evenIdx<>+44(SB)/4, $22
DATA evenIdx<>+48(SB)/4, $24
DATA evenIdx<>+52(SB)/4, $26
DATA evenIdx<>+56(SB)/4, $28
DATA evenIdx<>+60(SB)/4, $30
GLOBL evenIdx<>(SB), RODATA|NOPTR, $64

// func evensAVX512(dst, src *float32, n int)
//
// dst[i] = src[2*i] for i in [0, n); reads src[0, 2n-1) only. Whole
// vectors of 16 outputs first, then the last 1 to 16 with masked loads
// and store.
TEXT ·evensAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVDQU32 evenIdx<>(SB), Z2
	MOVQ CX, DX
	DECQ DX
	ANDQ $-16, DX // whole vectors, leaving 1 to 16 outputs to the masked tail
	XORQ AX, AX
	TESTQ DX, DX
	JEQ evtail

evloop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VPERMT2PS Z1, Z2, Z0
	VMOVUPS Z0, (DI)(AX*4)
	ADDQ $128, SI
	ADDQ $16, AX
	CMPQ AX, DX
	JLT evloop

evtail:
	MOVQ CX, R12
	SUBQ AX, R12 // r = outputs left, 1..16
	JLE evdone
	LEAQ -1(R12)(R12*1), BX // 2r-1 source elements to read

	// K1: the first min(2r-1, 16) lanes.
	MOVQ BX, CX
	CMPQ CX, $16
	JLE evk1
	MOVQ $16, CX

evk1:
	MOVQ $1, R8
	SHLQ CX, R8
	DECQ R8
	KMOVW R8, K1

	// K2: the 2r-1-16 lanes of the second vector, if any.
	XORQ R10, R10
	MOVQ BX, CX
	SUBQ $16, CX
	JLE evk2
	MOVQ $1, R10
	SHLQ CX, R10
	DECQ R10

evk2:
	KMOVW R10, K2
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VPERMT2PS Z1, Z2, Z0

	// K3: the r output lanes.
	MOVQ R12, CX
	MOVQ $1, R11
	SHLQ CX, R11
	DECQ R11
	KMOVW R11, K3
	VMOVUPS Z0, K3, (DI)(AX*4)

evdone:
	VZEROUPPER
	RET

// func axpyAVX2(y, x *float32, a float32, n int)
//
// y[i] += a * x[i] for i in [0, n), n a multiple of 8; the product is
// rounded before the sum, as in Go.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	VBROADCASTSS a+16(FP), Y2
	MOVQ n+24(FP), CX
	XORQ AX, AX
	TESTQ CX, CX
	JEQ axpydone

axpyloop:
	VMULPS (SI)(AX*4), Y2, Y0
	VADDPS (DI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT axpyloop

axpydone:
	VZEROUPPER
	RET

// func sum64AVX512(x *float32, n int) float64
//
// The sum of x[0, n) in float64: two vectors of eight partial sums over
// 16 elements a step, a masked last step, then the lanes added pairwise.
TEXT ·sum64AVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPD Z0, Z0, Z0
	VXORPD Z1, Z1, Z1

sum64loop:
	CMPQ CX, $16
	JLT sum64tail
	VCVTPS2PD (SI), Z2
	VCVTPS2PD 32(SI), Z3
	VADDPD Z2, Z0, Z0
	VADDPD Z3, Z1, Z1
	ADDQ $64, SI
	SUBQ $16, CX
	JMP sum64loop

sum64tail:
	TESTQ CX, CX
	JEQ sum64reduce
	MOVL $1, AX
	SHLXL CX, AX, AX
	DECL AX
	KMOVW AX, K1
	SHRL $8, AX
	KMOVW AX, K2
	VCVTPS2PD.Z (SI), K1, Z2
	VCVTPS2PD.Z 32(SI), K2, Z3
	VADDPD Z2, Z0, Z0
	VADDPD Z3, Z1, Z1

sum64reduce:
	VADDPD Z1, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0
	VZEROUPPER
	MOVSD X0, ret+16(FP)
	RET

// func sum64AVX2(x *float32, n int) float64
//
// The sum of x[0, n) in float64, n a multiple of 8: four lanes of partial
// sums in each of two vectors, then the lanes added pairwise.
TEXT ·sum64AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	SHRQ $3, CX
	JEQ s64avx2reduce

s64avx2loop:
	VCVTPS2PD (SI), Y2
	VCVTPS2PD 16(SI), Y3
	VADDPD Y2, Y0, Y0
	VADDPD Y3, Y1, Y1
	ADDQ $32, SI
	DECQ CX
	JNE s64avx2loop

s64avx2reduce:
	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0
	VMOVSD X0, ret+16(FP)
	VZEROUPPER
	RET

// func axpyRowsAVX2(y *float32, ldy int, x *float32, ldx int, a float32, rows, n int)
//
// y[r*ldy+i] += a * x[r*ldx+i] for r in [0, rows), i in [0, n), n a
// multiple of 8 and the strides in floats; the product is rounded before
// the sum, as in Go.
TEXT ·axpyRowsAVX2(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ ldy+8(FP), R8
	MOVQ x+16(FP), SI
	MOVQ ldx+24(FP), R9
	VBROADCASTSS a+32(FP), Y2
	MOVQ rows+40(FP), DX
	MOVQ n+48(FP), CX
	SHLQ $2, R8
	SHLQ $2, R9
	TESTQ CX, CX
	JEQ axpyrowsdone
	TESTQ DX, DX
	JEQ axpyrowsdone

axpyrowsrow:
	XORQ AX, AX

axpyrowsloop:
	VMULPS (SI)(AX*4), Y2, Y0
	VADDPS (DI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT axpyrowsloop
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ DX
	JNZ axpyrowsrow

axpyrowsdone:
	VZEROUPPER
	RET

// func clampAVX2(v *float32, n int, lo, hi float32)
//
// v[i] = min(max(v[i], lo), hi) for i in [0, n), n a multiple of 8; a NaN
// stays NaN (VMAXPS and VMINPS give their second operand, here v, when
// either is NaN).
TEXT ·clampAVX2(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS lo+16(FP), Y2
	VBROADCASTSS hi+20(FP), Y3
	XORQ AX, AX
	TESTQ CX, CX
	JEQ clampdone

clamploop:
	VMOVUPS (DI)(AX*4), Y0
	VMAXPS Y0, Y2, Y0
	VMINPS Y0, Y3, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT clamploop

clampdone:
	VZEROUPPER
	RET
