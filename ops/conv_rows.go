package ops

import "github.com/gradcam/gradcam/gemm"

// The "rows" path of the forward convolution: a 2-D convolution with unit
// strides multiplies its packed weights by the input read in place, with
// no im2col. Each input plane is copied once into a zero-padded plane of
// rs = ow + dw*(kw-1) columns; numbering the output positions along rows
// of the same width (i = oy*rs + ox, where ox >= ow are extra positions
// computed and dropped), row (c, kh, kw) of the unfolded input is the
// padded plane c read from offset c*plane + kh*dh*rs + kw*dw. gemm.SgemmRows
// multiplies by those rows directly; the result is then copied to the
// output without the extra columns, adding the residual and clamping.
//
// Compared with im2col + product, this trades the unfolded copy (kh*kw
// times the input, written then packed) for a padded copy of the input and
// rs/ow times the columns (3% more at 56x56, 29% at 7x7, where the 32-wide
// tiles waste as much on the compact layout anyway).

// convRowsOK reports whether convForward takes the rows path for s: a
// 2-D window of more than one tap with unit strides, on rows wide enough.
func convRowsOK(s *convShape) bool {
	g := &s.g
	if g.in[0] != 1 || g.k[0] != 1 || g.out[0] != 1 || g.s[1] != 1 || g.s[2] != 1 || g.k[1]*g.k[2] == 1 {
		return false
	}
	// The extra columns cost more than the unfolding saves when they
	// are more than about 1/14 of the row (measured on ResNet50, one
	// thread: 16% faster at 56x56, 3% at 28x28, 9% slower at 14x14).
	_, rs, _ := convRowsLayout(g)
	return (rs-g.out[2])*14 <= rs
}

// convRowsLayout returns the padded plane geometry of the rows path:
// ph rows of rs columns, and the n columns of the product.
func convRowsLayout(g *winGeom) (ph, rs, n int) {
	ph = g.in[1] + g.pb[1] + g.pe[1]
	rs = g.in[2] + g.pb[2] + g.pe[2]
	return ph, rs, (g.out[1]-1)*rs + g.out[2]
}

// convRowsOffsets returns the row offsets of the unfolded input of cg
// channels in padded planes of ph x rs.
func convRowsOffsets(g *winGeom, cg, ph, rs int) []int32 {
	offs := make([]int32, 0, cg*g.k[1]*g.k[2])
	for c := range cg {
		for kh := range g.k[1] {
			for kw := range g.k[2] {
				offs = append(offs, int32(c*ph*rs+kh*g.d[1]*rs+kw*g.d[2]))
			}
		}
	}
	return offs
}

// convForwardRows is convForward on the rows path (see convRowsOK), for
// weights packed per group in ep.packed.
func convForwardRows(ctx *Ctx, s *convShape, x, y []float32, ep *convEpilogue) {
	g := &s.g
	cg, mg := s.cg(), s.mg()
	ih, iw := g.in[1], g.in[2]
	oh, ow := g.out[1], g.out[2]
	pt, pl := g.pb[1], g.pb[2]
	ph, rs, n := convRowsLayout(g)
	plane := ph * rs
	offs := convRowsOffsets(g, cg, ph, rs)
	p := oh * ow
	threads := ctx.threadCount()
	padBuf, outBuf := getScratch(cg*plane), getScratch(mg*n)
	defer putScratch(padBuf)
	defer putScratch(outBuf)
	pad, out := *padBuf, *outBuf
	for img := range s.n {
		for gr := range s.group {
			xg := x[(img*s.c+gr*cg)*ih*iw:][:cg*ih*iw]
			crewFor(ctx, cg, max(1, 1<<14/plane), func(lo, hi int) {
				for c := lo; c < hi; c++ {
					dst := pad[c*plane : (c+1)*plane]
					src := xg[c*ih*iw : (c+1)*ih*iw]
					clear(dst[:pt*rs])
					for r := range ih {
						d := dst[(pt+r)*rs : (pt+r+1)*rs]
						clear(d[:pl])
						copy(d[pl:pl+iw], src[r*iw:(r+1)*iw])
						clear(d[pl+iw:])
					}
					clear(dst[(pt+ih)*rs:])
				}
			})
			m0 := gr * mg
			opt := gemm.Options{Threads: 1}
			if ep.residual == nil {
				opt.Clamp, opt.Min, opt.Max = ep.clamp, ep.lo, ep.hi
			}
			pa := ep.packed[gr]
			b := pad[:cg*plane]
			c := out[:mg*n]
			switch {
			case threads <= 1 || mg*n*len(offs) < 1<<19:
				if ep.bias != nil {
					opt.RowBias = ep.bias[m0 : m0+mg]
				}
				gemm.SgemmRows(pa, offs, n, b, 0, c, n, &opt)
			case (n+31)/32 >= 4*threads:
				// Columns, in whole 32-wide tiles: the threads share
				// the weights.
				per := ((n+threads-1)/threads + 31) / 32 * 32
				crew.do((n+per-1)/per, threads-1, func(i int) {
					j0, j1 := i*per, min((i+1)*per, n)
					o := opt
					if ep.bias != nil {
						o.RowBias = ep.bias[m0 : m0+mg]
					}
					gemm.SgemmRows(pa, offs, j1-j0, b[j0:], 0, c[j0:], n, &o)
				})
			default:
				// Rows, so that each thread reads only its share of
				// the weights (megabytes in the deep layers).
				parts, bounds := alignedParts(mg, threads, pa.RowAlign())
				crew.do(parts, threads-1, func(i int) {
					r0, r1 := bounds(i)
					if r0 >= r1 {
						return
					}
					o := opt
					if ep.bias != nil {
						o.RowBias = ep.bias[m0+r0 : m0+r1]
					}
					gemm.SgemmRows(pa.Rows(r0, r1), offs, n, b, 0, c[r0*n:], n, &o)
				})
			}
			yg := y[(img*s.m+m0)*p:][:mg*p]
			var rg []float32
			if ep.residual != nil {
				rg = ep.residual[(img*s.m+m0)*p:][:mg*p]
			}
			crewFor(ctx, mg, max(1, 1<<14/p), func(lo, hi int) {
				for m := lo; m < hi; m++ {
					for oy := range oh {
						src := out[m*n+oy*rs:][:ow]
						dst := yg[m*p+oy*ow:][:ow]
						if rg == nil {
							copy(dst, src)
							continue
						}
						convStoreRow(dst, src, rg[m*p+oy*ow:][:ow], ep)
					}
				}
			})
		}
	}
}
