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

// maxPool3s2AVX2 computes one plane of maxPool3s2 with AVX2, for at
// least 8 outputs a row.
//
//go:noescape
func maxPool3s2AVX2(y, x, v *float32, ih, iw, oh, ow, pt, pl int)

// maxPool3s2Vec reports whether maxPool3s2 has a vector kernel for g.
func maxPool3s2Vec(g *winGeom) bool {
	return useDwAVX512 || useDwAVX2 && g.out[2] >= 8
}

// maxPool3s2 computes plane y of a 3x3 stride-2 max pooling of plane x for
// g (see maxPool3s2OK) with the row buffer v (maxPool3s2Len(g) floats, all
// -Inf before the first call, kept so between calls); it reports false,
// doing nothing, where it has no vector kernel (maxPool3s2Vec).
func maxPool3s2(g *winGeom, x, y, v []float32) bool {
	if !maxPool3s2Vec(g) {
		return false
	}
	ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
	_ = x[ih*iw-1]
	_ = y[oh*ow-1]
	_ = v[maxPool3s2Len(g)-1]
	if useDwAVX512 {
		maxPool3s2AVX512(&y[0], &x[0], &v[0], ih, iw, oh, ow, g.pb[1], g.pb[2])
	} else {
		maxPool3s2AVX2(&y[0], &x[0], &v[0], ih, iw, oh, ow, g.pb[1], g.pb[2])
	}
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
	plain    int      // 144: rows whose last vector may be stored whole
	inLo     int      // 152: byte offsets in an output row of the vectors
	inHi     int      // 160: whose loads are all inside the input row
}

// dwDirectS1AVX2 computes a.planes output planes of a 3x3 depthwise
// convolution with stride 1 (one channel per group) straight from the
// input planes; see the assembly.
//
//go:noescape
func dwDirectS1AVX2(a *dwDirArgs)

// dwDirectS2AVX2 is dwDirectS1AVX2 for stride 2, with the masks of
// dwDirMasks for it.
//
//go:noescape
func dwDirectS2AVX2(a *dwDirArgs)

// dwZero is the row of zeros dwDirectS1AVX2 reads above and below the
// input; it limits the rows it takes.
var dwZero [1024]float32

// dwDirMasks returns the masks of dwDirectS1AVX2 or dwDirectS2AVX2 for
// g: for each vector of eight outputs of a row, the lanes of its loads
// that fall inside the input row (stride 1: taps kw = 0, 1, 2 at columns
// x-pl+kw; stride 2: 16 floats from column 2*x-pl and 16 from 2*x-pl+2,
// eight a load), then the lanes of outputs that exist.
func dwDirMasks(g *winGeom) []int32 {
	iw, ow, pl := g.in[2], g.out[2], g.pb[2]
	nv := (ow + 7) / 8
	loads := []int{-pl, 1 - pl, 2 - pl} // first column of each load, from 8v
	if g.s[1] == 2 {
		loads = []int{-pl, 8 - pl, 2 - pl, 10 - pl} // from 16v
	}
	per := 8 * (len(loads) + 1)
	m := make([]int32, nv*per)
	for v := range nv {
		e := m[v*per : (v+1)*per]
		for l, c0 := range loads {
			for i := range 8 {
				c := g.s[1]*8*v + c0 + i
				if c >= 0 && c < iw {
					e[8*l+i] = -1
				}
			}
		}
		for i := range 8 {
			if 8*v+i < ow {
				e[8*len(loads)+i] = -1
			}
		}
	}
	return m
}

// dwDirectOK reports whether dwDirect takes planes of g.
func dwDirectOK(g *winGeom) bool {
	return useDwAVX2 && cpu.X86.HasFMA && g.in[2] <= len(dwZero) &&
		g.out[1] > 0 && g.out[2] > 0
}

// dwDirect computes output planes [lo, hi) of s (one channel per group,
// no residual: dwDirectOK) with dwDirectS1AVX2 or dwDirectS2AVX2, one
// call per image, with the masks of dwDirMasks.
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
	// A row's last vector stored whole writes past the row, into the
	// next one, which overwrites it: not the last row's, nor any when
	// the part past the row is longer than a row.
	if ow := g.out[2]; a.vecBytes-4*ow <= 4*ow {
		a.plain = g.out[1] - 1
	}
	// Vectors of eight outputs whose loads stay inside the input row
	// (columns s*8v-pl to s*8v-pl+8s+1) take plain loads.
	iw, padL, st := g.in[2], g.pb[2], g.s[1]
	v0 := (padL + 8*st - 1) / (8 * st) // the first with s*8v-pl >= 0
	v1 := 0                            // past the last with s*8v-pl+8s+1 < iw
	if n := iw + padL - 8*st - 2; n >= 0 {
		v1 = n/(8*st) + 1
	}
	if v1 > v0 {
		a.inLo, a.inHi = 32*v0, 32*v1
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
		if g.s[1] == 1 {
			dwDirectS1AVX2(&a)
		} else {
			dwDirectS2AVX2(&a)
		}
		pl = end
	}
}

// dwT8InAVX2 transposes rows of eight input planes into pixels of eight
// channels; see the assembly.
//
//go:noescape
func dwT8InAVX2(t, x *float32, inPlane, ih, iw, rs int, mask *int32)

// dwT8OutAVX2 transposes pixels of eight channels into eight output
// planes; see the assembly.
//
//go:noescape
func dwT8OutAVX2(y, o *float32, outPlane, p int)

// dwT8ConvAVX2 convolves padded pixels of eight channels; see the
// assembly.
//
//go:noescape
func dwT8ConvAVX2(o, t, w *float32, oh, ow, s, rs int, lo, hi float32)

// dwT8Masks holds, at 8-n, the mask of dwT8InAVX2 for n < 8 pixels: n
// lanes set, then eight clear.
var dwT8Masks = [16]int32{-1, -1, -1, -1, -1, -1, -1, -1}

// dwT8OK reports whether dwT8 takes g, on a CPU with AVX2 and FMA: a 3x3
// depthwise window (dw3x3OK) of stride 1 with rows of at most 28 outputs,
// or of stride 2 with rows of at most 8, and at least eight outputs a
// plane. Elsewhere the direct path was as fast or faster in MobileNetV2
// (two threads, fastest of 300 runs of the model with the paths
// alternated): the transposes cost more on wider rows, whose vectors the
// direct path mostly loads unmasked, and with stride 2 they move four
// input pixels an output (144x56x56 stride 2: 57 -> 60-65 us; 192x28x28
// stride 2: 24 -> 27 us; 576x14x14 stride 2: 26 -> 22 us).
func dwT8OK(g *winGeom) bool {
	if !useDwAVX2 || !cpu.X86.HasFMA || !dw3x3OK(g) || g.out[1]*g.out[2] < 8 {
		return false
	}
	return g.s[1] == 1 && g.out[2] <= 28 || g.s[1] == 2 && g.out[2] <= 8
}

// dwT8Layout returns the padded pixel buffer of the channel-blocked path
// for g: rows of rs pixels, enough for the input (the last eight-pixel
// group of a row included) and for every window.
func dwT8Layout(g *winGeom) (rows, rs int) {
	rows = max(g.pb[1]+g.in[1], (g.out[1]-1)*g.s[1]+3)
	rs = max(g.pb[2]+(g.in[2]+7)&^7, (g.out[2]-1)*g.s[2]+3)
	return rows, rs
}

// dwT8 computes output planes [lo, hi) of s eight at a time, for dwT8OK
// geometry, one channel per group, no residual, s.m a multiple of 8 and
// lo, hi multiples of 8 (so that no block of eight spans two images). The
// eight input planes are transposed into a zero-padded buffer of
// eight-channel pixels, each output pixel is nine multiply-adds of vectors
// there (no masks: the padding supplies the zeros), and the output pixels
// are transposed back into planes. On planes of 14x14 and
// 7x7, where the direct path masks every vector, this takes 40% less time
// in MobileNetV2 (the layers of 384 channels on 14x14: 37 -> 21.5 us, of
// 960 on 7x7: 30 -> 20 us; two threads, fastest of 300 runs).
func dwT8(s *convShape, x, w, y []float32, ep *convEpilogue, lo, hi int) {
	g := &s.g
	inSz, p := g.inSize(), g.outSize()
	ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
	rows, rs := dwT8Layout(g)
	buf := getScratch(rows*rs*8 + p*8 + 80)
	defer putScratch(buf)
	t := (*buf)[:rows*rs*8]
	o := (*buf)[rows*rs*8:][:p*8]
	wt := (*buf)[rows*rs*8+p*8:][:80]
	clear(t)
	cl, ch := negInf, posInf
	if ep.clamp {
		cl, ch = ep.lo, ep.hi
	}
	mask := &dwT8Masks[8-iw%8]
	in := t[(g.pb[1]*rs+g.pb[2])*8:]
	for pl := lo; pl < hi; pl += 8 {
		m := pl % s.m
		for k := range 8 {
			for tap := range 9 {
				wt[tap*8+k] = w[(m+k)*9+tap]
			}
			wt[72+k] = 0
			if ep.bias != nil {
				wt[72+k] = ep.bias[m+k]
			}
		}
		xs := x[pl*inSz:][:8*inSz]
		_ = in[((ih-1)*rs+(iw+7)&^7)*8-1]
		dwT8InAVX2(&in[0], &xs[0], 4*inSz, ih, iw, rs, mask)
		dwT8ConvAVX2(&o[0], &t[0], &wt[0], oh, ow, g.s[1], rs, cl, ch)
		ys := y[pl*p:][:8*p]
		dwT8OutAVX2(&ys[0], &o[0], 4*p, p)
	}
}
