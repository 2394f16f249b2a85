package ops

// Depthwise convolution (one input channel per group, as in MobileNet and
// EfficientNet): direct kernels for the forward pass and both gradients.
// The rest of Conv is in conv.go.

// convDepthwiseForward is the direct kernel for one input channel per
// group: output channel m reads input channel m/mg only. It computes one
// output row at a time into a row buffer that stays in the L1 cache, then
// applies the epilogue while storing the row. 3x3 windows with unit
// dilation, stride 1 or 2 and padding of at most 1 (every depthwise layer
// of MobileNet V1/V2) take a faster path (convDepthwise3x3Plane).
func convDepthwiseForward(ctx *Ctx, s *convShape, x, w, y []float32, ep *convEpilogue) {
	inSz, p, ks, mg := s.g.inSize(), s.g.outSize(), s.g.kSize(), s.mg()
	g := &s.g
	fast := dw3x3OK(g)
	rowLen := g.out[2]
	if fast {
		rowLen = dw3x3Scratch(g)
	}
	crewFor(ctx, s.n*s.m, max(1, 1<<14/(ks*p+1)), func(lo, hi int) {
		buf := getScratch(rowLen)
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
			if fast {
				convDepthwise3x3Plane(g, xc, wm, b, rp, yp, ep, *buf)
				continue
			}
			convDepthwisePlane(g, xc, wm, b, rp, yp, ep, *buf)
		}
	})
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

// dw3x3Layout returns how convDepthwise3x3Plane lays out one plane: the
// zero-padded input plane has rows rows of rs elements; nv is the number
// of outputs of each dwRow9 call (rounded up to the vector width of
// dwRow9, so that it has no scalar tail; the extra outputs are dropped)
// and size the length of the padded plane with room for every read.
func dw3x3Layout(g *winGeom) (rows, rs, nv, size int) {
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

// dw3x3Scratch is the scratch convDepthwise3x3Plane needs: the padded
// input plane and the outputs of one dwRow9 call.
func dw3x3Scratch(g *winGeom) int {
	_, _, nv, size := dw3x3Layout(g)
	return size + nv
}

// convDepthwise3x3Plane computes one output plane of a 3x3 depthwise
// convolution (see dw3x3OK). The input is first copied into a zero-padded
// plane whose rows are rs apart, so that tap (kh, kw) of the output
// computed at index i reads index i + kh*rs + kw: a fixed offset per tap,
// and every output is nine contiguous multiply-adds (dwRow9). With
// stride 1 (rs = ow+2) the whole plane is one dwRow9 call at i = oy*rs+ox
// (the outputs at ox >= ow are computed and dropped). With stride 2 each
// output row is computed at full resolution from row 2*oy of the padded
// plane and every other value kept: twice the multiply-adds, but no
// de-interleaving of the input.
func convDepthwise3x3Plane(g *winGeom, xc, wm []float32, b float32, rp, yp []float32, ep *convEpilogue, buf []float32) {
	ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
	pt, pl := g.pb[1], g.pb[2]
	rows, rs, nv, size := dw3x3Layout(g)
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

// convDepthwiseBackwardData scatters dy back through the depthwise kernel;
// work is split by input plane so that no two goroutines write one.
func convDepthwiseBackwardData(ctx *Ctx, s *convShape, dy, w, dx []float32) {
	inSz, p, ks, mg := s.g.inSize(), s.g.outSize(), s.g.kSize(), s.mg()
	g := &s.g
	oh, ow, sw := g.out[1], g.out[2], g.s[2]
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
