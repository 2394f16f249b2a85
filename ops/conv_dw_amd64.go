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

// dwArgs is the arguments of the masked kernels as the assembly reads
// them; keep the offsets in conv_dw_amd64.s in step.
type dwArgs struct {
	src     [9]*float32 // 0: each tap's source
	off     [9]int      // 72: byte offsets from src, possibly negative
	y       *float32    // 144
	w       *float32    // 152: nine weights
	b       *float32    // 160: bias (dwKernelAVX512), lowest value (dwMaxAVX512)
	n       int         // 168: outputs a plane
	planes  int         // 176: planes, at least 1
	inStep  int         // 184: bytes from one plane's sources to the next's
	outStep int         // 192: bytes from one plane's y to the next's
	wStep   int         // 200: bytes from one plane's weights to the next's
	bStep   int         // 208: bytes from one plane's bias to the next's
	lo, hi  float32     // 216, 220
	masks   *uint16     // 224
}

// dwKernelAVX512 computes dwPlane for a.planes planes given as a, which it
// changes.
//
//go:noescape
func dwKernelAVX512(a *dwArgs)

// dwMaxAVX512 computes dwMaxPlane for a.planes planes given as a, which it
// changes.
//
//go:noescape
func dwMaxAVX512(a *dwArgs)

// dwPlane computes one call of the 3x3 depthwise path: y[i] =
// min(max(b + Σ_t w[t]*src[t][off[t]+i], lo), hi) for every i of y, tap t
// counting for output i when bit i%16 of masks[(i/16)*dwMaskEntry + t] is
// set (src[t] is only read then; the index may be negative otherwise).
func dwPlane(y []float32, src *[9][]float32, off *[9]int, w *[9]float32, b, lo, hi float32, masks []uint16) {
	if !useDwAVX512 || len(y) == 0 {
		dwPlaneGo(y, src, off, w, b, lo, hi, masks)
		return
	}
	a := dwArgs{y: &y[0], w: &w[0], b: &b, n: len(y), planes: 1, lo: lo, hi: hi}
	for t := range a.src {
		a.src[t] = &src[t][0]
		a.off[t] = 4 * off[t]
	}
	// The assembly reads the entry after the last whole vector.
	a.masks = &masks[:(len(y)/16+1)*dwMaskEntry][0]
	dwKernelAVX512(&a)
}

// dwPlanes computes output planes [lo, hi) of a plane-mode layout l
// without a residual in one call: tap t of plane lo+k reads src[t] moved
// by k*inStep elements, with weights w[9*(lo+k):] and bias bias[lo+k]
// (none for nil), clamped to [cl, ch]. It reports false, doing nothing,
// where only dwPlane runs.
func dwPlanes(l *dwLayout, src *[9][]float32, inStep int, w, bias, y []float32, lo, hi int, cl, ch float32) bool {
	if !useDwAVX512 || hi <= lo || l.oh*l.ow == 0 {
		return false
	}
	p := l.oh * l.ow
	ys := y[lo*p : hi*p]
	ws := w[lo*9 : hi*9]
	var zero float32
	a := dwArgs{y: &ys[0], w: &ws[0], b: &zero, n: p, planes: hi - lo,
		inStep: 4 * inStep, outStep: 4 * p, wStep: 36, lo: cl, hi: ch}
	if bias != nil {
		a.b, a.bStep = &bias[lo:hi][0], 4
	}
	for t := range a.src {
		a.src[t] = &src[t][0]
		a.off[t] = 4 * l.off[t]
	}
	a.masks = &l.masks[:(p/16+1)*dwMaskEntry][0]
	dwKernelAVX512(&a)
	return true
}

// dwMaxPlane is dwPlane with a maximum: y[i] is the largest
// src[t][off[t]+i] over the taps whose mask bit is set for i (the lowest
// value when none is).
func dwMaxPlane(y []float32, src *[9][]float32, off *[9]int, masks []uint16) {
	if !useDwAVX512 || len(y) == 0 {
		dwMaxPlaneGo(y, src, off, masks)
		return
	}
	lowest := negInf
	a := dwArgs{y: &y[0], b: &lowest, n: len(y), planes: 1}
	for t := range a.src {
		a.src[t] = &src[t][0]
		a.off[t] = 4 * off[t]
	}
	a.masks = &masks[:(len(y)/16+1)*dwMaskEntry][0]
	dwMaxAVX512(&a)
}

// dwSplit2AVX512 is dwSplit2 for rows >= 1 and ow >= 1.
//
//go:noescape
func dwSplit2AVX512(ph, x *float32, rows, iw, ow, psz int)

// dwSpread2AVX512 is dwSpread2 for oh, ow >= 1.
//
//go:noescape
func dwSpread2AVX512(z, dy *float32, oh, ow, iw, pt, pl int)

// dwSpread2 spreads the output gradient dy (oh x ow) over z (zero, rows of
// iw) for the stride-2 input gradient: z[(2*oy+1-pt)*iw + 2*ox+1-pl] =
// dy[oy*ow+ox] (see dwBackwardGeom).
func dwSpread2(z, dy []float32, oh, ow, iw, pt, pl int) {
	if !useDwAVX512 || oh == 0 || ow == 0 {
		dwSpread2Go(z, dy, oh, ow, iw, pt, pl)
		return
	}
	// Bounds the assembly relies on: the rows it writes, the values.
	_ = z[(2*(oh-1)+2-pt)*iw-1]
	_ = dy[oh*ow-1]
	dwSpread2AVX512(&z[0], &dy[0], oh, ow, iw, pt, pl)
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

// maxPool3s2AVX512 computes one plane of maxPool3s2.
//
//go:noescape
func maxPool3s2AVX512(y, x, v *float32, ih, iw, oh, ow, pt, pl int)

// maxPool3s2 computes plane y of a 3x3 stride-2 max pooling of plane x for
// g (see maxPool3s2OK) with the row buffer v (maxPool3s2Len(g) floats, all
// -Inf before the first call, kept so between calls); it reports false,
// doing nothing, where it has no vector kernel.
func maxPool3s2(g *winGeom, x, y, v []float32) bool {
	if !useDwAVX512 {
		return false
	}
	ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
	_ = x[ih*iw-1]
	_ = y[oh*ow-1]
	_ = v[maxPool3s2Len(g)-1]
	maxPool3s2AVX512(&y[0], &x[0], &v[0], ih, iw, oh, ow, g.pb[1], g.pb[2])
	return true
}

// dw2Args is the arguments of dwConv3s2AVX512 as the assembly reads them;
// keep the offsets in conv_dw_amd64.s in step.
type dw2Args struct {
	x, y, w, b     *float32 // 0, 8, 16, 24
	planes         int      // 32
	inStep         int      // 40: bytes between input planes
	outStep        int      // 48: bytes between output planes
	bStep          int      // 56: bytes between biases (4 or 0)
	ih, iw, oh, ow int      // 64, 72, 80, 88
	pt, pl         int      // 96, 104
	lo, hi         float32  // 112, 116
	buf            *float32 // 120
	rowLen         int      // 128
}

// dwConv3s2AVX512 computes a.planes planes of a 3x3 stride-2 depthwise
// convolution; it changes a.
//
//go:noescape
func dwConv3s2AVX512(a *dw2Args)

// dwConv3s2 computes output planes [lo, hi) of a 3x3 stride-2 depthwise
// convolution g (see dwConv3s2OK) of input planes x (plane i giving
// output plane i) with weights w (nine a plane) and bias (one a plane,
// nil for none), clamped to [cl, ch], a row at a time; it reports false,
// doing nothing, where it has no vector kernel.
func dwConv3s2(g *winGeom, x, w, bias, y []float32, lo, hi int, cl, ch float32) bool {
	if !useDwAVX512 || hi <= lo {
		return false
	}
	ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
	inSz, p := ih*iw, oh*ow
	rowLen := dwConv3s2Row(g)
	buf := getScratch(4 * rowLen)
	defer putScratch(buf)
	clear(*buf)
	xs := x[lo*inSz : hi*inSz]
	ys := y[lo*p : hi*p]
	ws := w[lo*9 : hi*9]
	var zero float32
	a := dw2Args{x: &xs[0], y: &ys[0], w: &ws[0], b: &zero, planes: hi - lo,
		inStep: 4 * inSz, outStep: 4 * p, ih: ih, iw: iw, oh: oh, ow: ow,
		pt: g.pb[1], pl: g.pb[2], lo: cl, hi: ch, buf: &(*buf)[0], rowLen: rowLen}
	if bias != nil {
		a.b, a.bStep = &bias[lo:hi][0], 4
	}
	dwConv3s2AVX512(&a)
	return true
}

// dwPadArgs is the arguments of dwPlaneS1AVX2 and dwPlaneS2AVX2; keep the
// offsets in conv_dw_avx2_amd64.s in step.
type dwPadArgs struct {
	p       [3]*float32 // 0: source rows kh = 0-2 at tap kw = 0 (and kw = 2)
	q       [3]*float32 // 24: source rows kh = 0-2 at tap kw = 1
	y       *float32    // 48: the output plane
	w       *float32    // 56: nine weights
	b       float32     // 64: bias
	lo, hi  float32     // 68, 72: clamp bounds
	ow      int         // 80: outputs a row
	oh      int         // 88: output rows, at least 1
	rowStep int         // 96: bytes from one output row's sources to the next's
	mask    *int32      // 104: the lanes of a row's last vector (ow%8 of them)
}

// dwPlaneS1AVX2 and dwPlaneS2AVX2 compute one output plane of a 3x3
// depthwise convolution with stride 1 and 2 from the sources of a (a
// zero-padded copy of the input, see dwVecPlane): min(max(b + Σ_t
// w[t]*x_t, lo), hi) with fused multiply-adds in the order of
// dwKernelAVX512. They read up to eight floats past each source row's
// last tap.
//
//go:noescape
func dwPlaneS1AVX2(a *dwPadArgs)

//go:noescape
func dwPlaneS2AVX2(a *dwPadArgs)

// splitAVX2 sets ev[i] = x[2i] and od[i] = x[2i+1] for i in [0, n), n a
// multiple of 8.
//
//go:noescape
func splitAVX2(ev, od, x *float32, n int)

// dwVecLayout returns the layout of the padded copy of dwVecPlane: rows
// of rs floats (stride 1: the padded input rows; stride 2: the even
// columns of each padded row, then in a second plane from odd, the odd
// ones) and the floats it needs in all.
func dwVecLayout(g *winGeom) (rs, odd, size int) {
	oh, ow := g.out[1], g.out[2]
	if g.s[1] == 1 {
		rs = ow + 2
		return rs, 0, (oh+2)*rs + 2*dwVector + 2
	}
	rs = ow + 1 + dwVector
	odd = (2*oh + 1) * rs
	return rs, odd, 2*odd + dwVector
}

// dwVecScratch is the scratch dwVecPlane needs.
func dwVecScratch(g *winGeom) int {
	_, _, size := dwVecLayout(g)
	return size
}

// dwVecPlane computes one output plane of the padded path (see
// convDepthwise3x3Padded) without a residual on the AVX2 kernels and
// reports true, or reports false where they are not. The input goes into
// a zero-padded copy first; with stride 2 its rows are also split into
// their even and odd columns, so that every tap of eight consecutive
// outputs is one contiguous load.
func dwVecPlane(g *winGeom, xc, wm []float32, b float32, yp []float32, ep *convEpilogue, buf []float32) bool {
	oh, ow := g.out[1], g.out[2]
	if !useDwAVX2 || !cpu.X86.HasFMA || oh == 0 || ow == 0 {
		return false
	}
	ih, iw := g.in[1], g.in[2]
	pt, pl := g.pb[1], g.pb[2]
	rs, odd, size := dwVecLayout(g)
	pad := buf[:size]
	a := dwPadArgs{y: &yp[:oh*ow][0], w: &wm[:9][0], b: b, lo: negInf, hi: posInf, ow: ow, oh: oh, mask: &laneMasks[ow%8][0]}
	if ep.clamp {
		a.lo, a.hi = ep.lo, ep.hi
	}
	if g.s[1] == 1 {
		rows := oh + 2
		for r := range rows {
			d := pad[r*rs : (r+1)*rs]
			iy := r - pt
			if iy < 0 || iy >= ih {
				clear(d)
				continue
			}
			clear(d[:pl])
			n := copy(d[pl:], xc[iy*iw:(iy+1)*iw])
			clear(d[pl+n:])
		}
		clear(pad[rows*rs:])
		for kh := range 3 {
			a.p[kh] = &pad[kh*rs]
			a.q[kh] = &pad[kh*rs+1]
		}
		a.rowStep = 4 * rs
		dwPlaneS1AVX2(&a)
		return true
	}
	// Stride 2: padded row r, column c is input (r-pt, c-pl); ev[j] is
	// its column 2j (j <= ow), od[j] column 2j+1 (j < ow).
	for r := range 2*oh + 1 {
		ev := pad[r*rs : (r+1)*rs]
		od := pad[odd+r*rs : odd+(r+1)*rs]
		iy := r - pt
		if iy < 0 || iy >= ih {
			clear(ev)
			clear(od)
			continue
		}
		x := xc[iy*iw : (iy+1)*iw]
		// Pairs (x[2i], x[2i+1]): to (ev[i], od[i]) when pl is 0, to
		// (od[i], ev[i+1]) when pl is 1.
		n := min(iw/2, ow)
		e, o := ev, od
		if pl == 1 {
			e, o = od, ev[1:]
			ev[0] = 0
		}
		v := n &^ 7
		if v > 0 {
			splitAVX2(&e[0], &o[0], &x[0], v)
		}
		for i := v; i < n; i++ {
			e[i], o[i] = x[2*i], x[2*i+1]
		}
		get := func(c int) float32 {
			if c >= 0 && c < iw {
				return x[c]
			}
			return 0
		}
		for j := n + pl; j <= ow; j++ {
			ev[j] = get(2*j - pl)
		}
		for j := n; j < ow; j++ {
			od[j] = get(2*j + 1 - pl)
		}
		clear(ev[ow+1:])
		clear(od[ow:])
	}
	clear(pad[2*odd:])
	for kh := range 3 {
		a.p[kh] = &pad[kh*rs]
		a.q[kh] = &pad[odd+kh*rs]
	}
	a.rowStep = 8 * rs
	dwPlaneS2AVX2(&a)
	return true
}

// dwDirArgs is the arguments of dwDirectS1AVX2; keep the offsets in
// conv_dw_avx2_amd64.s in step. The kernel moves x, y, w and b (and
// counts planes down) as it goes.
type dwDirArgs struct {
	x        *float32 // 0: the first input plane
	y        *float32 // 8: the first output plane
	w        *float32 // 16: its nine weights, the next plane's after them
	b        *float32 // 24: its bias
	bStep    int      // 32: bytes from one plane's bias to the next's (0 or 4)
	planes   int      // 40: at least 1
	inPlane  int      // 48: bytes from one input plane to the next
	full     int      // 56: bytes of a row's whole vectors of outputs
	rowBytes int      // 64: bytes an input row
	ih       int      // 72: input rows
	ow       int      // 80: outputs a row
	oh       int      // 88: output rows, at least 1
	pt       int      // 96: padding rows above
	masks    *int32   // 104: dwDirMasks
	vecBytes int      // 112: 32 bytes per vector of a row
	zero     *float32 // 120: a row of zeros
	colOff   int      // 128: -4*pl bytes
	lo, hi   float32  // 136, 140: clamp bounds
}

// dwDirectS1AVX2 computes a.planes output planes of a 3x3 depthwise
// convolution with stride 1 (one channel per group) straight from the
// input planes; see the assembly.
//
//go:noescape
func dwDirectS1AVX2(a *dwDirArgs)

// dwZero is the row of zeros dwDirectS1AVX2 reads above and below the
// input; it limits the rows it takes.
var dwZero [1024]float32

// dwDirMasks returns the masks of dwDirectS1AVX2 for g: for each vector
// of eight outputs of a row, the lanes whose tap kw = 0, 1, 2 falls
// inside the input row, then the lanes of outputs that exist.
func dwDirMasks(g *winGeom) []int32 {
	iw, ow, pl := g.in[2], g.out[2], g.pb[2]
	nv := (ow + 7) / 8
	m := make([]int32, nv*32)
	for v := range nv {
		for i := range 8 {
			x := 8*v + i
			if x >= ow {
				continue
			}
			for kw := range 3 {
				if c := x - pl + kw; c >= 0 && c < iw {
					m[v*32+kw*8+i] = -1
				}
			}
			m[v*32+24+i] = -1
		}
	}
	return m
}

// dwDirectOK reports whether dwDirect takes planes of g.
func dwDirectOK(g *winGeom) bool {
	return useDwAVX2 && cpu.X86.HasFMA && g.s[1] == 1 && g.in[2] <= len(dwZero) &&
		g.out[1] > 0 && g.out[2] > 0
}

// dwDirect computes output planes [lo, hi) of s (one channel per group,
// no residual, stride 1: dwDirectOK) with dwDirectS1AVX2, one call per
// image, with the masks of dwDirMasks.
func dwDirect(s *convShape, x, w, y []float32, ep *convEpilogue, lo, hi int, masks []int32) {
	g := &s.g
	inSz, p := g.inSize(), g.outSize()
	var zeroBias float32
	a := dwDirArgs{
		inPlane: 4 * inSz, rowBytes: 4 * g.in[2], ih: g.in[1],
		ow: g.out[2], oh: g.out[1], pt: g.pb[1],
		masks: &masks[0], vecBytes: 32 * ((g.out[2] + 7) / 8), full: 32 * (g.out[2] / 8),
		zero: &dwZero[0], colOff: -4 * g.pb[2], lo: negInf, hi: posInf,
	}
	if ep.clamp {
		a.lo, a.hi = ep.lo, ep.hi
	}
	for pl := lo; pl < hi; {
		m := pl % s.m
		end := min(hi, pl-m+s.m) // the planes of this image
		a.x, a.y = &x[pl*inSz:][:(end-pl)*inSz][0], &y[pl*p:][:(end-pl)*p][0]
		a.w = &w[m*9:][:(end-pl)*9][0]
		a.b, a.bStep = &zeroBias, 0
		if ep.bias != nil {
			a.b, a.bStep = &ep.bias[m : end-pl+m][0], 4
		}
		a.planes = end - pl
		dwDirectS1AVX2(&a)
		pl = end
	}
}
