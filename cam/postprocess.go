package cam

import (
	"math"
)

// minMaxEps is the epsilon pytorch-grad-cam's scale_cam_image adds to the
// maximum: img = img - min(img); img = img / (max(img) + 1e-7).
const minMaxEps = 1e-7

// relu sets the negative values of v to zero in place.
func relu(v []float32) {
	for i, x := range v {
		if x < 0 {
			v[i] = 0
		}
	}
}

// minMax normalises v in place as pytorch-grad-cam's scale_cam_image does:
// v = (v - min) / (max - min + eps), in float64; a constant map becomes
// all zeros. The minimum and maximum come from plain comparisons in one
// pass. They agree with NumPy's (and math.Min's) except on NaN, which
// makes every value NaN here, and on signed zeros: NumPy's minimum is -0
// when a -0 is among the smallest values, which decides the sign of a
// zero result (-0 - +0 = -0). Subtracting -0 instead whenever the minimum
// is a zero gives the same bits, since x - (-0) = x - (+0) for every x
// but -0, and a -0 present makes the minimum -0; the maximum's sign never
// shows after adding eps. TestMinMax checks the bits against math.Min.
func minMax(v []float32, eps float64) {
	lo, d, ok := minMaxRange(v, eps)
	if !ok {
		for i := range v {
			v[i] = float32(math.NaN())
		}
		return
	}
	for i, x := range v {
		v[i] = float32((float64(x) - lo) / d)
	}
}

// minMaxRange returns what minMax subtracts from every value of v and
// divides it by, or ok false when v holds a NaN (or is empty).
func minMaxRange(v []float32, eps float64) (lo64, d float64, ok bool) {
	if len(v) == 0 {
		return 0, 0, false
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		if x >= lo {
			if x > hi {
				hi = x
			}
		} else if x < lo {
			lo = x
		} else {
			return 0, 0, false // x or lo is NaN
		}
	}
	lo64, d = minMaxShift(lo, hi, eps)
	return lo64, d, true
}

// minMaxShift returns what minMax subtracts and divides by for the least
// value lo and the greatest hi: lo (-0 when it is a zero, see minMax) and
// hi - lo + eps.
func minMaxShift(lo, hi float32, eps float64) (lo64, d float64) {
	lo64 = float64(lo)
	if lo == 0 {
		lo64 = math.Copysign(0, -1)
	}
	return lo64, float64(hi) - lo64 + eps
}

// axisWeights holds, for every destination index along one axis, the two
// source indices and the weight of the second.
type axisWeights struct {
	i0, i1 []int
	f      []float32
}

// halfPixelWeights returns the sampling positions of OpenCV's INTER_LINEAR
// resize (cv::resize, the reference's cv2.resize) along one axis of n
// source samples resized to m: src = (dst + 0.5) * n/m - 0.5, clamped to
// the first and last sample.
func halfPixelWeights(n, m int) axisWeights {
	w := axisWeights{i0: make([]int, m), i1: make([]int, m), f: make([]float32, m)}
	scale := float64(n) / float64(m)
	for d := 0; d < m; d++ {
		s := (float64(d)+0.5)*scale - 0.5
		i := int(math.Floor(s))
		f := s - float64(i)
		if i < 0 {
			i, f = 0, 0
		}
		if i >= n-1 {
			i, f = n-1, 0
		}
		j := min(i+1, n-1)
		w.i0[d], w.i1[d], w.f[d] = i, j, float32(f)
	}
	return w
}

// alignCornersWeights returns the sampling positions of bilinear
// upsampling with aligned corners (PyTorch's UpsamplingBilinear2d, which
// Score-CAM uses): src = dst * (n-1)/(m-1).
func alignCornersWeights(n, m int) axisWeights {
	w := axisWeights{i0: make([]int, m), i1: make([]int, m), f: make([]float32, m)}
	scale := 0.0
	if m > 1 {
		scale = float64(n-1) / float64(m-1)
	}
	for d := 0; d < m; d++ {
		s := float64(d) * scale
		i := int(math.Floor(s))
		if i > n-1 {
			i = n - 1
		}
		f := s - float64(i)
		j := min(i+1, n-1)
		w.i0[d], w.i1[d], w.f[d] = i, j, float32(f)
	}
	return w
}

// resizer resamples h x w maps to H x W with separable bilinear weights.
type resizer struct {
	h, w, H, W int
	ys, xs     axisWeights
	ey, ex     []int // axisWeights.edges of ys and xs, made by extremes
}

func newResizer(h, w, H, W int, alignCorners bool) *resizer {
	r := &resizer{h: h, w: w, H: H, W: W}
	if alignCorners {
		r.ys, r.xs = alignCornersWeights(h, H), alignCornersWeights(w, W)
	} else {
		r.ys, r.xs = halfPixelWeights(h, H), halfPixelWeights(w, W)
	}
	return r
}

// edges returns the destination indices where the source interval changes
// along one axis: the first and last of each run of equal i0.
func (a axisWeights) edges() []int {
	var e []int
	for d, i := range a.i0 {
		if d == 0 || d == len(a.i0)-1 || i != a.i0[d-1] || i != a.i0[d+1] {
			e = append(e, d)
		}
	}
	return e
}

// extremes returns the least and greatest values of src resized (see
// resize) at the rows and columns where the source interval changes,
// computed as resize computes them, or ok false when src holds a NaN.
func (r *resizer) extremes(src []float32) (lo, hi float32, ok bool) {
	for _, v := range src {
		if v != v {
			return 0, 0, false
		}
	}
	if r.ey == nil {
		r.ey, r.ex = r.ys.edges(), r.xs.edges()
	}
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	for _, y := range r.ey {
		a, b, fy := src[r.ys.i0[y]*r.w:][:r.w], src[r.ys.i1[y]*r.w:][:r.w], r.ys.f[y]
		for _, x := range r.ex {
			i0, i1 := r.xs.i0[x], r.xs.i1[x]
			p := a[i0] + fy*(b[i0]-a[i0])
			q := a[i1] + fy*(b[i1]-a[i1])
			v := p + r.xs.f[x]*(q-p)
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return lo, hi, true
}

// resize writes the resampled src (h*w, row-major) into dst (H*W).
func (r *resizer) resize(dst, src []float32) {
	row := make([]float32, r.w) // src row interpolated vertically
	for y := 0; y < r.H; y++ {
		a, b, fy := src[r.ys.i0[y]*r.w:][:r.w], src[r.ys.i1[y]*r.w:][:r.w], r.ys.f[y]
		for x := range row {
			row[x] = a[x] + fy*(b[x]-a[x])
		}
		out := dst[y*r.W:][:r.W]
		for x := range out {
			p, q := row[r.xs.i0[x]], row[r.xs.i1[x]]
			out[x] = p + r.xs.f[x]*(q-p)
		}
	}
}

// resizeHalfPixel returns src (h x w) resized to H x W as cv2.resize with
// INTER_LINEAR does.
func resizeHalfPixel(src []float32, h, w, H, W int) []float32 {
	dst := make([]float32, H*W)
	if h == H && w == W {
		copy(dst, src)
		return dst
	}
	newResizer(h, w, H, W, false).resize(dst, src)
	return dst
}

// finishLayerMap turns one layer's raw map (h x w) into its contribution
// at input resolution, pytorch-grad-cam's compute_cam_per_layer: ReLU,
// min-max normalisation at feature resolution, bilinear resize, ReLU.
func finishLayerMap(raw []float32, h, w, H, W int) []float32 {
	m := append([]float32(nil), raw...)
	relu(m)
	minMax(m, minMaxEps)
	out := resizeHalfPixel(m, h, w, H, W)
	relu(out)
	return out
}

// fuseLayers averages the per-layer maps and normalises the result, as
// pytorch-grad-cam's aggregate_multi_layers does. A single map is the
// average of itself (x/1 = x) and is normalised in place.
func fuseLayers(maps [][]float32) []float32 {
	if len(maps) == 1 {
		minMax(maps[0], minMaxEps)
		return maps[0]
	}
	out := make([]float32, len(maps[0]))
	for i := range out {
		var s float64
		for _, m := range maps {
			s += float64(m[i])
		}
		out[i] = float32(s / float64(len(maps)))
	}
	minMax(out, minMaxEps)
	return out
}

// Deprocess turns a guided-backpropagation image (H x W x 3 floats of any
// scale) into 8-bit pixels the way pytorch-grad-cam's deprocess_image
// does (after Keras Grad-CAM): standardise over all values (population
// standard deviation plus 1e-5), scale by 0.1, shift by 0.5, clip to
// [0, 1] and truncate v*255 to an integer.
func Deprocess(img []float32) []uint8 {
	out := make([]uint8, len(img))
	if len(img) == 0 {
		return out
	}
	var mean float64
	for _, v := range img {
		mean += float64(v)
	}
	mean /= float64(len(img))
	var ss float64
	for _, v := range img {
		d := float64(v) - mean
		ss += d * d
	}
	std := math.Sqrt(ss / float64(len(img)))
	for i, v := range img {
		// Computed in float32 like the reference's numpy float32 arrays.
		y := (float32(v) - float32(mean)) / (float32(std) + 1e-5)
		y = y*0.1 + 0.5
		y = min(max(y, 0), 1)
		out[i] = uint8(y * 255)
	}
	return out
}
