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

// WINO4B sets Z10-Z15 to B^T x of F(4x4, 3x3) for the six vectors x0-x5
// (see wino4B: the same operations, each multiplication by a power of two
// and so exact), with 4 in Z28 and 2 in Z29. Z16-Z19 are clobbered.
#define WINO4B(x0, x1, x2, x3, x4, x5) \
	VMOVAPS x4, Z10 \
	VFMADD231PS x0, Z28, Z10 \
	VFNMADD231PS x2, Z28, Z10 \
	VSUBPS x2, Z10, Z10 \
	VMOVAPS x4, Z16 \
	VFNMADD231PS x2, Z28, Z16 \
	VMOVAPS x3, Z17 \
	VFNMADD231PS x1, Z28, Z17 \
	VADDPS Z17, Z16, Z11 \
	VSUBPS Z17, Z16, Z12 \
	VSUBPS x2, x4, Z18 \
	VSUBPS x1, x3, Z19 \
	VMOVAPS Z18, Z13 \
	VFMADD231PS Z19, Z29, Z13 \
	VMOVAPS Z18, Z14 \
	VFNMADD231PS Z19, Z29, Z14 \
	VMOVAPS x5, Z15 \
	VFMADD231PS x1, Z28, Z15 \
	VFNMADD231PS x3, Z28, Z15 \
	VSUBPS x3, Z15, Z15

// WINO4ROW transforms the padded input row at BX along its columns for 16
// tiles: the four phases of its 64 floats (x0-x3, tile t's floats 4t to
// 4t+3) and x4, x5 (floats 4t+4, 4t+5), then B^T of them stored under K1
// at AX, AX+R9, ... (six positions, AX advanced past them); BX moves to
// the next row.
#define WINO4ROW \
	VMOVUPS 0(BX), Z0 \
	VMOVUPS 64(BX), Z1 \
	VMOVUPS 128(BX), Z2 \
	VMOVUPS 192(BX), Z3 \
	VMOVAPS Z0, Z4 \
	VPERMT2PS Z1, Z30, Z4 \
	VPERMT2PS Z1, Z31, Z0 \
	VMOVAPS Z2, Z5 \
	VPERMT2PS Z3, Z30, Z5 \
	VPERMT2PS Z3, Z31, Z2 \
	VMOVAPS Z4, Z6 \
	VPERMT2PS Z5, Z30, Z6 \
	VPERMT2PS Z5, Z31, Z4 \
	VMOVAPS Z0, Z7 \
	VPERMT2PS Z2, Z30, Z7 \
	VPERMT2PS Z2, Z31, Z0 \
	VMOVUPS 256(BX), Z8 \
	VALIGND $1, Z6, Z8, Z8 \
	VMOVUPS 260(BX), Z9 \
	VALIGND $1, Z7, Z9, Z9 \
	WINO4B(Z6, Z7, Z4, Z0, Z8, Z9) \
	VMOVUPS Z10, K1, (AX) \
	ADDQ R9, AX \
	VMOVUPS Z11, K1, (AX) \
	ADDQ R9, AX \
	VMOVUPS Z12, K1, (AX) \
	ADDQ R9, AX \
	VMOVUPS Z13, K1, (AX) \
	ADDQ R9, AX \
	VMOVUPS Z14, K1, (AX) \
	ADDQ R9, AX \
	VMOVUPS Z15, K1, (AX) \
	ADDQ R9, AX \
	ADDQ R8, BX

// WINO4COL transforms column j of the row results (positions j, 6+j, ...,
// 30+j from R11, R10 bytes apart) and stores B^T of it in their place
// under K1; R11 moves to column j+1.
#define WINO4COL \
	MOVQ R11, AX \
	VMOVUPS (AX), Z0 \
	ADDQ R10, AX \
	VMOVUPS (AX), Z1 \
	ADDQ R10, AX \
	VMOVUPS (AX), Z2 \
	ADDQ R10, AX \
	VMOVUPS (AX), Z3 \
	ADDQ R10, AX \
	VMOVUPS (AX), Z4 \
	ADDQ R10, AX \
	VMOVUPS (AX), Z5 \
	WINO4B(Z0, Z1, Z2, Z3, Z4, Z5) \
	MOVQ R11, AX \
	VMOVUPS Z10, K1, (AX) \
	ADDQ R10, AX \
	VMOVUPS Z11, K1, (AX) \
	ADDQ R10, AX \
	VMOVUPS Z12, K1, (AX) \
	ADDQ R10, AX \
	VMOVUPS Z13, K1, (AX) \
	ADDQ R10, AX \
	VMOVUPS Z14, K1, (AX) \
	ADDQ R10, AX \
	VMOVUPS Z15, K1, (AX) \
	ADDQ R9, R11

// func wino4InputAVX512(v, rows *float32, ld, tw, xs int)
//
// The input transform of wino4InputGo, 16 tiles at a time: the six rows
// transformed along their columns into the tiles' 36 positions of v,
// then each column of those transformed in place. The positions of the
// tiles past tw are neither written nor, but for the loads of the
// column step, read.
TEXT ·wino4InputAVX512(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), DI
	MOVQ rows+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	MOVQ tw+24(FP), DX
	MOVQ xs+32(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	SHLQ $1, R10
	MOVL $0x40800000, AX
	VPBROADCASTD AX, Z28
	MOVL $0x40000000, AX
	VPBROADCASTD AX, Z29
	VMOVUPS winoeven<>(SB), Z30
	VMOVUPS winoodd<>(SB), Z31

in4loop:
	MOVQ DX, CX
	WINOMASK(K1)
	MOVQ SI, BX
	MOVQ DI, AX
	WINO4ROW
	WINO4ROW
	WINO4ROW
	WINO4ROW
	WINO4ROW
	WINO4ROW
	MOVQ DI, R11
	WINO4COL
	WINO4COL
	WINO4COL
	WINO4COL
	WINO4COL
	WINO4COL
	ADDQ $256, SI
	ADDQ $64, DI
	SUBQ $16, DX
	JGT in4loop
	VZEROUPPER
	RET

// WINO4A sets Z18-Z21 to A^T m of F(4x4, 3x3) for the six vectors m0-m5
// (see wino4A), with 2, 4 and 8 in Z27-Z29. Z12-Z15 are clobbered.
#define WINO4A(m0, m1, m2, m3, m4, m5) \
	VADDPS m2, m1, Z12 \
	VSUBPS m2, m1, Z13 \
	VADDPS m4, m3, Z14 \
	VSUBPS m4, m3, Z15 \
	VADDPS Z12, m0, Z18 \
	VADDPS Z14, Z18, Z18 \
	VMOVAPS Z13, Z19 \
	VFMADD231PS Z15, Z27, Z19 \
	VMOVAPS Z12, Z20 \
	VFMADD231PS Z14, Z28, Z20 \
	VMOVAPS Z13, Z21 \
	VFMADD231PS Z15, Z29, Z21 \
	VADDPS m5, Z21, Z21

// WINO4LOAD loads positions j, 6+j, ..., 30+j of M (from AX, R10 bytes
// apart) into Z12-Z17 and sets Z18-Z21 to p = m1+m2, q = m1-m2,
// r = m3+m4, s = m3-m4.
#define WINO4LOAD \
	VMOVUPS (AX), Z12 \
	ADDQ R10, AX \
	VMOVUPS (AX), Z13 \
	ADDQ R10, AX \
	VMOVUPS (AX), Z14 \
	ADDQ R10, AX \
	VMOVUPS (AX), Z15 \
	ADDQ R10, AX \
	VMOVUPS (AX), Z16 \
	ADDQ R10, AX \
	VMOVUPS (AX), Z17 \
	VADDPS Z14, Z13, Z18 \
	VSUBPS Z14, Z13, Z19 \
	VADDPS Z16, Z15, Z20 \
	VSUBPS Z16, Z15, Z21

// WINO4TOP sets za to (m0+p)+r and zb to q+2s of column j (rows 0 and 1
// of A^T M), from AX; WINO4BOT sets them to p+4r and (q+8s)+m5 (rows 2
// and 3).
#define WINO4TOP(za, zb) \
	WINO4LOAD \
	VADDPS Z18, Z12, za \
	VADDPS Z20, za, za \
	VMOVAPS Z19, zb \
	VFMADD231PS Z21, Z27, zb

#define WINO4BOT(za, zb) \
	WINO4LOAD \
	VMOVAPS Z18, za \
	VFMADD231PS Z20, Z28, za \
	VMOVAPS Z19, zb \
	VFMADD231PS Z21, Z29, zb \
	VADDPS Z17, zb, zb

// WINO4OUT finishes output row k of 16 tiles from row k of A^T M in
// z0-z5: A^T of it plus the bias (Z24), interleaved into 64 outputs,
// plus the residual row (at roff(R8), unless nil), clamped to [Z25, Z26]
// and stored to the output row (at yoff(R8); nothing is done when it is
// nil) under K1-K4, both from the block's offset R11.
#define WINO4OUT(z0, z1, z2, z3, z4, z5, yoff, roff, skip, nores) \
	MOVQ yoff(R8), DI \
	TESTQ DI, DI \
	JEQ skip \
	ADDQ R11, DI \
	WINO4A(z0, z1, z2, z3, z4, z5) \
	VADDPS Z24, Z18, Z18 \
	VADDPS Z24, Z19, Z19 \
	VADDPS Z24, Z20, Z20 \
	VADDPS Z24, Z21, Z21 \
	VMOVAPS Z18, Z12 \
	VPERMT2PS Z20, Z30, Z12 \
	VPERMT2PS Z20, Z31, Z18 \
	VMOVAPS Z19, Z13 \
	VPERMT2PS Z21, Z30, Z13 \
	VPERMT2PS Z21, Z31, Z19 \
	VMOVAPS Z12, Z14 \
	VPERMT2PS Z13, Z30, Z14 \
	VPERMT2PS Z13, Z31, Z12 \
	VMOVAPS Z18, Z15 \
	VPERMT2PS Z19, Z30, Z15 \
	VPERMT2PS Z19, Z31, Z18 \
	MOVQ roff(R8), BX \
	TESTQ BX, BX \
	JEQ nores \
	ADDQ R11, BX \
	VMOVUPS.Z (BX), K1, Z16 \
	VADDPS Z16, Z14, Z14 \
	VMOVUPS.Z 64(BX), K2, Z16 \
	VADDPS Z16, Z12, Z12 \
	VMOVUPS.Z 128(BX), K3, Z16 \
	VADDPS Z16, Z15, Z15 \
	VMOVUPS.Z 192(BX), K4, Z16 \
	VADDPS Z16, Z18, Z18 \
nores: \
	VMAXPS Z14, Z25, Z14 \
	VMINPS Z14, Z26, Z14 \
	VMAXPS Z12, Z25, Z12 \
	VMINPS Z12, Z26, Z12 \
	VMAXPS Z15, Z25, Z15 \
	VMINPS Z15, Z26, Z15 \
	VMAXPS Z18, Z25, Z18 \
	VMINPS Z18, Z26, Z18 \
	VMOVUPS Z14, K1, (DI) \
	VMOVUPS Z12, K2, 64(DI) \
	VMOVUPS Z15, K3, 128(DI) \
	VMOVUPS Z18, K4, 192(DI) \
skip:

// func wino4OutputAVX512(a *wino4OutArgs)
//
// The output transform of wino4OutputGo, 16 tiles (64 outputs a row) at
// a time: rows 0 and 1 of A^T M for the six columns in Z0-Z5 and Z6-Z11,
// their output rows, then rows 2 and 3 likewise (skipped when the unit
// has two output rows or fewer).
TEXT ·wino4OutputAVX512(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), R8
	MOVQ 0(R8), SI
	MOVQ 8(R8), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	SHLQ $1, R10
	MOVQ 80(R8), R14
	VBROADCASTSS 88(R8), Z24
	VBROADCASTSS 92(R8), Z25
	VBROADCASTSS 96(R8), Z26
	MOVL $0x40000000, AX
	VPBROADCASTD AX, Z27
	MOVL $0x40800000, AX
	VPBROADCASTD AX, Z28
	MOVL $0x41000000, AX
	VPBROADCASTD AX, Z29
	VMOVUPS winolo<>(SB), Z30
	VMOVUPS winohi<>(SB), Z31
	XORQ R11, R11

out4loop:
	MOVQ R14, CX
	WINOMASK(K1)
	MOVQ R14, CX
	SUBQ $16, CX
	WINOMASK(K2)
	MOVQ R14, CX
	SUBQ $32, CX
	WINOMASK(K3)
	MOVQ R14, CX
	SUBQ $48, CX
	WINOMASK(K4)

	MOVQ SI, AX
	WINO4TOP(Z0, Z6)
	LEAQ (SI)(R9*1), AX
	WINO4TOP(Z1, Z7)
	LEAQ (SI)(R9*2), AX
	WINO4TOP(Z2, Z8)
	LEAQ (R9)(R9*2), AX
	ADDQ SI, AX
	WINO4TOP(Z3, Z9)
	LEAQ (SI)(R9*4), AX
	WINO4TOP(Z4, Z10)
	LEAQ (R9)(R9*4), AX
	ADDQ SI, AX
	WINO4TOP(Z5, Z11)
	WINO4OUT(Z0, Z1, Z2, Z3, Z4, Z5, 16, 48, skip0, nores0)
	WINO4OUT(Z6, Z7, Z8, Z9, Z10, Z11, 24, 56, skip1, nores1)

	MOVQ 32(R8), AX
	TESTQ AX, AX
	JEQ next4
	MOVQ SI, AX
	WINO4BOT(Z0, Z6)
	LEAQ (SI)(R9*1), AX
	WINO4BOT(Z1, Z7)
	LEAQ (SI)(R9*2), AX
	WINO4BOT(Z2, Z8)
	LEAQ (R9)(R9*2), AX
	ADDQ SI, AX
	WINO4BOT(Z3, Z9)
	LEAQ (SI)(R9*4), AX
	WINO4BOT(Z4, Z10)
	LEAQ (R9)(R9*4), AX
	ADDQ SI, AX
	WINO4BOT(Z5, Z11)
	WINO4OUT(Z0, Z1, Z2, Z3, Z4, Z5, 32, 64, skip2, nores2)
	WINO4OUT(Z6, Z7, Z8, Z9, Z10, Z11, 40, 72, skip3, nores3)

next4:
	ADDQ $64, SI
	ADDQ $256, R11
	SUBQ $64, R14
	JGT out4loop
	VZEROUPPER
	RET
