//go:build amd64 && !purego

package ops

import "golang.org/x/sys/cpu"

// useDwAVX2 and useDwAVX512 say which vector kernels the depthwise and
// pooling paths (and the helpers of vec_amd64.go) may use.
var (
	useDwAVX2   = cpu.X86.HasAVX2
	useDwAVX512 = cpu.X86.HasAVX512F
)

// dwUsePadded says whether the 3x3 depthwise forward pass takes the padded
// path (convDepthwise3x3Padded, with the AVX2 dwRow9) rather than the
// masked one, which has AVX-512 kernels only; tests set it.
var dwUsePadded = useDwAVX2 && !useDwAVX512

// dwVector is the number of outputs that dwRow9 computes at once (one
// AVX2 vector): the padded path rounds its rows up to it.
const dwVector = 8

// dwRow9AVX2 computes n (a multiple of 8) elements of dwRow9 with AVX2,
// rounding exactly as dwRow9Go does; p points at nine row pointers and w
// at nine weights.
//
//go:noescape
func dwRow9AVX2(y *float32, p *[9]*float32, w *[9]float32, n int, b, lo, hi float32)

// dwRow9 sets y[i] = min(max(b + Σ_t w[t]*p[t][i], lo), hi) for every i
// in y; each p[t] has at least len(y) elements.
func dwRow9(y []float32, p *[9][]float32, w *[9]float32, b, lo, hi float32) {
	n := len(y)
	done := 0
	if useDwAVX2 && n >= 8 {
		var ptr [9]*float32
		for t := range ptr {
			ptr[t] = &p[t][:n][0]
		}
		done = n &^ 7
		dwRow9AVX2(&y[0], &ptr, w, done, b, lo, hi)
	}
	var tail [9][]float32
	for t := range tail {
		tail[t] = p[t][done:n]
	}
	dwRow9Go(y[done:], &tail, w, b, lo, hi)
}

// dwArgs is the arguments of dwPlane as the assembly reads them; keep the offsets in
// conv_dw_amd64.s in step.
type dwArgs struct {
	src       [9]*float32 // 0
	off       [9]int      // 72: byte offsets, possibly negative
	w         [9]float32  // 144
	b, lo, hi float32     // 180, 184, 188
	masks     *uint16     // 192
}

// dwKernelAVX512 computes dwPlane for n outputs, given as a.
//
//go:noescape
func dwKernelAVX512(y *float32, n int, a *dwArgs)

// dwMaxAVX512 computes dwMaxPlane for n outputs, given as a (a.b is the
// lowest value; a.w, a.lo and a.hi are not used).
//
//go:noescape
func dwMaxAVX512(y *float32, n int, a *dwArgs)

// dwSplit2AVX512 is dwSplit2 for rows >= 1 and ow >= 1.
//
//go:noescape
func dwSplit2AVX512(ph, x *float32, rows, iw, ow, psz int)

// dwPlane computes one call of the 3x3 depthwise path: y[i] =
// min(max(b + Σ_t w[t]*src[t][off[t]+i], lo), hi) for every i of y, tap t
// counting for output i when bit i%16 of masks[(i/16)*dwMaskEntry + t] is
// set (src[t] is only read then; the index may be negative otherwise).
func dwPlane(y []float32, src *[9][]float32, off *[9]int, w *[9]float32, b, lo, hi float32, masks []uint16) {
	if !useDwAVX512 || len(y) == 0 {
		dwPlaneGo(y, src, off, w, b, lo, hi, masks)
		return
	}
	a := dwArgs{w: *w, b: b, lo: lo, hi: hi}
	for t := range a.src {
		a.src[t] = &src[t][0]
		a.off[t] = 4 * off[t]
	}
	// The assembly reads the entry after the last whole vector.
	a.masks = &masks[:(len(y)/16+1)*dwMaskEntry][0]
	dwKernelAVX512(&y[0], len(y), &a)
}

// dwMaxPlane is dwPlane with a maximum: y[i] is the largest
// src[t][off[t]+i] over the taps whose mask bit is set for i (the lowest
// value when none is).
func dwMaxPlane(y []float32, src *[9][]float32, off *[9]int, masks []uint16) {
	if !useDwAVX512 || len(y) == 0 {
		dwMaxPlaneGo(y, src, off, masks)
		return
	}
	a := dwArgs{b: negInf}
	for t := range a.src {
		a.src[t] = &src[t][0]
		a.off[t] = 4 * off[t]
	}
	a.masks = &masks[:(len(y)/16+1)*dwMaskEntry][0]
	dwMaxAVX512(&y[0], len(y), &a)
}

// dwSplit2 splits the first rows rows of input plane x (rows of iw) into
// the four phase planes of the stride-2 path, each of psz elements with
// rows of ow, in ph: input element (r, c) goes to element (r>>1, c>>1) of
// phase 2*(r&1) + c&1, and columns past the input are zero.
func dwSplit2(ph, x []float32, rows, iw, ow, psz int) {
	if !useDwAVX512 || rows == 0 || ow == 0 {
		dwSplit2Go(ph, x, rows, iw, ow, psz)
		return
	}
	// Bounds the assembly relies on.
	_ = x[rows*iw-1]
	_ = ph[(2*((rows-1)&1)+1)*psz+(rows-1)>>1*ow+ow-1]
	dwSplit2AVX512(&ph[0], &x[0], rows, iw, ow, psz)
}
