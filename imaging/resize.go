package imaging

import (
	"fmt"
	"math"
)

// linearTaps holds, for each output index along one axis, the two source
// indices and the two weights of a linear interpolation.
type linearTaps struct {
	i0, i1 []int
	w0, w1 []float32
}

// cv2LinearTaps computes the taps of OpenCV's INTER_LINEAR resize (its
// resize.cpp, as measured against cv2 4.6): src = (dst+0.5)*in/out - 0.5,
// evaluated in double and rounded to float; i0 = floor(src), w1 = src - i0,
// w0 = 1 - w1, all in float32. With clampFrac (OpenCV's horizontal pass) a
// source position left of pixel 0 or right of pixel in-1 snaps to that
// pixel with weight 1; without it (OpenCV's vertical pass) the fraction is
// kept and only the indices are clipped, which gives slightly different
// float rounding at the borders.
func cv2LinearTaps(in, out int, clampFrac bool) linearTaps {
	scale := 1 / (float64(out) / float64(in))
	return affineLinearTaps(in, out, scale, 0, clampFrac)
}

// affineLinearTaps is cv2LinearTaps for the map src = (dst+0.5)*scale -
// 0.5 + offset.
func affineLinearTaps(in, out int, scale, offset float64, clampFrac bool) linearTaps {
	t := linearTaps{make([]int, out), make([]int, out), make([]float32, out), make([]float32, out)}
	for d := 0; d < out; d++ {
		f := float32((float64(d)+0.5)*scale - 0.5 + offset)
		s := int(math.Floor(float64(f)))
		f -= float32(s)
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

// alignCornersTaps computes the taps of bilinear interpolation with
// align_corners=True (PyTorch's F.interpolate, TF's resize with
// align_corners): src = dst*(in-1)/(out-1), the scale held in float32.
func alignCornersTaps(in, out int) linearTaps {
	t := linearTaps{make([]int, out), make([]int, out), make([]float32, out), make([]float32, out)}
	var scale float32
	if out > 1 {
		scale = float32(in-1) / float32(out-1)
	}
	for d := 0; d < out; d++ {
		src := scale * float32(d)
		s := min(int(src), in-1)
		f := src - float32(s)
		t.i0[d] = s
		t.i1[d] = min(s+1, in-1)
		t.w0[d] = 1 - f
		t.w1[d] = f
	}
	return t
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// ResizeBilinear resizes the single-channel row-major h x w map src to
// outH x outW with bilinear interpolation, computed in float32.
//
// With alignCorners false it follows OpenCV's cv2.resize INTER_LINEAR on
// float32 data exactly (the rule pytorch-grad-cam uses to upscale a CAM to
// the input size): src = (dst+0.5)*in/out - 0.5, clamped at the borders;
// a horizontal pass, then a vertical one. With alignCorners true the
// corner pixels of input and output coincide: src = dst*(in-1)/(out-1),
// as PyTorch's F.interpolate(mode="bilinear", align_corners=True).
//
// It panics if len(src) != h*w or a size is not positive.
func ResizeBilinear(src []float32, h, w, outH, outW int, alignCorners bool) []float32 {
	if h <= 0 || w <= 0 || outH <= 0 || outW <= 0 {
		panic(fmt.Sprintf("imaging: ResizeBilinear %dx%d -> %dx%d: sizes must be positive", h, w, outH, outW))
	}
	if len(src) != h*w {
		panic(fmt.Sprintf("imaging: ResizeBilinear: %d values for a %dx%d map", len(src), h, w))
	}
	var tx, ty linearTaps
	if alignCorners {
		tx, ty = alignCornersTaps(w, outW), alignCornersTaps(h, outH)
	} else {
		tx, ty = cv2LinearTaps(w, outW, true), cv2LinearTaps(h, outH, false)
	}
	return resizeLinear1(src, h, w, tx, ty)
}

// resizeLinear1 applies separable linear taps to a single-channel map:
// first along rows (tx), then along columns (ty). Products are rounded to
// float32 before they are added (no fused multiply-add), as OpenCV's
// baseline build computes them.
func resizeLinear1(src []float32, h, w int, tx, ty linearTaps) []float32 {
	outW, outH := len(tx.i0), len(ty.i0)
	// Horizontal pass over the source rows that are used.
	rows := make([][]float32, h)
	hrow := func(y int) []float32 {
		if rows[y] == nil {
			r := make([]float32, outW)
			s := src[y*w : (y+1)*w]
			for x := range r {
				r[x] = float32(s[tx.i0[x]]*tx.w0[x]) + float32(s[tx.i1[x]]*tx.w1[x])
			}
			rows[y] = r
		}
		return rows[y]
	}
	dst := make([]float32, outH*outW)
	for y := 0; y < outH; y++ {
		r0, r1 := hrow(ty.i0[y]), hrow(ty.i1[y])
		b0, b1 := ty.w0[y], ty.w1[y]
		d := dst[y*outW : (y+1)*outW]
		for x := range d {
			d[x] = float32(r0[x]*b0) + float32(r1[x]*b1)
		}
	}
	return dst
}
