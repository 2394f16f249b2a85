package imaging

import (
	"fmt"
	"math"
)

// Filter selects how images are resampled during preprocessing.
type Filter int

const (
	// Bilinear is OpenCV's cv2.INTER_LINEAR: two taps per axis at
	// half-pixel centres, src = (dst+0.5)*in/out - 0.5, clamped at the
	// borders, and no antialiasing when shrinking. On upscaling it agrees
	// with PIL's BILINEAR.
	Bilinear Filter = iota
	// BilinearPIL is PIL's Image.resize with Image.BILINEAR (the filter of
	// torchvision's Resize on PIL images): a triangle filter whose support
	// is widened by the shrink factor when downscaling (antialiasing), and
	// equals Bilinear when upscaling.
	BilinearPIL
	// Area is OpenCV's cv2.INTER_AREA: the average over each output
	// pixel's footprint when shrinking; when enlarging, OpenCV's own
	// bilinear variant whose weights are the footprint overlaps.
	Area
	// Nearest picks the source pixel under each output pixel's centre,
	// src = floor((dst+0.5)*in/out), as PIL's Image.NEAREST (the default
	// of keras.utils.load_img) computes it.
	Nearest
)

var filterNames = map[Filter]string{Bilinear: "bilinear", BilinearPIL: "bilinear-pil", Area: "area", Nearest: "nearest"}

// String returns the filter's name as accepted by ParseFilter.
func (f Filter) String() string {
	if s, ok := filterNames[f]; ok {
		return s
	}
	return fmt.Sprintf("Filter(%d)", int(f))
}

// ParseFilter returns the filter with the given name: "bilinear",
// "bilinear-pil", "area" or "nearest".
func ParseFilter(name string) (Filter, error) {
	for f, s := range filterNames {
		if s == name {
			return f, nil
		}
	}
	return 0, fmt.Errorf("imaging: unknown filter %q (want bilinear, bilinear-pil, area or nearest)", name)
}

// pixels is an RGB image with float32 samples on the 0..255 scale, stored
// row-major with interleaved channels (HWC).
type pixels struct {
	w, h int
	pix  []float32
}

func newPixels(w, h int) pixels { return pixels{w, h, make([]float32, w*h*3)} }

// crop returns the sub-image with top-left corner (x0, y0) and size w x h.
func (p pixels) crop(x0, y0, w, h int) pixels {
	q := newPixels(w, h)
	for y := 0; y < h; y++ {
		copy(q.pix[y*w*3:(y+1)*w*3], p.pix[((y0+y)*p.w+x0)*3:((y0+y)*p.w+x0+w)*3])
	}
	return q
}

// window is the part of the resized image (of full size outW x outH) that
// is wanted: columns x0..x0+w-1, rows y0..y0+h-1.
type window struct{ outW, outH, x0, y0, w, h int }

// resample resizes p to win.outW x win.outH with filter f and returns the
// window win of the result. With quantize the results are integers in
// 0..255, computed with the fixed-point arithmetic the emulated library
// uses on 8-bit images (OpenCV's 11-bit coefficients for Bilinear and for
// enlarging with Area; PIL's 22-bit coefficients and 8-bit intermediate
// image for BilinearPIL); p must then hold integers.
func resample(p pixels, win window, f Filter, quantize bool) pixels {
	switch f {
	case Bilinear:
		tx := cv2LinearTaps(p.w, win.outW, true)
		ty := cv2LinearTaps(p.h, win.outH, false)
		return resampleCVLinear(p, win, tx, ty, quantize)
	case Area:
		sx, sy := float64(p.w)/float64(win.outW), float64(p.h)/float64(win.outH)
		if sx >= 1 && sy >= 1 {
			return resampleArea(p, win, quantize)
		}
		tx := cv2AreaLinearTaps(p.w, win.outW, true)
		ty := cv2AreaLinearTaps(p.h, win.outH, false)
		return resampleCVLinear(p, win, tx, ty, quantize)
	case BilinearPIL:
		tx := pilTaps(p.w, win.outW)
		ty := pilTaps(p.h, win.outH)
		return resamplePIL(p, win, tx, ty, quantize)
	case Nearest:
		return resampleNearest(p, win)
	}
	panic(fmt.Sprintf("imaging: unknown filter %v", f))
}

// cv2AreaLinearTaps computes the taps OpenCV's INTER_AREA uses when it
// does not shrink both axes (resize.cpp, "area_mode"): sx = floor(dx*in/out),
// fx = (dx+1) - (sx+1)*out/in, fx = 0 if fx <= 0 else fx - floor(fx); the
// weight fx goes to pixel sx+1. Border handling as in cv2LinearTaps.
func cv2AreaLinearTaps(in, out int, clampFrac bool) linearTaps {
	inv := float64(out) / float64(in)
	scale := 1 / inv
	t := linearTaps{make([]int, out), make([]int, out), make([]float32, out), make([]float32, out)}
	for d := 0; d < out; d++ {
		s := int(math.Floor(float64(d) * scale))
		f := float32(float64(d+1) - float64(s+1)*inv)
		if f <= 0 {
			f = 0
		} else {
			f -= float32(math.Floor(float64(f)))
		}
		if clampFrac {
			if s < 0 {
				s, f = 0, 0
			}
			if s >= in-1 {
				s, f = in-1, 0
			}
		}
		t.i0[d] = clampInt(s, 0, in-1)
		t.i1[d] = clampInt(s+1, 0, in-1)
		t.w0[d] = 1 - f
		t.w1[d] = f
	}
	return t
}

// resampleCVLinear applies two-tap separable linear taps the way OpenCV's
// generic resize does: a horizontal pass then a vertical one. In float
// mode products are rounded to float32 before adding. In quantized mode
// the weights become 11-bit fixed point (round(w*2048)), the horizontal
// pass keeps 8+11-bit integers, and the vertical pass combines rows as
// OpenCV's SIMD kernel (VResizeLinearVec_32s8u) does:
// ((r0>>4)*b0>>16 + (r1>>4)*b1>>16 + 2) >> 2.
func resampleCVLinear(p pixels, win window, tx, ty linearTaps, quantize bool) pixels {
	out := newPixels(win.w, win.h)
	if !quantize {
		rows := map[int][]float32{}
		hrow := func(y int) []float32 {
			if r, ok := rows[y]; ok {
				return r
			}
			r := make([]float32, win.w*3)
			s := p.pix[y*p.w*3 : (y+1)*p.w*3]
			for x := 0; x < win.w; x++ {
				i0, i1 := tx.i0[win.x0+x]*3, tx.i1[win.x0+x]*3
				a0, a1 := tx.w0[win.x0+x], tx.w1[win.x0+x]
				for c := 0; c < 3; c++ {
					r[x*3+c] = float32(s[i0+c]*a0) + float32(s[i1+c]*a1)
				}
			}
			rows[y] = r
			return r
		}
		for y := 0; y < win.h; y++ {
			r0, r1 := hrow(ty.i0[win.y0+y]), hrow(ty.i1[win.y0+y])
			b0, b1 := ty.w0[win.y0+y], ty.w1[win.y0+y]
			d := out.pix[y*win.w*3 : (y+1)*win.w*3]
			for i := range d {
				d[i] = float32(r0[i]*b0) + float32(r1[i]*b1)
			}
		}
		return out
	}
	fixed := func(w float32) int32 { return int32(math.RoundToEven(float64(w * 2048))) }
	rows := map[int][]int32{}
	hrow := func(y int) []int32 {
		if r, ok := rows[y]; ok {
			return r
		}
		r := make([]int32, win.w*3)
		s := p.pix[y*p.w*3 : (y+1)*p.w*3]
		for x := 0; x < win.w; x++ {
			i0, i1 := tx.i0[win.x0+x]*3, tx.i1[win.x0+x]*3
			a0, a1 := fixed(tx.w0[win.x0+x]), fixed(tx.w1[win.x0+x])
			for c := 0; c < 3; c++ {
				r[x*3+c] = int32(s[i0+c])*a0 + int32(s[i1+c])*a1
			}
		}
		rows[y] = r
		return r
	}
	for y := 0; y < win.h; y++ {
		r0, r1 := hrow(ty.i0[win.y0+y]), hrow(ty.i1[win.y0+y])
		b0, b1 := fixed(ty.w0[win.y0+y]), fixed(ty.w1[win.y0+y])
		d := out.pix[y*win.w*3 : (y+1)*win.w*3]
		for i := range d {
			v := ((r0[i]>>4)*b0>>16 + (r1[i]>>4)*b1>>16 + 2) >> 2
			d[i] = float32(clampInt(int(v), 0, 255))
		}
	}
	return out
}

// taps is a general separable filter along one axis: output index d reads
// source pixels start[d], start[d]+1, ... with weights w[d].
type taps struct {
	start []int
	w     [][]float64
}

// pilTaps computes the coefficients of PIL's BILINEAR resample
// (Pillow's Resample.c, precompute_coeffs): scale = in/out, the triangle
// filter's support is scale when shrinking and 1 otherwise; output pixel
// d is centred at (d+0.5)*scale and reads pixels from
// int(centre - support + 0.5) to int(centre + support + 0.5) with weights
// triangle((x - centre + 0.5)/max(scale,1)), normalised to sum 1.
func pilTaps(in, out int) taps {
	scale := float64(in) / float64(out)
	fscale := max(scale, 1)
	support := 1 * fscale
	t := taps{make([]int, out), make([][]float64, out)}
	for d := 0; d < out; d++ {
		centre := (float64(d) + 0.5) * scale
		xmin := max(int(centre-support+0.5), 0)
		xmax := min(int(centre+support+0.5), in)
		w := make([]float64, max(xmax-xmin, 0))
		sum := 0.0
		for i := range w {
			v := math.Abs((float64(i+xmin) - centre + 0.5) / fscale)
			if v < 1 {
				w[i] = 1 - v
			}
			sum += w[i]
		}
		if sum != 0 {
			for i := range w {
				w[i] /= sum
			}
		}
		t.start[d], t.w[d] = xmin, w
	}
	return t
}

// pilPrecision is the number of fractional bits of PIL's fixed-point
// coefficients for 8-bit images (32 - 8 - 2).
const pilPrecision = 22

// resamplePIL applies PIL-style taps: horizontal pass, then vertical. In
// quantized mode each pass works as Pillow's 8-bit path: coefficients
// rounded to 22-bit fixed point (away from zero), an accumulator starting
// at one half, and each pass's result clipped to 0..255 (so the
// intermediate image is 8-bit too).
func resamplePIL(p pixels, win window, tx, ty taps, quantize bool) pixels {
	needH := win.outW != p.w
	needV := win.outH != p.h
	var fx, fy [][]int32
	if quantize {
		fx, fy = fixedTaps(tx), fixedTaps(ty)
	}
	// Horizontal pass over the source rows that the window needs.
	y0 := ty.start[win.y0]
	y1 := ty.start[win.y0+win.h-1] + len(ty.w[win.y0+win.h-1])
	if !needV {
		y0, y1 = win.y0, win.y0+win.h
	}
	tmp := newPixels(win.w, y1-y0)
	for y := y0; y < y1; y++ {
		s := p.pix[y*p.w*3 : (y+1)*p.w*3]
		d := tmp.pix[(y-y0)*win.w*3 : (y-y0+1)*win.w*3]
		for x := 0; x < win.w; x++ {
			ox := win.x0 + x
			if !needH {
				copy(d[x*3:x*3+3], s[ox*3:ox*3+3])
				continue
			}
			st := tx.start[ox]
			for c := 0; c < 3; c++ {
				if quantize {
					acc := int32(1) << (pilPrecision - 1)
					for k, w := range fx[ox] {
						acc += int32(s[(st+k)*3+c]) * w
					}
					d[x*3+c] = clip8(acc)
				} else {
					acc := 0.0
					for k, w := range tx.w[ox] {
						acc += float64(s[(st+k)*3+c]) * w
					}
					d[x*3+c] = float32(acc)
				}
			}
		}
	}
	if !needV {
		return tmp
	}
	out := newPixels(win.w, win.h)
	for y := 0; y < win.h; y++ {
		oy := win.y0 + y
		st := ty.start[oy] - y0
		d := out.pix[y*win.w*3 : (y+1)*win.w*3]
		for i := range d {
			if quantize {
				acc := int32(1) << (pilPrecision - 1)
				for k, w := range fy[oy] {
					acc += int32(tmp.pix[(st+k)*win.w*3+i]) * w
				}
				d[i] = clip8(acc)
			} else {
				acc := 0.0
				for k, w := range ty.w[oy] {
					acc += float64(tmp.pix[(st+k)*win.w*3+i]) * w
				}
				d[i] = float32(acc)
			}
		}
	}
	return out
}

func fixedTaps(t taps) [][]int32 {
	f := make([][]int32, len(t.w))
	for d, ws := range t.w {
		f[d] = make([]int32, len(ws))
		for i, w := range ws {
			if w < 0 {
				f[d][i] = int32(-0.5 + w*(1<<pilPrecision))
			} else {
				f[d][i] = int32(0.5 + w*(1<<pilPrecision))
			}
		}
	}
	return f
}

func clip8(acc int32) float32 {
	v := acc >> pilPrecision
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return float32(v)
}

// areaTaps computes OpenCV's INTER_AREA footprint weights for shrinking
// one axis by scale = in/out >= 1 (resize.cpp, computeResizeAreaTab):
// output pixel d covers [d*scale, (d+1)*scale) of the source; each source
// pixel is weighted by its overlap divided by the footprint width (the
// last footprint is cut at the image edge), the weight rounded to float32.
func areaTaps(in, out int) taps {
	scale := 1 / (float64(out) / float64(in))
	t := taps{make([]int, out), make([][]float64, out)}
	for d := 0; d < out; d++ {
		f1 := float64(d) * scale
		f2 := f1 + scale
		cell := min(scale, float64(in)-f1)
		s2 := min(int(math.Floor(f2)), in-1)
		s1 := min(int(math.Ceil(f1)), s2)
		var w []float64
		start := s1
		if float64(s1)-f1 > 1e-3 {
			start = s1 - 1
			w = append(w, float64(float32((float64(s1)-f1)/cell)))
		}
		for s := s1; s < s2; s++ {
			w = append(w, float64(float32(1/cell)))
		}
		if f2-float64(s2) > 1e-3 {
			w = append(w, float64(float32(min(min(f2-float64(s2), 1), cell)/cell)))
		}
		t.start[d], t.w[d] = start, w
	}
	return t
}

// resampleArea shrinks p with INTER_AREA footprint averaging. Integer
// shrink factors use OpenCV's integer fast path (the sum over the block,
// divided with rounding: (sum+2)>>2 for 2x2 blocks, round(sum*(1/area))
// otherwise). Other factors accumulate as OpenCV's ResizeArea_Invoker
// does, in float32: each source row's weighted sum over the footprint
// columns, then the rows' sums weighted and added in source order; with
// quantize the result is rounded half to even.
func resampleArea(p pixels, win window, quantize bool) pixels {
	out := newPixels(win.w, win.h)
	ix, iy := p.w/win.outW, p.h/win.outH
	if ix*win.outW == p.w && iy*win.outH == p.h {
		area := ix * iy
		inv := float32(1) / float32(area)
		for y := 0; y < win.h; y++ {
			for x := 0; x < win.w; x++ {
				for c := 0; c < 3; c++ {
					sum := float32(0)
					for dy := 0; dy < iy; dy++ {
						row := ((win.y0+y)*iy + dy) * p.w
						for dx := 0; dx < ix; dx++ {
							sum += p.pix[(row+(win.x0+x)*ix+dx)*3+c]
						}
					}
					var v float32
					switch {
					case !quantize:
						v = sum / float32(area)
					case area == 4 && ix == 2:
						v = float32((int(sum) + 2) >> 2)
					default:
						v = float32(math.RoundToEven(float64(sum * inv)))
					}
					out.pix[(y*win.w+x)*3+c] = v
				}
			}
		}
		return out
	}
	tx, ty := areaTaps(p.w, win.outW), areaTaps(p.h, win.outH)
	for y := 0; y < win.h; y++ {
		oy := win.y0 + y
		for x := 0; x < win.w; x++ {
			ox := win.x0 + x
			for c := 0; c < 3; c++ {
				var sum float32
				for ky, wy := range ty.w[oy] {
					row := (ty.start[oy] + ky) * p.w
					var buf float32
					for kx, wx := range tx.w[ox] {
						buf += float32(p.pix[(row+tx.start[ox]+kx)*3+c] * float32(wx))
					}
					sum += float32(float32(wy) * buf)
				}
				if quantize {
					sum = float32(math.Max(0, math.Min(255, math.RoundToEven(float64(sum)))))
				}
				out.pix[(y*win.w+x)*3+c] = sum
			}
		}
	}
	return out
}

// resampleNearest picks the source pixel under each output pixel centre
// as PIL's NEAREST resize does (Pillow's ImagingScaleAffine): the centre
// of output pixel 0 is at 0.5*scale, and each next one is found by adding
// scale = in/out in float64, which rounds slightly differently from
// (d+0.5)*scale; the index is the centre truncated.
func resampleNearest(p pixels, win window) pixels {
	out := newPixels(win.w, win.h)
	index := func(in, out int) []int {
		s := float64(in) / float64(out)
		idx := make([]int, out)
		c := s * 0.5
		for d := range idx {
			idx[d] = clampInt(int(c), 0, in-1)
			c += s
		}
		return idx
	}
	ix, iy := index(p.w, win.outW), index(p.h, win.outH)
	for y := 0; y < win.h; y++ {
		sy := iy[win.y0+y]
		for x := 0; x < win.w; x++ {
			sx := ix[win.x0+x]
			copy(out.pix[(y*win.w+x)*3:(y*win.w+x)*3+3], p.pix[(sy*p.w+sx)*3:(sy*p.w+sx)*3+3])
		}
	}
	return out
}
