package ops

// Depthwise convolution (one input channel per group, as in MobileNet and
// EfficientNet): direct kernels for the forward pass and both gradients.
// The rest of Conv is in conv.go.

import "sync"

// convDepthwiseForward is the direct kernel for one input channel per
// group: output channel m reads input channel m/mg only. 3x3 windows with
// unit dilation, stride 1 or 2 and padding of at most 1 (every depthwise
// layer of MobileNet V1/V2) take the masked 3x3 path (see dwLayout:
// convDepthwiseMany, convDepthwise3x3Plane), or the padded one where
// dwUsePadded is set (there, small planes of a multiple of eight channels
// take the channel-blocked path, dwT8); other windows compute one output
// row at a time into a row buffer that stays in the L1 cache, then apply
// the epilogue while storing the row (convDepthwisePlane).
func convDepthwiseForward(ctx *Ctx, s *convShape, x, w, y []float32, ep *convEpilogue) {
	inSz, p, ks, mg := s.g.inSize(), s.g.outSize(), s.g.kSize(), s.mg()
	g := &s.g
	var l *dwLayout
	padded := false
	bufLen := g.out[2]
	switch {
	case dw3x3OK(g) && dwUsePadded:
		padded = true
		bufLen = dwPaddedScratch(g)
	case dw3x3OK(g):
		l = newDwLayout(g)
		bufLen = l.scratch(ep.residual != nil)
	}
	// One channel per group and no residual: a chunk of planes runs in
	// few kernel calls (convDepthwiseMany).
	many := l != nil && l.plane && mg == 1 && ep.residual == nil &&
		(l.stride == 1 || 2*l.srcH == l.ih || dwConv3s2OK(g))
	cl, ch := negInf, posInf
	if ep.clamp {
		cl, ch = ep.lo, ep.hi
	}
	// Where the padded path is taken without a residual, small planes of
	// a multiple of eight channels run eight channels at a time, and the
	// others straight from the input planes when there is a kernel for
	// them.
	if padded && mg == 1 && ep.residual == nil && s.m%8 == 0 && dwT8OK(g) {
		crewFor(ctx, s.n*s.m/8, max(1, 1<<11/(ks*p+1)), func(lo, hi int) {
			dwT8(s, x, w, y, ep, 8*lo, 8*hi)
		})
		return
	}
	var dmasks []int32
	if padded && mg == 1 && ep.residual == nil && dwDirectOK(g) {
		dmasks = dwDirMasks(g)
	}
	crewFor(ctx, s.n*s.m, max(1, 1<<14/(ks*p+1)), func(lo, hi int) {
		if many && convDepthwiseMany(l, s, x, w, y, ep, lo, hi, cl, ch) {
			return
		}
		if dmasks != nil {
			dwDirect(s, x, w, y, ep, lo, hi, dmasks)
			return
		}
		buf := getScratch(bufLen)
		defer putScratch(buf)
		for pl := lo; pl < hi; pl++ {
			n, m := pl/s.m, pl%s.m
			xc := x[(n*s.c+m/mg)*inSz:][:inSz]
			yp := y[pl*p : (pl+1)*p]
			var rp []float32
			if ep.residual != nil {
				rp = ep.residual[pl*p : (pl+1)*p]
			}
			var b float32
			if ep.bias != nil {
				b = ep.bias[m]
			}
			wm := w[m*ks : (m+1)*ks]
			switch {
			case padded:
				convDepthwise3x3Padded(g, xc, wm, b, rp, yp, ep, *buf)
				continue
			case l != nil:
				convDepthwise3x3Plane(l, xc, wm, b, rp, yp, ep, *buf)
				continue
			}
			convDepthwisePlane(g, xc, wm, b, rp, yp, ep, *buf)
		}
	})
}

// dwManyBytes bounds the stride-2 phases split at once by
// convDepthwiseMany, so that they stay in the L2 cache.
const dwManyBytes = 1 << 18

// convDepthwiseMany computes output planes [lo, hi) of a depthwise 3x3
// convolution with one channel per group and no residual, several planes
// a kernel call; it reports false, doing nothing, where the kernel takes
// one plane at a time. Stride 2 runs a row at a time where dwConv3s2
// does; otherwise the planes of a chunk are split together into phase
// planes of chunk*srcH rows (each plane's rows follow the previous
// plane's, as ih = 2*srcH), so that plane k's phases are k*psz after
// plane 0's.
func convDepthwiseMany(l *dwLayout, s *convShape, x, w, y []float32, ep *convEpilogue, lo, hi int, cl, ch float32) bool {
	inSz, ks := s.g.inSize(), 9
	var bias []float32
	if ep.bias != nil {
		bias = ep.bias[:s.m]
	}
	var src [9][]float32
	if l.stride == 1 {
		for lo < hi {
			n, m := lo/s.m, lo%s.m
			end := min(hi, (n+1)*s.m)
			for t := range src {
				src[t] = x[(n*s.c+m)*inSz:]
			}
			if !dwPlanes(l, &src, inSz, w[:s.m*ks], bias, y[n*s.m*l.oh*l.ow:], m, end-n*s.m, cl, ch) {
				return false
			}
			lo = end
		}
		return true
	}
	if dwConv3s2OK(&s.g) {
		for lo < hi {
			n, m := lo/s.m, lo%s.m
			end := min(hi, (n+1)*s.m)
			if !dwConv3s2(&s.g, x[n*s.c*inSz:(n+1)*s.c*inSz], w[:s.m*ks], bias, y[n*s.m*l.oh*l.ow:], m, end-n*s.m, cl, ch) {
				break
			}
			lo = end
		}
		if lo == hi {
			return true
		}
	}
	if 2*l.srcH != l.ih {
		return false
	}
	psz := l.srcH * l.srcW
	k := max(1, dwManyBytes/(4*l.phases))
	buf := getScratch(k * l.phases)
	defer putScratch(buf)
	for lo < hi {
		n, m := lo/s.m, lo%s.m
		end := min(hi, (n+1)*s.m, lo+k)
		kk := end - lo
		ph := (*buf)[:kk*l.phases]
		dwSplit2(ph, x[(n*s.c+m)*inSz:(n*s.c+m+kk)*inSz], kk*l.ih, l.iw, l.srcW, kk*psz)
		for t := range src {
			src[t] = ph[l.src[t]*kk*psz : (l.src[t]+1)*kk*psz]
		}
		if !dwPlanes(l, &src, psz, w[:s.m*ks], bias, y[n*s.m*l.oh*l.ow:], m, end-n*s.m, cl, ch) {
			return false
		}
		lo = end
	}
	return true
}

// convDepthwisePlane computes one output plane of a depthwise convolution
// of any geometry, row by row in acc (g.out[2] floats).
func convDepthwisePlane(g *winGeom, xc, wm []float32, b float32, rp, yp []float32, ep *convEpilogue, acc []float32) {
	oh, ow, sw := g.out[1], g.out[2], g.s[2]
	acc = acc[:ow]
	for od := range g.out[0] {
		for oy := range oh {
			for i := range acc {
				acc[i] = b
			}
			convTapLoop(g, func(tap, offD, offH, offW int) {
				id := od*g.s[0] + offD
				ih := oy*g.s[1] + offH
				if id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1] {
					return
				}
				wv := wm[tap]
				wlo, whi := winRange(ow, sw, offW, g.in[2])
				xr := xc[(id*g.in[1]+ih)*g.in[2]:][:g.in[2]]
				if sw == 1 {
					xs := xr[wlo+offW : whi+offW]
					as := acc[wlo:whi]
					for i, v := range xs {
						as[i] += wv * v
					}
					return
				}
				for o := wlo; o < whi; o++ {
					acc[o] += wv * xr[o*sw+offW]
				}
			})
			off := (od*oh + oy) * ow
			var rr []float32
			if rp != nil {
				rr = rp[off : off+ow]
			}
			convStoreRow(yp[off:off+ow], acc, rr, ep)
		}
	}
}

// convStoreRow stores acc (+ the residual row rr, which may be yr itself)
// into yr, clamped when the epilogue says so.
func convStoreRow(yr, acc, rr []float32, ep *convEpilogue) {
	acc = acc[:len(yr)]
	switch {
	case rr != nil:
		rr = rr[:len(yr)]
		for i, v := range acc {
			v += rr[i]
			if ep.clamp {
				v = min(max(v, ep.lo), ep.hi)
			}
			yr[i] = v
		}
	case ep.clamp:
		lo, hi := ep.lo, ep.hi
		for i, v := range acc {
			yr[i] = min(max(v, lo), hi)
		}
	default:
		copy(yr, acc)
	}
}

// dw3x3OK reports whether a depthwise window takes the 3x3 fast path: a
// 2-D 3x3 kernel with unit dilation, the same stride (1 or 2) on both
// axes and padding 0 or 1 at the start of each axis.
func dw3x3OK(g *winGeom) bool {
	return g.k[0] == 1 && g.in[0] == 1 && g.out[0] == 1 && g.pb[0] == 0 &&
		g.k[1] == 3 && g.k[2] == 3 && g.d[1] == 1 && g.d[2] == 1 &&
		g.s[1] == g.s[2] && g.s[1] >= 1 && g.s[1] <= 2 &&
		g.pb[1] <= 1 && g.pb[2] <= 1
}

// The 3x3 path computes an output plane without a padded copy of the
// input. Every tap (kh, kw) reads a source plane of srcH rows of srcW
// elements at row oy+dr[kh] and column ox+dc[kw], dr and dc in {-1, 0, 1}:
//
//   - With stride 1 the source is the input plane itself, dr = kh-pt and
//     dc = kw-pl.
//   - With stride 2 the input is first split into its four phases (even
//     and odd rows times even and odd columns), each a plane of oh x ow
//     (one row or column more when the input has row 2*oh or column 2*ow
//     and the window reaches it): input element (2r+p, 2c+q) is element
//     (r, c) of phase (p, q). Tap (kh, kw) reads input row 2*oy + kh-pt,
//     that is row oy + (kh-pt)>>1 of row phase (kh-pt)&1, and likewise
//     for columns, so a stride-2 convolution becomes nine stride-1 reads
//     of the phases and computes only the outputs kept.
//
// When the source rows are as long as the output rows (srcW == ow: stride
// 1 with one column of padding on each side, or stride 2) output index
// i = oy*ow + ox reads source index i + dr*srcW + dc for every tap, so
// the whole plane is one call of the kernel over the flattened plane,
// however narrow its rows ("plane mode"); otherwise each row is one call.
// Reads outside the input are left out by per-lane masks: a table with
// an entry of nine 16-bit masks (one per tap) for every 16 outputs of a
// call, the entries of row mode starting afresh at each row. The kernel
// (dwPlane) computes y[i] = min(max(b + Σ w[t]*x_t[i], lo), hi) over the
// taps whose mask bit is set for i; 3x3 max pooling (maxPool3x3Plane)
// takes the same path with a maximum in place of the sum (dwMaxPlane).
//
// Where the AVX-512 kernels run, stride 2 goes a row at a time instead
// for convolutions with output rows of 16 or more (dwConv3s2) and for max
// pooling (maxPool3s2): the taps of each input row are the even and odd
// picks of that row, so that neither the split nor the masks are needed.

// dwLayout is how the 3x3 path computes every plane of one convolution.
type dwLayout struct {
	stride     int
	ih, iw     int
	pt, pl     int // padding at the top and left
	oh, ow     int
	srcH, srcW int
	plane      bool   // one kernel call per plane, else one per row
	rph, dr    [3]int // row phase and offset of each kh
	cph, dc    [3]int // column phase and offset of each kw
	src        [9]int // phase plane read by each tap (stride 2)
	off        [9]int // source index of output 0 (of row 0 in row mode) for each tap
	masks      []uint16
	rowEntries int // table entries per row (row mode)
	phases     int // elements of the phase planes (stride 2)
}

// dwMaskEntry is the number of uint16 per table entry (32 bytes: the
// masks of the nine taps and padding).
const dwMaskEntry = 16

// dwLayoutKey identifies a layout (and its mask table).
type dwLayoutKey struct{ stride, ih, iw, pt, pl, oh, ow int }

// dwLayouts holds the layouts planned so far (a few per network), which
// are never changed.
var dwLayouts sync.Map // dwLayoutKey -> *dwLayout

// newDwLayout returns the plan of the 3x3 path for g (see dw3x3OK).
func newDwLayout(g *winGeom) *dwLayout {
	ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
	key := dwLayoutKey{g.s[1], ih, iw, g.pb[1], g.pb[2], oh, ow}
	if l, ok := dwLayouts.Load(key); ok {
		return l.(*dwLayout)
	}
	l := &dwLayout{stride: g.s[1], ih: ih, iw: iw, pt: g.pb[1], pl: g.pb[2], oh: oh, ow: ow}
	for k := range 3 {
		a, b := k-g.pb[1], k-g.pb[2]
		if l.stride == 1 {
			l.dr[k], l.dc[k] = a, b
			continue
		}
		l.rph[k], l.dr[k] = a&1, a>>1
		l.cph[k], l.dc[k] = b&1, b>>1
	}
	if l.stride == 1 {
		l.srcH, l.srcW = ih, iw
	} else {
		// Phase row oh (column ow) is read, by kh = 2 with no padding
		// at the top, only when the input has row 2*oh.
		l.srcH, l.srcW = oh, ow
		if g.pb[1] == 0 && 2*oh < ih {
			l.srcH++
		}
		if g.pb[2] == 0 && 2*ow < iw {
			l.srcW++
		}
		l.phases = 4 * l.srcH * l.srcW
	}
	l.plane = l.srcW == ow
	for t := range 9 {
		kh, kw := t/3, t%3
		l.src[t] = 2*l.rph[kh] + l.cph[kw]
		l.off[t] = l.dr[kh]*l.srcW + l.dc[kw]
	}
	l.rowEntries = ow/16 + 1
	l.masks = dwMasks(l)
	dwLayouts.Store(key, l)
	return l
}

// scratch is the number of floats one goroutine needs: the phase planes
// and, with a residual, a plane of sums.
func (l *dwLayout) scratch(residual bool) int {
	n := l.phases
	if residual {
		n += l.oh * l.ow
	}
	return max(n, 1)
}

// dwMasks returns the kernel's mask table for l: for every 16 outputs of
// a call and every tap t = 3*kh+kw, bit j of entry element t is set when
// output j reads inside the input (row stride*oy+kh-pt, column
// stride*ox+kw-pl), so that neither the padding nor what the phase planes
// hold past the input is ever read. Plane mode has one call over the
// plane, row mode one per row, each row's entries (rowEntries of them)
// starting at a new entry. An entry more than needed lets the kernel read
// the entry after the last whole vector of a call.
func dwMasks(l *dwLayout) []uint16 {
	var t []uint16
	set := func(e []uint16, j, oy, ox int) {
		for tap := range 9 {
			r, c := l.stride*oy+tap/3-l.pt, l.stride*ox+tap%3-l.pl
			if r >= 0 && r < l.ih && c >= 0 && c < l.iw {
				e[tap] |= 1 << j
			}
		}
	}
	if l.plane {
		n := l.oh * l.ow
		t = make([]uint16, (n/16+1)*dwMaskEntry)
		for i := range n {
			set(t[i/16*dwMaskEntry:], i%16, i/l.ow, i%l.ow)
		}
	} else {
		t = make([]uint16, (l.oh*l.rowEntries+1)*dwMaskEntry)
		for oy := range l.oh {
			for ox := range l.ow {
				set(t[(oy*l.rowEntries+ox/16)*dwMaskEntry:], ox%16, oy, ox)
			}
		}
	}
	return t
}

// dwFull reports whether the table entry e has every tap of all 16 lanes.
func dwFull(e []uint16) bool {
	e = e[:9]
	return e[0]&e[1]&e[2]&e[3]&e[4]&e[5]&e[6]&e[7]&e[8] == 0xffff
}

// dwPlaneGo is dwPlane in Go. Whole vectors whose taps all read inside the
// input take a loop without masks.
func dwPlaneGo(y []float32, src *[9][]float32, off *[9]int, w *[9]float32, b, lo, hi float32, masks []uint16) {
	for v := 0; v < len(y); v += 16 {
		e := masks[v/16*dwMaskEntry:][:9]
		if v+16 <= len(y) && dwFull(e) {
			var p [9][]float32
			for t := range p {
				p[t] = src[t][off[t]+v:][:16]
			}
			yv := y[v : v+16]
			for i := range yv {
				s := b + w[0]*p[0][i] + w[1]*p[1][i] + w[2]*p[2][i] +
					w[3]*p[3][i] + w[4]*p[4][i] + w[5]*p[5][i] +
					w[6]*p[6][i] + w[7]*p[7][i] + w[8]*p[8][i]
				yv[i] = min(max(s, lo), hi)
			}
			continue
		}
		for i := v; i < min(v+16, len(y)); i++ {
			bit := uint16(1) << (i & 15)
			s := b
			for t := range 9 {
				if e[t]&bit != 0 {
					s += w[t] * src[t][off[t]+i]
				}
			}
			y[i] = min(max(s, lo), hi)
		}
	}
}

// dwSplit2Go is dwSplit2 in Go.
func dwSplit2Go(ph, x []float32, rows, iw, ow, psz int) {
	for r := range rows {
		xr := x[r*iw : (r+1)*iw]
		e := ph[(r&1*2)*psz+r>>1*ow:][:ow]
		o := ph[(r&1*2+1)*psz+r>>1*ow:][:ow]
		for c := range ow {
			e[c], o[c] = 0, 0
			if 2*c < iw {
				e[c] = xr[2*c]
			}
			if 2*c+1 < iw {
				o[c] = xr[2*c+1]
			}
		}
	}
}

// sources sets the plane each tap reads for input plane xc: xc itself
// with stride 1, else its phase planes, split into buf (l.phases floats).
// What the phase planes hold past the input is never read.
func (l *dwLayout) sources(src *[9][]float32, xc, buf []float32) {
	if l.stride == 1 {
		for t := range src {
			src[t] = xc
		}
		return
	}
	sw := l.srcW
	psz := l.srcH * sw
	ph := buf[:l.phases]
	dwSplit2(ph, xc, min(l.ih, 2*l.srcH), l.iw, sw, psz)
	for t := range src {
		src[t] = ph[l.src[t]*psz : (l.src[t]+1)*psz]
	}
}

// each calls fn for every kernel call of a plane: the outputs and the
// taps' offsets and masks.
func (l *dwLayout) each(out []float32, fn func(y []float32, off [9]int, masks []uint16)) {
	if l.plane {
		fn(out[:l.oh*l.ow], l.off, l.masks)
		return
	}
	off := l.off
	for oy := range l.oh {
		fn(out[oy*l.ow:(oy+1)*l.ow], off, l.masks[oy*l.rowEntries*dwMaskEntry:])
		for t := range off {
			off[t] += l.srcW
		}
	}
}

// convDepthwise3x3Plane computes one output plane of a 3x3 depthwise
// convolution laid out by l (see dwLayout); buf has l.scratch floats.
func convDepthwise3x3Plane(l *dwLayout, xc, wm []float32, b float32, rp, yp []float32, ep *convEpilogue, buf []float32) {
	var src [9][]float32
	l.sources(&src, xc, buf)
	var w9 [9]float32
	copy(w9[:], wm)
	lo, hi := negInf, posInf
	if rp == nil && ep.clamp {
		lo, hi = ep.lo, ep.hi
	}
	out := yp
	if rp != nil {
		out = buf[l.phases:][:l.oh*l.ow]
	}
	if l.plane {
		dwPlane(out, &src, &l.off, &w9, b, lo, hi, l.masks)
	} else {
		l.each(out, func(y []float32, off [9]int, masks []uint16) {
			dwPlane(y, &src, &off, &w9, b, lo, hi, masks)
		})
	}
	if rp != nil {
		convStoreRow(yp, out, rp, ep)
	}
}

// dwMaxPlaneGo is dwMaxPlane in Go.
func dwMaxPlaneGo(y []float32, src *[9][]float32, off *[9]int, masks []uint16) {
	lowest := negInf
	for i := range y {
		m := masks[i>>4*dwMaskEntry:][:9]
		bit := uint16(1) << (i & 15)
		v := lowest
		for t := range 9 {
			if m[t]&bit != 0 {
				v = max(v, src[t][off[t]+i])
			}
		}
		y[i] = v
	}
}

// maxPool3x3Plane computes one output plane of a 3x3 max pooling (see
// dw3x3OK) laid out by l, like convDepthwise3x3Plane: the maximum of the
// window's taps inside the input, the lowest value for a window with
// none. NaN inputs are not treated consistently.
func maxPool3x3Plane(l *dwLayout, xc, yp, buf []float32) {
	var src [9][]float32
	l.sources(&src, xc, buf)
	if l.plane {
		dwMaxPlane(yp, &src, &l.off, l.masks)
		return
	}
	l.each(yp, func(y []float32, off [9]int, masks []uint16) {
		dwMaxPlane(y, &src, &off, masks)
	})
}

// The padded 3x3 path, taken where the masked kernels have no vector
// version but dwRow9 has (dwUsePadded: amd64 with AVX2 and no AVX-512).

// dwPaddedLayout returns how convDepthwise3x3Padded lays out one plane: the
// zero-padded input plane has rows rows of rs elements; nv is the number
// of outputs of each dwRow9 call (rounded up to the vector width of
// dwRow9, so that it has no scalar tail; the extra outputs are dropped)
// and size the length of the padded plane with room for every read.
func dwPaddedLayout(g *winGeom) (rows, rs, nv, size int) {
	oh, ow := g.out[1], g.out[2]
	if g.s[1] == 1 {
		rows, rs = oh+2, ow+2
		nv = oh * rs // the whole plane in one call
	} else {
		rows, rs = 2*oh+1, 2*ow+1
		nv = 2*ow - 1 // one call per output row, at full resolution
	}
	nv = (nv + dwVector - 1) / dwVector * dwVector
	size = max(rows*rs, (rows-3)*rs+nv+2*rs+2) + dwVector
	return rows, rs, nv, size
}

// dwPaddedScratch is the scratch convDepthwise3x3Padded needs: the padded
// input plane and the outputs of one dwRow9 call.
func dwPaddedScratch(g *winGeom) int {
	_, _, nv, size := dwPaddedLayout(g)
	return size + nv
}

// convDepthwise3x3Padded computes one output plane of a 3x3 depthwise
// convolution (see dw3x3OK) the way taken where dwUsePadded is set. The
// input is first copied into a zero-padded
// plane whose rows are rs apart, so that tap (kh, kw) of the output
// computed at index i reads index i + kh*rs + kw: a fixed offset per tap,
// and every output is nine contiguous multiply-adds (dwRow9). With
// stride 1 (rs = ow+2) the whole plane is one dwRow9 call at i = oy*rs+ox
// (the outputs at ox >= ow are computed and dropped). With stride 2 each
// output row is computed at full resolution from row 2*oy of the padded
// plane and every other value kept: twice the multiply-adds, but no
// de-interleaving of the input.
func convDepthwise3x3Padded(g *winGeom, xc, wm []float32, b float32, rp, yp []float32, ep *convEpilogue, buf []float32) {
	ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
	pt, pl := g.pb[1], g.pb[2]
	rows, rs, nv, size := dwPaddedLayout(g)
	pad := buf[:size]
	acc := buf[size : size+nv]
	// Zero the padding, copy the rows in.
	top := min(pt, rows)
	clear(pad[:top*rs])
	r := top
	for ; r < rows && r-pt < ih; r++ {
		d := pad[r*rs : (r+1)*rs]
		clear(d[:pl])
		n := copy(d[pl:], xc[(r-pt)*iw:(r-pt+1)*iw])
		clear(d[pl+n:])
	}
	clear(pad[r*rs:])
	var w9 [9]float32
	copy(w9[:], wm)
	lo, hi := negInf, posInf
	if rp == nil && ep.clamp {
		lo, hi = ep.lo, ep.hi
	}
	var taps [9][]float32
	setTaps := func(base int) {
		for kh := range 3 {
			for kw := range 3 {
				o := base + kh*rs + kw
				taps[3*kh+kw] = pad[o : o+nv]
			}
		}
	}
	if g.s[1] == 1 {
		setTaps(0)
		dwRow9(acc, &taps, &w9, b, lo, hi)
		for oy := range oh {
			yr := yp[oy*ow : (oy+1)*ow]
			ar := acc[oy*rs : oy*rs+ow]
			if rp == nil {
				copy(yr, ar)
				continue
			}
			convStoreRow(yr, ar, rp[oy*ow:(oy+1)*ow], ep)
		}
		return
	}
	for oy := range oh {
		setTaps(2 * oy * rs)
		dwRow9(acc, &taps, &w9, b, lo, hi)
		yr := yp[oy*ow : (oy+1)*ow]
		if rp == nil {
			evens(yr, acc[:2*ow-1])
			continue
		}
		rr := rp[oy*ow : (oy+1)*ow]
		for ox := range yr {
			v := acc[2*ox] + rr[ox]
			if ep.clamp {
				v = min(max(v, ep.lo), ep.hi)
			}
			yr[ox] = v
		}
	}
}

// dwRow9Go is dwRow9 in Go: y[i] = min(max(b + Σ_t w[t]*p[t][i], lo), hi),
// the sum taken in the order of t.
func dwRow9Go(y []float32, p *[9][]float32, w *[9]float32, b, lo, hi float32) {
	n := len(y)
	p0, p1, p2 := p[0][:n], p[1][:n], p[2][:n]
	p3, p4, p5 := p[3][:n], p[4][:n], p[5][:n]
	p6, p7, p8 := p[6][:n], p[7][:n], p[8][:n]
	for i := range y {
		v := b + w[0]*p0[i] + w[1]*p1[i] + w[2]*p2[i] +
			w[3]*p3[i] + w[4]*p4[i] + w[5]*p5[i] +
			w[6]*p6[i] + w[7]*p7[i] + w[8]*p8[i]
		y[i] = min(max(v, lo), hi)
	}
}

// dwConv3s2OK reports whether a 3x3 depthwise window g takes dwConv3s2:
// stride 2 with at most one element of padding at each end (so that the
// output reads at most one column past the input), and output rows of at
// least 16 (narrower rows leave most lanes idle; the flattened phases do
// better: 576 planes of 14x14 took 43 us this way, 27 us that way).
func dwConv3s2OK(g *winGeom) bool {
	return dw3x3OK(g) && g.s[1] == 2 && g.pe[1] <= 1 && g.pe[2] <= 1 && g.out[1] >= 1 && g.out[2] >= 16
}

// dwConv3s2Row is the length of each of dwConv3s2's row buffers: a zero,
// the row in whole vectors and the reads past them.
func dwConv3s2Row(g *winGeom) int { return 1 + (g.in[2]+15)/16*16 + 48 }

// maxPool3s2OK reports whether a 3x3 max pooling window g (see dw3x3OK)
// takes maxPool3s2: stride 2, and the centre of every window inside the
// input (the windows take the column maxima of their rows, then the
// maxima of three neighbours of those).
func maxPool3s2OK(g *winGeom) bool {
	return dw3x3OK(g) && g.s[1] == 2 && g.out[1] >= 1 && g.out[2] >= 1 &&
		2*(g.out[1]-1)+1-g.pb[1] < g.in[1] && 2*(g.out[2]-1)+1-g.pb[2] < g.in[2]
}

// maxPool3s2Len is the length of maxPool3s2's row buffer: room for a
// leading -Inf, the column maxima in whole vectors and the reads past
// them.
func maxPool3s2Len(g *winGeom) int { return 1 + (g.in[2]+15)/16*16 + 48 }

// dwBackwardGeom returns, for a depthwise 3x3 window g, the geometry of
// the forward convolution that gives its input gradient, if the 3x3 path
// takes it: a 3x3 stride-1 convolution with one element of padding on
// every side and the weights turned by 180 degrees, of the output
// gradient itself (stride 1 with padding 1, where the output has the
// input's size) or of the output gradient spread with zeros to the
// input's size (stride 2: dy[oy][ox] at row 2*oy+1-pt, column 2*ox+1-pl).
// For stride 1, dx[r][c] = Σ w[kh][kw] dy[r+1-kh][c+1-kw]; for stride 2
// the same holds of the spread gradient, whose other elements are zero.
func dwBackwardGeom(g *winGeom) (winGeom, bool) {
	var b winGeom
	if !dw3x3OK(g) {
		return b, false
	}
	ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
	pt, pl := g.pb[1], g.pb[2]
	switch g.s[1] {
	case 1:
		if pt != 1 || pl != 1 || oh != ih || ow != iw {
			return b, false
		}
	case 2:
		if 2*(oh-1)+1-pt >= ih || 2*(ow-1)+1-pl >= iw {
			return b, false
		}
	}
	b = winGeom{nsp: 2, in: [winMaxDims]int{1, ih, iw}, out: [winMaxDims]int{1, ih, iw},
		k: [winMaxDims]int{1, 3, 3}, s: [winMaxDims]int{1, 1, 1}, d: [winMaxDims]int{1, 1, 1},
		pb: [winMaxDims]int{0, 1, 1}, pe: [winMaxDims]int{0, 1, 1}}
	return b, true
}

// dwSpread2Go is dwSpread2 in Go.
func dwSpread2Go(z, dy []float32, oh, ow, iw, pt, pl int) {
	for oy := range oh {
		zr := z[(2*oy+1-pt)*iw:][:iw]
		for ox, v := range dy[oy*ow : (oy+1)*ow] {
			zr[2*ox+1-pl] = v
		}
	}
}

// convDepthwiseBackwardData scatters dy back through the depthwise kernel;
// work is split by input plane so that no two goroutines write one. The
// 3x3 windows of dwBackwardGeom run as forward 3x3 convolutions, each
// output channel of a group writing (the first) or adding to its input
// plane; dx is zeroed on entry.
func convDepthwiseBackwardData(ctx *Ctx, s *convShape, dy, w, dx []float32) {
	inSz, p, ks, mg := s.g.inSize(), s.g.outSize(), s.g.kSize(), s.mg()
	g := &s.g
	oh, ow, sw := g.out[1], g.out[2], g.s[2]
	if bg, ok := dwBackwardGeom(g); ok {
		l := newDwLayout(&bg)
		spread := 0
		if g.s[1] == 2 {
			spread = inSz
		}
		ep := &convEpilogue{lo: negInf, hi: posInf}
		iw, pt, pl := g.in[2], g.pb[1], g.pb[2]
		crewFor(ctx, s.n*s.c, max(1, 1<<14/(mg*ks*inSz+1)), func(lo, hi int) {
			buf := getScratch(spread + l.scratch(true))
			defer putScratch(buf)
			z, scratch := (*buf)[:spread], (*buf)[spread:]
			for pl0 := lo; pl0 < hi; pl0++ {
				n, c := pl0/s.c, pl0%s.c
				dc := dx[pl0*inSz : (pl0+1)*inSz]
				for m := c * mg; m < (c+1)*mg; m++ {
					src := dy[(n*s.m+m)*p:][:p]
					if spread > 0 {
						clear(z)
						dwSpread2(z, src, oh, ow, iw, pt, pl)
						src = z
					}
					var wf [9]float32
					for t := range wf {
						wf[t] = w[m*9+8-t]
					}
					// dx is zeroed: the first output channel of the
					// group writes it, the others add to it.
					var rp []float32
					if m > c*mg {
						rp = dc
					}
					convDepthwise3x3Plane(l, src, wf[:], 0, rp, dc, ep, scratch)
				}
			}
		})
		return
	}
	crewFor(ctx, s.n*s.c, max(1, 1<<14/(mg*ks*p+1)), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			n, c := pl/s.c, pl%s.c
			dc := dx[pl*inSz : (pl+1)*inSz]
			for m := c * mg; m < (c+1)*mg; m++ {
				dyp := dy[(n*s.m+m)*p:][:p]
				convTapLoop(g, func(tap, offD, offH, offW int) {
					wv := w[m*ks+tap]
					wlo, whi := winRange(ow, sw, offW, g.in[2])
					dlo, dhi := winRange(g.out[0], g.s[0], offD, g.in[0])
					hlo, hhi := winRange(oh, g.s[1], offH, g.in[1])
					for od := dlo; od < dhi; od++ {
						id := od*g.s[0] + offD
						for y := hlo; y < hhi; y++ {
							ih := y*g.s[1] + offH
							yr := dyp[(od*oh+y)*ow:][:ow]
							xr := dc[(id*g.in[1]+ih)*g.in[2]:][:g.in[2]]
							for o := wlo; o < whi; o++ {
								xr[o*sw+offW] += wv * yr[o]
							}
						}
					}
				})
			}
		}
	})
}

// convDepthwiseBackwardFilter computes the depthwise weight gradient, one
// output channel per task, summing over the batch.
func convDepthwiseBackwardFilter(ctx *Ctx, s *convShape, x, dy, dw []float32) {
	inSz, p, ks, mg := s.g.inSize(), s.g.outSize(), s.g.kSize(), s.mg()
	g := &s.g
	oh, ow, sw := g.out[1], g.out[2], g.s[2]
	crewFor(ctx, s.m, max(1, 1<<14/(s.n*ks*p+1)), func(lo, hi int) {
		for m := lo; m < hi; m++ {
			convTapLoop(g, func(tap, offD, offH, offW int) {
				wlo, whi := winRange(ow, sw, offW, g.in[2])
				dlo, dhi := winRange(g.out[0], g.s[0], offD, g.in[0])
				hlo, hhi := winRange(oh, g.s[1], offH, g.in[1])
				var acc float32
				for n := range s.n {
					xc := x[(n*s.c+m/mg)*inSz:][:inSz]
					dyp := dy[(n*s.m+m)*p:][:p]
					for od := dlo; od < dhi; od++ {
						id := od*g.s[0] + offD
						for y := hlo; y < hhi; y++ {
							ih := y*g.s[1] + offH
							yr := dyp[(od*oh+y)*ow:][:ow]
							xr := xc[(id*g.in[1]+ih)*g.in[2]:][:g.in[2]]
							for o := wlo; o < whi; o++ {
								acc += yr[o] * xr[o*sw+offW]
							}
						}
					}
				}
				dw[m*ks+tap] = acc
			})
		}
	})
}
