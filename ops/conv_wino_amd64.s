//go:build amd64 && !purego

#include "textflag.h"

// winoeven<> and winoodd<> pick the even and the odd elements of two
// vectors (VPERMT2PS indices); winolo<> and winohi<> interleave the
// first and the second halves of two vectors.
DATA winoeven<>+0(SB)/4, $0
DATA winoeven<>+4(SB)/4, $2
DATA winoeven<>+8(SB)/4, $4
DATA winoeven<>+12(SB)/4, $6
DATA winoeven<>+16(SB)/4, $8
DATA winoeven<>+20(SB)/4, $10
DATA winoeven<>+24(SB)/4, $12
DATA winoeven<>+28(SB)/4, $14
DATA winoeven<>+32(SB)/4, $16
DATA winoeven<>+36(SB)/4, $18
DATA winoeven<>+40(SB)/4, $20
DATA winoeven<>+44(SB)/4, $22
DATA winoeven<>+48(SB)/4, $24
DATA winoeven<>+52(SB)/4, $26
DATA winoeven<>+56(SB)/4, $28
DATA winoeven<>+60(SB)/4, $30
GLOBL winoeven<>(SB), RODATA|NOPTR, $64

DATA winoodd<>+0(SB)/4, $1
DATA winoodd<>+4(SB)/4, $3
DATA winoodd<>+8(SB)/4, $5
DATA winoodd<>+12(SB)/4, $7
DATA winoodd<>+16(SB)/4, $9
DATA winoodd<>+20(SB)/4, $11
DATA winoodd<>+24(SB)/4, $13
DATA winoodd<>+28(SB)/4, $15
DATA winoodd<>+32(SB)/4, $17
DATA winoodd<>+36(SB)/4, $19
DATA winoodd<>+40(SB)/4, $21
DATA winoodd<>+44(SB)/4, $23
DATA winoodd<>+48(SB)/4, $25
DATA winoodd<>+52(SB)/4, $27
DATA winoodd<>+56(SB)/4, $29
DATA winoodd<>+60(SB)/4, $31
GLOBL winoodd<>(SB), RODATA|NOPTR, $64

DATA winolo<>+0(SB)/4, $0
DATA winolo<>+4(SB)/4, $16
DATA winolo<>+8(SB)/4, $1
DATA winolo<>+12(SB)/4, $17
DATA winolo<>+16(SB)/4, $2
DATA winolo<>+20(SB)/4, $18
DATA winolo<>+24(SB)/4, $3
DATA winolo<>+28(SB)/4, $19
DATA winolo<>+32(SB)/4, $4
DATA winolo<>+36(SB)/4, $20
DATA winolo<>+40(SB)/4, $5
DATA winolo<>+44(SB)/4, $21
DATA winolo<>+48(SB)/4, $6
DATA winolo<>+52(SB)/4, $22
DATA winolo<>+56(SB)/4, $7
DATA winolo<>+60(SB)/4, $23
GLOBL winolo<>(SB), RODATA|NOPTR, $64

DATA winohi<>+0(SB)/4, $8
DATA winohi<>+4(SB)/4, $24
DATA winohi<>+8(SB)/4, $9
DATA winohi<>+12(SB)/4, $25
DATA winohi<>+16(SB)/4, $10
DATA winohi<>+20(SB)/4, $26
DATA winohi<>+24(SB)/4, $11
DATA winohi<>+28(SB)/4, $27
DATA winohi<>+32(SB)/4, $12
DATA winohi<>+36(SB)/4, $28
DATA winohi<>+40(SB)/4, $13
DATA winohi<>+44(SB)/4, $29
DATA winohi<>+48(SB)/4, $14
DATA winohi<>+52(SB)/4, $30
DATA winohi<>+56(SB)/4, $15
DATA winohi<>+60(SB)/4, $31
GLOBL winohi<>(SB), RODATA|NOPTR, $64

// WINOMASK sets K to the mask of the first n lanes, n in CX clamped to
// [0, 16]; AX and BX are clobbered.
#define WINOMASK(K) \
	XORQ BX, BX \
	CMPQ CX, BX \
	CMOVQLT BX, CX \
	MOVQ $16, BX \
	CMPQ CX, BX \
	CMOVQGT BX, CX \
	MOVL $1, AX \
	SHLL CX, AX \
	DECL AX \
	KMOVW AX, K

// WINOROW loads 32 floats of a padded input row at p and 32 more from 2
// floats on, splits both into even and odd elements (E0, O0, E1, O1) and
// sets the column combinations c0 = E0-E1, c1 = O0+E1, c2 = E1-O0 and
// c3 = O0-O1 of 16 tiles. Z16-Z21 are clobbered.
#define WINOROW(p, c0, c1, c2, c3) \
	VMOVUPS 0(p), Z16 \
	VMOVUPS 64(p), Z17 \
	VMOVUPS 8(p), Z18 \
	VMOVUPS 72(p), Z19 \
	VMOVAPS Z16, Z20 \
	VPERMT2PS Z17, Z30, Z20 \
	VPERMT2PS Z17, Z31, Z16 \
	VMOVAPS Z18, Z21 \
	VPERMT2PS Z19, Z30, Z21 \
	VPERMT2PS Z19, Z31, Z18 \
	VSUBPS Z21, Z20, c0 \
	VADDPS Z21, Z16, c1 \
	VSUBPS Z16, Z21, c2 \
	VSUBPS Z18, Z16, c3

// func winoInputAVX512(v, rows *float32, ld, tw, xs int)
//
// The input transform of winoInputGo, 16 tiles at a time: the column
// combinations of the four rows in Z0-Z3, Z4-Z7, Z8-Z11 and Z12-Z15,
// then the row combinations stored under the mask of the tiles left.
TEXT ·winoInputAVX512(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), DI
	MOVQ rows+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	LEAQ (SI)(R8*1), R12
	LEAQ (SI)(R8*2), R13
	LEAQ (R12)(R8*2), R14
	MOVQ tw+24(FP), DX
	MOVQ xs+32(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	MOVQ R9, R11
	SHLQ $2, R11
	VMOVUPS winoeven<>(SB), Z30
	VMOVUPS winoodd<>(SB), Z31

inloop:
	MOVQ DX, CX
	WINOMASK(K1)
	WINOROW(SI, Z0, Z1, Z2, Z3)
	WINOROW(R12, Z4, Z5, Z6, Z7)
	WINOROW(R13, Z8, Z9, Z10, Z11)
	WINOROW(R14, Z12, Z13, Z14, Z15)
	MOVQ DI, AX

	// xi = j: c_j(r0) - c_j(r2)
	VSUBPS Z8, Z0, Z20
	VMOVUPS Z20, K1, (AX)
	VSUBPS Z9, Z1, Z20
	VMOVUPS Z20, K1, (AX)(R9*1)
	VSUBPS Z10, Z2, Z20
	VMOVUPS Z20, K1, (AX)(R9*2)
	VSUBPS Z11, Z3, Z20
	VMOVUPS Z20, K1, (AX)(R10*1)
	ADDQ R11, AX

	// xi = 4+j: c_j(r1) + c_j(r2)
	VADDPS Z8, Z4, Z20
	VMOVUPS Z20, K1, (AX)
	VADDPS Z9, Z5, Z20
	VMOVUPS Z20, K1, (AX)(R9*1)
	VADDPS Z10, Z6, Z20
	VMOVUPS Z20, K1, (AX)(R9*2)
	VADDPS Z11, Z7, Z20
	VMOVUPS Z20, K1, (AX)(R10*1)
	ADDQ R11, AX

	// xi = 8+j: c_j(r2) - c_j(r1)
	VSUBPS Z4, Z8, Z20
	VMOVUPS Z20, K1, (AX)
	VSUBPS Z5, Z9, Z20
	VMOVUPS Z20, K1, (AX)(R9*1)
	VSUBPS Z6, Z10, Z20
	VMOVUPS Z20, K1, (AX)(R9*2)
	VSUBPS Z7, Z11, Z20
	VMOVUPS Z20, K1, (AX)(R10*1)
	ADDQ R11, AX

	// xi = 12+j: c_j(r1) - c_j(r3)
	VSUBPS Z12, Z4, Z20
	VMOVUPS Z20, K1, (AX)
	VSUBPS Z13, Z5, Z20
	VMOVUPS Z20, K1, (AX)(R9*1)
	VSUBPS Z14, Z6, Z20
	VMOVUPS Z20, K1, (AX)(R9*2)
	VSUBPS Z15, Z7, Z20
	VMOVUPS Z20, K1, (AX)(R10*1)

	ADDQ $128, SI
	ADDQ $128, R12
	ADDQ $128, R13
	ADDQ $128, R14
	ADDQ $64, DI
	SUBQ $16, DX
	JGT inloop
	VZEROUPPER
	RET

// WINOSTORE finishes one output row of 32 outputs from the vectors lo
// (first half: outputs 2t) and hi (outputs 2t+1) of 16 tiles: interleaves
// them, adds the residual at r unless r is 0, clamps to [Z29, Z30] and
// stores to y under the masks K1 and K2. Z24 and Z25 are clobbered.
#define WINOSTORE(lo, hi, y, r, skip) \
	VMOVAPS lo, Z24 \
	VPERMT2PS hi, Z26, Z24 \
	VPERMT2PS hi, Z27, lo \
	TESTQ r, r \
	JEQ skip \
	VMOVUPS.Z (r), K1, Z25 \
	VADDPS Z25, Z24, Z24 \
	VMOVUPS.Z 64(r), K2, Z25 \
	VADDPS Z25, lo, lo \
skip: \
	VMAXPS Z24, Z29, Z24 \
	VMINPS Z24, Z30, Z24 \
	VMAXPS lo, Z29, lo \
	VMINPS lo, Z30, lo \
	VMOVUPS Z24, K1, (y) \
	VMOVUPS lo, K2, 64(y)

// func winoOutputAVX512(a *winoOutArgs)
//
// The output transform of winoOutputGo, 16 tiles (32 outputs a row) at a
// time: M of the 16 positions in Z0-Z15, the row combinations s_j in
// Z16-Z19 and d_j in Z20-Z23, the outputs y00, y01, y10, y11 (+ bias) in
// Z0-Z3.
TEXT ·winoOutputAVX512(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), R8
	MOVQ 0(R8), SI
	MOVQ 8(R8), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	MOVQ R9, R11
	SHLQ $2, R11
	MOVQ 16(R8), DI
	MOVQ 24(R8), DX
	MOVQ 32(R8), R12
	MOVQ 40(R8), R13
	MOVQ 48(R8), R14
	VBROADCASTSS 56(R8), Z28
	VBROADCASTSS 60(R8), Z29
	VBROADCASTSS 64(R8), Z30
	VMOVUPS winolo<>(SB), Z26
	VMOVUPS winohi<>(SB), Z27

outloop:
	MOVQ R14, CX
	WINOMASK(K1)
	MOVQ R14, CX
	SUBQ $16, CX
	WINOMASK(K2)

	MOVQ SI, AX
	VMOVUPS (AX), Z0
	VMOVUPS (AX)(R9*1), Z1
	VMOVUPS (AX)(R9*2), Z2
	VMOVUPS (AX)(R10*1), Z3
	ADDQ R11, AX
	VMOVUPS (AX), Z4
	VMOVUPS (AX)(R9*1), Z5
	VMOVUPS (AX)(R9*2), Z6
	VMOVUPS (AX)(R10*1), Z7
	ADDQ R11, AX
	VMOVUPS (AX), Z8
	VMOVUPS (AX)(R9*1), Z9
	VMOVUPS (AX)(R9*2), Z10
	VMOVUPS (AX)(R10*1), Z11
	ADDQ R11, AX
	VMOVUPS (AX), Z12
	VMOVUPS (AX)(R9*1), Z13
	VMOVUPS (AX)(R9*2), Z14
	VMOVUPS (AX)(R10*1), Z15

	// s_j = m0j + m1j + m2j, d_j = m1j - m2j - m3j
	VADDPS Z4, Z0, Z16
	VADDPS Z8, Z16, Z16
	VADDPS Z5, Z1, Z17
	VADDPS Z9, Z17, Z17
	VADDPS Z6, Z2, Z18
	VADDPS Z10, Z18, Z18
	VADDPS Z7, Z3, Z19
	VADDPS Z11, Z19, Z19
	VSUBPS Z8, Z4, Z20
	VSUBPS Z12, Z20, Z20
	VSUBPS Z9, Z5, Z21
	VSUBPS Z13, Z21, Z21
	VSUBPS Z10, Z6, Z22
	VSUBPS Z14, Z22, Z22
	VSUBPS Z11, Z7, Z23
	VSUBPS Z15, Z23, Z23

	// y00 = s0 + s1 + s2, y01 = s1 - s2 - s3, likewise y10, y11 of d.
	VADDPS Z17, Z16, Z0
	VADDPS Z18, Z0, Z0
	VADDPS Z28, Z0, Z0
	VSUBPS Z18, Z17, Z1
	VSUBPS Z19, Z1, Z1
	VADDPS Z28, Z1, Z1
	VADDPS Z21, Z20, Z2
	VADDPS Z22, Z2, Z2
	VADDPS Z28, Z2, Z2
	VSUBPS Z22, Z21, Z3
	VSUBPS Z23, Z3, Z3
	VADDPS Z28, Z3, Z3

	WINOSTORE(Z0, Z1, DI, R12, res0)
	TESTQ DX, DX
	JEQ advance
	WINOSTORE(Z2, Z3, DX, R13, res1)
	ADDQ $128, DX
	TESTQ R13, R13
	JEQ advance
	ADDQ $128, R13

advance:
	ADDQ $64, SI
	ADDQ $128, DI
	TESTQ R12, R12
	JEQ 2(PC)
	ADDQ $128, R12
	SUBQ $32, R14
	JGT outloop
	VZEROUPPER
	RET
