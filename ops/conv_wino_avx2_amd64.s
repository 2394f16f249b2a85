//go:build amd64 && !purego

#include "textflag.h"

// The Winograd transforms with AVX2, eight tiles (one group) a call: the
// same operations as the Go transforms in the same order (every
// multiplication is by a power of two, so fused or not they round the
// same). Tiles are de-interleaved from input rows with VSHUFPS and a
// lane permutation, and interleaved into output rows with VUNPCK*PS,
// VUNPCK*PD and VPERM2F128.

// wino4perm<> puts the lanes of two VSHUFPS steps back in tile order;
// wino4next<> does the same shifted by one tile (lane 7 is filled in).
DATA wino4perm<>+0(SB)/4, $0
DATA wino4perm<>+4(SB)/4, $4
DATA wino4perm<>+8(SB)/4, $1
DATA wino4perm<>+12(SB)/4, $5
DATA wino4perm<>+16(SB)/4, $2
DATA wino4perm<>+20(SB)/4, $6
DATA wino4perm<>+24(SB)/4, $3
DATA wino4perm<>+28(SB)/4, $7
GLOBL wino4perm<>(SB), RODATA|NOPTR, $32

DATA wino4next<>+0(SB)/4, $4
DATA wino4next<>+4(SB)/4, $1
DATA wino4next<>+8(SB)/4, $5
DATA wino4next<>+12(SB)/4, $2
DATA wino4next<>+16(SB)/4, $6
DATA wino4next<>+20(SB)/4, $3
DATA wino4next<>+24(SB)/4, $7
DATA wino4next<>+28(SB)/4, $0
GLOBL wino4next<>(SB), RODATA|NOPTR, $32

// W4B sets Y6, Y7, Y9, Y8, Y11, Y10 to B^T x of F(4x4, 3x3) (o0-o5, see
// wino4B) for x0-x5 in Y0-Y5, with 2 in Y14 and 4 in Y15.
#define W4B \
	VMOVAPS Y4, Y6 \
	VFMADD231PS Y0, Y15, Y6 \
	VFNMADD231PS Y2, Y15, Y6 \
	VSUBPS Y2, Y6, Y6 \
	VMOVAPS Y4, Y7 \
	VFNMADD231PS Y2, Y15, Y7 \
	VMOVAPS Y3, Y8 \
	VFNMADD231PS Y1, Y15, Y8 \
	VSUBPS Y8, Y7, Y9 \
	VADDPS Y8, Y7, Y7 \
	VSUBPS Y2, Y4, Y8 \
	VSUBPS Y1, Y3, Y10 \
	VMOVAPS Y8, Y11 \
	VFNMADD231PS Y10, Y14, Y11 \
	VFMADD231PS Y10, Y14, Y8 \
	VMOVAPS Y5, Y10 \
	VFMADD231PS Y1, Y15, Y10 \
	VFNMADD231PS Y3, Y15, Y10 \
	VSUBPS Y3, Y10, Y10

// W4SPLIT loads the eight tiles of the input row at SI (tile t's floats
// 4t to 4t+3, and float 32) and de-interleaves them: Y0, Y2, Y3 hold the
// tiles' floats 4t, 4t+2, 4t+3 in tile order, Y4 their floats 4t+4 (the
// next tile's first), and Y1 their floats 4t+1 in the lane order that
// wino4perm<> (Y13) and wino4next<> (Y12) undo.
#define W4SPLIT \
	VMOVUPS 0(SI), Y0 \
	VMOVUPS 32(SI), Y1 \
	VMOVUPS 64(SI), Y2 \
	VMOVUPS 96(SI), Y3 \
	VSHUFPS $0x88, Y1, Y0, Y4 \
	VSHUFPS $0xDD, Y1, Y0, Y5 \
	VSHUFPS $0x88, Y3, Y2, Y6 \
	VSHUFPS $0xDD, Y3, Y2, Y7 \
	VSHUFPS $0x88, Y6, Y4, Y0 \
	VSHUFPS $0xDD, Y6, Y4, Y2 \
	VSHUFPS $0x88, Y7, Y5, Y1 \
	VSHUFPS $0xDD, Y7, Y5, Y3 \
	VPERMPS Y0, Y12, Y4 \
	VPERMPS Y0, Y13, Y0 \
	VPERMPS Y2, Y13, Y2 \
	VPERMPS Y3, Y13, Y3 \
	VBROADCASTSS 128(SI), Y6 \
	VBLENDPS $0x80, Y6, Y4, Y4

// W4ROW transforms the input row at SI along its columns for the eight
// tiles (tile t's floats 4t to 4t+5) and stores B^T of them at BX, 32
// bytes apart; SI moves to the next row (R8 bytes on) and BX past them.
#define W4ROW \
	W4SPLIT \
	VPERMPS Y1, Y12, Y5 \
	VPERMPS Y1, Y13, Y1 \
	VBROADCASTSS 132(SI), Y6 \
	VBLENDPS $0x80, Y6, Y5, Y5 \
	W4B \
	VMOVUPS Y6, 0(BX) \
	VMOVUPS Y7, 32(BX) \
	VMOVUPS Y9, 64(BX) \
	VMOVUPS Y8, 96(BX) \
	VMOVUPS Y11, 128(BX) \
	VMOVUPS Y10, 160(BX) \
	ADDQ R8, SI \
	ADDQ $192, BX

// W4COL loads column j of the row results (at BX, 192 bytes apart) and
// transforms it; BX moves to column j+1.
#define W4COL \
	VMOVUPS 0(BX), Y0 \
	VMOVUPS 192(BX), Y1 \
	VMOVUPS 384(BX), Y2 \
	VMOVUPS 576(BX), Y3 \
	VMOVUPS 768(BX), Y4 \
	VMOVUPS 960(BX), Y5 \
	W4B \
	ADDQ $32, BX

// W4STORE stores o0-o5 to positions j, 6+j, ... of v (from AX, R10
// bytes apart); AX moves to column j+1 (R9 bytes on). W4STOREM does it
// under the mask Y12.
#define W4STORE \
	MOVQ AX, DX \
	VMOVUPS Y6, (DX) \
	ADDQ R10, DX \
	VMOVUPS Y7, (DX) \
	ADDQ R10, DX \
	VMOVUPS Y9, (DX) \
	ADDQ R10, DX \
	VMOVUPS Y8, (DX) \
	ADDQ R10, DX \
	VMOVUPS Y11, (DX) \
	ADDQ R10, DX \
	VMOVUPS Y10, (DX) \
	ADDQ R9, AX

#define W4STOREM \
	MOVQ AX, DX \
	VMASKMOVPS Y6, Y12, (DX) \
	ADDQ R10, DX \
	VMASKMOVPS Y7, Y12, (DX) \
	ADDQ R10, DX \
	VMASKMOVPS Y9, Y12, (DX) \
	ADDQ R10, DX \
	VMASKMOVPS Y8, Y12, (DX) \
	ADDQ R10, DX \
	VMASKMOVPS Y11, Y12, (DX) \
	ADDQ R10, DX \
	VMASKMOVPS Y10, Y12, (DX) \
	ADDQ R9, AX

// func wino4InputAVX2(v, rows *float32, ld, xs int, s *[288]float32, mask *[8]int32)
//
// The input transform of wino4InputGo for the eight tiles from rows and
// v: the six rows along their columns into s, then the columns of s
// into v (the lanes of mask only, unless it is nil).
TEXT ·wino4InputAVX2(SB), NOSPLIT, $0-48
	MOVQ v+0(FP), AX
	MOVQ rows+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	MOVQ xs+24(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	SHLQ $1, R10
	MOVQ s+32(FP), BX
	MOVQ BX, R11
	MOVL $0x40000000, CX
	VMOVQ CX, X14
	VBROADCASTSS X14, Y14
	MOVL $0x40800000, CX
	VMOVQ CX, X15
	VBROADCASTSS X15, Y15
	VMOVUPS wino4next<>(SB), Y12
	VMOVUPS wino4perm<>(SB), Y13
	W4ROW
	W4ROW
	W4ROW
	W4ROW
	W4ROW
	W4ROW
	MOVQ R11, BX
	MOVQ mask+40(FP), CX
	TESTQ CX, CX
	JNE masked
	W4COL
	W4STORE
	W4COL
	W4STORE
	W4COL
	W4STORE
	W4COL
	W4STORE
	W4COL
	W4STORE
	W4COL
	W4STORE
	VZEROUPPER
	RET

masked:
	VMOVUPS (CX), Y12
	W4COL
	W4STOREM
	W4COL
	W4STOREM
	W4COL
	W4STOREM
	W4COL
	W4STOREM
	W4COL
	W4STOREM
	W4COL
	W4STOREM
	VZEROUPPER
	RET

// W4A stage one: the column step of wino4OutputGo for column j of M
// (positions j, 6+j, ... from AX, R10 bytes apart): rows 0-3 of A^T of it
// stored at BX, 192 bytes apart; AX moves R9 bytes on, BX 32 bytes.
#define W4ACOL \
	MOVQ AX, DX \
	VMOVUPS (DX), Y0 \
	ADDQ R10, DX \
	VMOVUPS (DX), Y1 \
	ADDQ R10, DX \
	VMOVUPS (DX), Y2 \
	ADDQ R10, DX \
	VMOVUPS (DX), Y3 \
	ADDQ R10, DX \
	VMOVUPS (DX), Y4 \
	ADDQ R10, DX \
	VMOVUPS (DX), Y5 \
	W4A \
	VMOVUPS Y0, 0(BX) \
	VMOVUPS Y1, 192(BX) \
	VMOVUPS Y2, 384(BX) \
	VMOVUPS Y3, 576(BX) \
	ADDQ R9, AX \
	ADDQ $32, BX

// W4A sets Y0-Y3 to A^T m of F(4x4, 3x3) (see wino4A) for m0-m5 in
// Y0-Y5, with 2, 4 and 8 in Y13-Y15; Y6-Y9 are clobbered.
#define W4A \
	VADDPS Y2, Y1, Y6 \
	VSUBPS Y2, Y1, Y7 \
	VADDPS Y4, Y3, Y8 \
	VSUBPS Y4, Y3, Y9 \
	VADDPS Y6, Y0, Y0 \
	VADDPS Y8, Y0, Y0 \
	VMOVAPS Y7, Y1 \
	VFMADD231PS Y9, Y13, Y1 \
	VMOVAPS Y6, Y2 \
	VFMADD231PS Y8, Y14, Y2 \
	VMOVAPS Y7, Y3 \
	VFMADD231PS Y9, Y15, Y3 \
	VADDPS Y5, Y3, Y3

// OUTCHUNK adds the residual (at off(BX) under the mask at off(CX) when
// CX is not 0; BX 0: none) to the eight outputs in y, clamps them to
// [lo, hi] and stores them at off(DI) (under the mask when CX is not 0);
// t and m are clobbered.
#define OUTCHUNK(y, off, lo, hi, t, m) \
	TESTQ CX, CX \
	JNE 9(PC) \
	TESTQ BX, BX \
	JEQ 3(PC) \
	VMOVUPS off(BX), t \
	VADDPS t, y, y \
	VMAXPS y, lo, y \
	VMINPS y, hi, y \
	VMOVUPS y, off(DI) \
	JMP 9(PC) \
	VMOVUPS off(CX), m \
	TESTQ BX, BX \
	JEQ 3(PC) \
	VMASKMOVPS off(BX), m, t \
	VADDPS t, y, y \
	VMAXPS y, lo, y \
	VMINPS y, hi, y \
	VMASKMOVPS y, m, off(DI)

// W4OUT finishes output row k of the eight tiles (yoff and roff the
// offsets of its output and residual pointers in the arguments at R8;
// nothing is done when the output is nil): A^T of row k of A^T M (from
// BX), plus the bias (Y12), interleaved into 32 outputs.
#define W4OUT(yoff, roff, zoff, done) \
	MOVQ yoff(R8), DI \
	TESTQ DI, DI \
	JEQ done \
	MOVQ roff(R8), BX \
	VMOVUPS zoff(R11), Y0 \
	VMOVUPS zoff+32(R11), Y1 \
	VMOVUPS zoff+64(R11), Y2 \
	VMOVUPS zoff+96(R11), Y3 \
	VMOVUPS zoff+128(R11), Y4 \
	VMOVUPS zoff+160(R11), Y5 \
	W4A \
	VADDPS Y12, Y0, Y0 \
	VADDPS Y12, Y1, Y1 \
	VADDPS Y12, Y2, Y2 \
	VADDPS Y12, Y3, Y3 \
	VUNPCKLPS Y1, Y0, Y4 \
	VUNPCKHPS Y1, Y0, Y5 \
	VUNPCKLPS Y3, Y2, Y6 \
	VUNPCKHPS Y3, Y2, Y7 \
	VUNPCKLPD Y6, Y4, Y0 \
	VUNPCKHPD Y6, Y4, Y1 \
	VUNPCKLPD Y7, Y5, Y2 \
	VUNPCKHPD Y7, Y5, Y3 \
	VPERM2F128 $0x20, Y1, Y0, Y4 \
	VPERM2F128 $0x20, Y3, Y2, Y5 \
	VPERM2F128 $0x31, Y1, Y0, Y6 \
	VPERM2F128 $0x31, Y3, Y2, Y7 \
	OUTCHUNK(Y4, 0, Y10, Y11, Y0, Y1) \
	OUTCHUNK(Y5, 32, Y10, Y11, Y0, Y1) \
	OUTCHUNK(Y6, 64, Y10, Y11, Y0, Y1) \
	OUTCHUNK(Y7, 96, Y10, Y11, Y0, Y1)

// func wino4OutputAVX2(a *wino4OutArgs)
//
// The output transform of wino4OutputGo for the eight tiles of a: the
// columns of M into rows of A^T M in a.s, then each output row (those up
// to the first nil one). a.mask, unless nil, selects the outputs of the
// 32 that exist.
TEXT ·wino4OutputAVX2(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), R8
	MOVQ 0(R8), AX
	MOVQ 8(R8), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	SHLQ $1, R10
	MOVQ 112(R8), BX
	MOVQ BX, R11
	MOVL $0x40000000, CX
	VMOVQ CX, X13
	VBROADCASTSS X13, Y13
	MOVL $0x40800000, CX
	VMOVQ CX, X14
	VBROADCASTSS X14, Y14
	MOVL $0x41000000, CX
	VMOVQ CX, X15
	VBROADCASTSS X15, Y15
	W4ACOL
	W4ACOL
	W4ACOL
	W4ACOL
	W4ACOL
	W4ACOL
	VBROADCASTSS 88(R8), Y12
	VBROADCASTSS 92(R8), Y10
	VBROADCASTSS 96(R8), Y11
	MOVQ 104(R8), CX
	W4OUT(16, 48, 0, done)
	W4OUT(24, 56, 192, done)
	W4OUT(32, 64, 384, done)
	W4OUT(40, 72, 576, done)
done:
	VZEROUPPER
	RET

// W2ROW sets the column combinations of the input row at SI for the
// eight tiles (tile t's floats 2t to 2t+3: evens E0, odds O0, and both
// from two floats on, E1 and O1) and stores c0 = E0-E1, c1 = O0+E1,
// c2 = E1-O0, c3 = O0-O1 at BX, 32 bytes apart; SI moves R8 bytes on,
// BX past them.
#define W2ROW \
	VMOVUPS 0(SI), Y0 \
	VMOVUPS 32(SI), Y1 \
	VMOVUPS 8(SI), Y2 \
	VMOVUPS 40(SI), Y3 \
	VSHUFPS $0x88, Y1, Y0, Y4 \
	VSHUFPS $0xDD, Y1, Y0, Y5 \
	VSHUFPS $0x88, Y3, Y2, Y6 \
	VSHUFPS $0xDD, Y3, Y2, Y7 \
	VPERMPD $0xD8, Y4, Y4 \
	VPERMPD $0xD8, Y5, Y5 \
	VPERMPD $0xD8, Y6, Y6 \
	VPERMPD $0xD8, Y7, Y7 \
	VSUBPS Y6, Y4, Y0 \
	VADDPS Y6, Y5, Y1 \
	VSUBPS Y5, Y6, Y2 \
	VSUBPS Y7, Y5, Y3 \
	VMOVUPS Y0, 0(BX) \
	VMOVUPS Y1, 32(BX) \
	VMOVUPS Y2, 64(BX) \
	VMOVUPS Y3, 96(BX) \
	ADDQ R8, SI \
	ADDQ $128, BX

// W2COL sets Y4-Y7 to the row combinations of column j of the row
// results (at BX, 128 bytes apart); BX moves to column j+1.
#define W2COL \
	VMOVUPS 0(BX), Y0 \
	VMOVUPS 128(BX), Y1 \
	VMOVUPS 256(BX), Y2 \
	VMOVUPS 384(BX), Y3 \
	VSUBPS Y2, Y0, Y4 \
	VADDPS Y2, Y1, Y5 \
	VSUBPS Y1, Y2, Y6 \
	VSUBPS Y3, Y1, Y7 \
	ADDQ $32, BX

// W2STORE stores Y4-Y7 to positions j, 4+j, 8+j and 12+j of v (from AX,
// R10 bytes apart); AX moves R9 bytes on. W2STOREM does it under the mask
// Y12.
#define W2STORE \
	MOVQ AX, DX \
	VMOVUPS Y4, (DX) \
	ADDQ R10, DX \
	VMOVUPS Y5, (DX) \
	ADDQ R10, DX \
	VMOVUPS Y6, (DX) \
	ADDQ R10, DX \
	VMOVUPS Y7, (DX) \
	ADDQ R9, AX

#define W2STOREM \
	MOVQ AX, DX \
	VMASKMOVPS Y4, Y12, (DX) \
	ADDQ R10, DX \
	VMASKMOVPS Y5, Y12, (DX) \
	ADDQ R10, DX \
	VMASKMOVPS Y6, Y12, (DX) \
	ADDQ R10, DX \
	VMASKMOVPS Y7, Y12, (DX) \
	ADDQ R9, AX

// func winoInputAVX2(v, rows *float32, ld, xs int, s *[288]float32, mask *[8]int32)
//
// The input transform of winoInputGo for the eight tiles from rows and
// v: the column combinations of the four rows into s, then the row
// combinations into v (the lanes of mask only, unless it is nil).
TEXT ·winoInputAVX2(SB), NOSPLIT, $0-48
	MOVQ v+0(FP), AX
	MOVQ rows+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	MOVQ xs+24(FP), R9
	SHLQ $2, R9
	MOVQ R9, R10
	SHLQ $2, R10
	MOVQ s+32(FP), BX
	MOVQ BX, R11
	W2ROW
	W2ROW
	W2ROW
	W2ROW
	MOVQ R11, BX
	MOVQ mask+40(FP), CX
	TESTQ CX, CX
	JNE masked
	W2COL
	W2STORE
	W2COL
	W2STORE
	W2COL
	W2STORE
	W2COL
	W2STORE
	VZEROUPPER
	RET

masked:
	VMOVUPS (CX), Y12
	W2COL
	W2STOREM
	W2COL
	W2STOREM
	W2COL
	W2STOREM
	W2COL
	W2STOREM
	VZEROUPPER
	RET

// W2OUT finishes an output row from the sums a, b, c, d of its four
// columns (s0-s3 or d0-d3 of winoOutputGo): a+b+c and b-c-d, plus the
// bias (Y12), interleaved into 16 outputs, plus the residual at BX
// (unless 0), clamped, stored at DI (under the masks at CX unless 0).
#define W2OUT(a, b, c, d) \
	VADDPS b, a, Y8 \
	VADDPS c, Y8, Y8 \
	VADDPS Y12, Y8, Y8 \
	VSUBPS c, b, Y9 \
	VSUBPS d, Y9, Y9 \
	VADDPS Y12, Y9, Y9 \
	VUNPCKLPS Y9, Y8, Y10 \
	VUNPCKHPS Y9, Y8, Y11 \
	VPERM2F128 $0x20, Y11, Y10, Y8 \
	VPERM2F128 $0x31, Y11, Y10, Y9 \
	OUTCHUNK(Y8, 0, Y13, Y14, Y10, Y15) \
	OUTCHUNK(Y9, 32, Y13, Y14, Y10, Y15)

// W2SUM loads column j of M (positions j, 4+j, 8+j, 12+j from AX, R10
// bytes apart) and sets s to m0+m1+m2 and d to m1-m2-m3; AX moves R9
// bytes on.
#define W2SUM(s, d) \
	MOVQ AX, DX \
	VMOVUPS (DX), Y8 \
	ADDQ R10, DX \
	VMOVUPS (DX), Y9 \
	ADDQ R10, DX \
	VMOVUPS (DX), Y10 \
	ADDQ R10, DX \
	VMOVUPS (DX), Y11 \
	VADDPS Y9, Y8, s \
	VADDPS Y10, s, s \
	VSUBPS Y10, Y9, d \
	VSUBPS Y11, d, d \
	ADDQ R9, AX

// func winoOutputAVX2(a *winoOutArgs)
//
// The output transform of winoOutputGo for the eight tiles of a (16
// outputs a row); a.mask, unless nil, selects the outputs that exist.
TEXT ·winoOutputAVX2(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), R8
	MOVQ 0(R8), AX
	MOVQ 8(R8), R9
	SHLQ $2, R9
	MOVQ R9, R10
	SHLQ $2, R10
	W2SUM(Y0, Y4)
	W2SUM(Y1, Y5)
	W2SUM(Y2, Y6)
	W2SUM(Y3, Y7)
	VBROADCASTSS 56(R8), Y12
	VBROADCASTSS 60(R8), Y13
	VBROADCASTSS 64(R8), Y14
	MOVQ 72(R8), CX
	MOVQ 16(R8), DI
	MOVQ 32(R8), BX
	W2OUT(Y0, Y1, Y2, Y3)
	MOVQ 24(R8), DI
	TESTQ DI, DI
	JEQ done
	MOVQ 40(R8), BX
	W2OUT(Y4, Y5, Y6, Y7)
done:
	VZEROUPPER
	RET

// S2ROW transforms the input row at SI along its columns for the eight
// tiles of the stride-2 path (tile t's floats 4t to 4t+4, x0-x4, from
// W4SPLIT) and stores the column combinations x0-x2, x2, x4-x2, x1, x3
// (see winoS2InputGo) at BX, 32 bytes apart; SI moves to the next row (R8
// bytes on) and BX past them.
#define S2ROW \
	W4SPLIT \
	VPERMPS Y1, Y13, Y1 \
	VSUBPS Y2, Y0, Y0 \
	VSUBPS Y2, Y4, Y4 \
	VMOVUPS Y0, 0(BX) \
	VMOVUPS Y2, 32(BX) \
	VMOVUPS Y4, 64(BX) \
	VMOVUPS Y1, 96(BX) \
	VMOVUPS Y3, 128(BX) \
	ADDQ R8, SI \
	ADDQ $160, BX

// S2COL loads column j of the row results (at BX, 160 bytes apart) and
// stores its row combinations r0-r2, r2, r4-r2, r1, r3 to positions j,
// 5+j, ... of v (from AX, R10 bytes apart); AX moves to column j+1 (R9
// bytes on), BX 32 bytes.
#define S2COL \
	VMOVUPS 0(BX), Y0 \
	VMOVUPS 160(BX), Y1 \
	VMOVUPS 320(BX), Y2 \
	VMOVUPS 480(BX), Y3 \
	VMOVUPS 640(BX), Y4 \
	VSUBPS Y2, Y0, Y0 \
	VSUBPS Y2, Y4, Y4 \
	MOVQ AX, DX \
	VMOVUPS Y0, (DX) \
	ADDQ R10, DX \
	VMOVUPS Y2, (DX) \
	ADDQ R10, DX \
	VMOVUPS Y4, (DX) \
	ADDQ R10, DX \
	VMOVUPS Y1, (DX) \
	ADDQ R10, DX \
	VMOVUPS Y3, (DX) \
	ADDQ R9, AX \
	ADDQ $32, BX

// func winoS2InputAVX2(v, rows *float32, ld, xs int, s *[288]float32)
//
// The input transform of winoS2InputGo for the eight tiles from rows and
// v: the column combinations of the five rows into s, then the row
// combinations into v.
TEXT ·winoS2InputAVX2(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), AX
	MOVQ rows+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	MOVQ xs+24(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*4), R10
	MOVQ s+32(FP), BX
	MOVQ BX, R11
	VMOVUPS wino4next<>(SB), Y12
	VMOVUPS wino4perm<>(SB), Y13
	S2ROW
	S2ROW
	S2ROW
	S2ROW
	S2ROW
	MOVQ R11, BX
	S2COL
	S2COL
	S2COL
	S2COL
	S2COL
	VZEROUPPER
	RET

// S2SUM loads column j of M (positions j, 5+j, ..., 20+j from AX, R10
// bytes apart) and sets s to m0+m1+m3 and d to m1+m2+m4; AX moves R9
// bytes on.
#define S2SUM(s, d) \
	MOVQ AX, DX \
	VMOVUPS (DX), Y10 \
	ADDQ R10, DX \
	VMOVUPS (DX), Y11 \
	ADDQ R10, DX \
	VMOVUPS (DX), Y12 \
	ADDQ R10, DX \
	VMOVUPS (DX), Y13 \
	ADDQ R10, DX \
	VMOVUPS (DX), Y14 \
	VADDPS Y11, Y10, s \
	VADDPS Y13, s, s \
	VADDPS Y12, Y11, d \
	VADDPS Y14, d, d \
	ADDQ R9, AX

// S2OUT finishes an output row from the sums a0-a4 of its five columns
// (s0-s4 or d0-d4 of winoS2OutputGo): a0+a1+a3 and a1+a2+a4, plus the
// bias (Y12), interleaved into 16 outputs, plus the residual at BX
// (unless 0), clamped to [Y13, Y14], stored at DI (under the masks at CX
// unless 0); Y0, Y10, Y11 and Y15 are clobbered.
#define S2OUT(a0, a1, a2, a3, a4) \
	VADDPS a1, a0, Y10 \
	VADDPS a3, Y10, Y10 \
	VADDPS Y12, Y10, Y10 \
	VADDPS a2, a1, Y11 \
	VADDPS a4, Y11, Y11 \
	VADDPS Y12, Y11, Y11 \
	VUNPCKLPS Y11, Y10, Y15 \
	VUNPCKHPS Y11, Y10, Y11 \
	VPERM2F128 $0x20, Y11, Y15, Y10 \
	VPERM2F128 $0x31, Y11, Y15, Y11 \
	OUTCHUNK(Y10, 0, Y13, Y14, Y15, Y0) \
	OUTCHUNK(Y11, 32, Y13, Y14, Y15, Y0)

// func winoS2OutputAVX2(a *winoOutArgs)
//
// The output transform of winoS2OutputGo for the eight tiles of a (16
// outputs a row); a.mask, unless nil, selects the outputs that exist.
TEXT ·winoS2OutputAVX2(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), R8
	MOVQ 0(R8), AX
	MOVQ 8(R8), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*4), R10
	S2SUM(Y0, Y5)
	S2SUM(Y1, Y6)
	S2SUM(Y2, Y7)
	S2SUM(Y3, Y8)
	S2SUM(Y4, Y9)
	VBROADCASTSS 56(R8), Y12
	VBROADCASTSS 60(R8), Y13
	VBROADCASTSS 64(R8), Y14
	MOVQ 72(R8), CX
	MOVQ 16(R8), DI
	MOVQ 32(R8), BX
	S2OUT(Y0, Y1, Y2, Y3, Y4)
	MOVQ 24(R8), DI
	TESTQ DI, DI
	JEQ s2done
	MOVQ 40(R8), BX
	S2OUT(Y5, Y6, Y7, Y8, Y9)
s2done:
	VZEROUPPER
	RET
