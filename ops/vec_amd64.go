//go:build amd64 && !purego

package ops

// vmax2AVX2 sets dst[i] = max(a[i], b[i]) for n (a multiple of 8)
// elements.
//
//go:noescape
func vmax2AVX2(dst, a, b *float32, n int)

// axpyAVX2 sets y[i] += a*x[i] for n (a multiple of 8) elements.
//
//go:noescape
func axpyAVX2(y, x *float32, a float32, n int)

// axpyRowsAVX2 sets y[r*ldy+i] += a*x[r*ldx+i] for rows rows of n (a
// multiple of 8) elements, the strides in floats.
//
//go:noescape
func axpyRowsAVX2(y *float32, ldy int, x *float32, ldx int, a float32, rows, n int)

// clampAVX2 sets v[i] = min(max(v[i], lo), hi) for n (a multiple of 8)
// elements; a NaN stays NaN.
//
//go:noescape
func clampAVX2(v *float32, n int, lo, hi float32)

// axpyRows does axpy on rows rows of n elements, y's rows ldy floats
// apart and x's ldx apart.
func axpyRows(y []float32, ldy int, x []float32, ldx int, a float32, rows, n int) {
	if rows <= 0 || n <= 0 {
		return
	}
	_ = y[(rows-1)*ldy+n-1]
	_ = x[(rows-1)*ldx+n-1]
	done := 0
	if useDwAVX2 && n >= 8 {
		done = n &^ 7
		axpyRowsAVX2(&y[0], ldy, &x[0], ldx, a, rows, done)
	}
	if done < n {
		for r := range rows {
			axpyGo(y[r*ldy+done:r*ldy+n], x[r*ldx+done:], a)
		}
	}
}

// clamp sets v[i] = min(max(v[i], lo), hi) for every i of v; a NaN stays
// NaN.
func clamp(v []float32, lo, hi float32) {
	done := 0
	if useDwAVX2 && len(v) >= 8 {
		done = len(v) &^ 7
		clampAVX2(&v[0], done, lo, hi)
	}
	clampGo(v[done:], lo, hi)
}

// axpy sets y[i] += a*x[i] for every i of y (x has at least len(y)
// elements), rounding the product before the sum.
func axpy(y, x []float32, a float32) {
	n := len(y)
	done := 0
	if useDwAVX2 && n >= 8 {
		done = n &^ 7
		axpyAVX2(&y[0], &x[:n][0], a, done)
	}
	axpyGo(y[done:], x[done:n], a)
}

// evensAVX512 sets dst[i] = src[2*i] for n elements, reading src[0, 2n-1).
//
//go:noescape
func evensAVX512(dst, src *float32, n int)

// vmax2 sets dst[i] = max(a[i], b[i]) for every i of dst, ignoring a NaN
// in a (b's value is kept when either is NaN). a and b have at least
// len(dst) elements; dst may be a or b.
func vmax2(dst, a, b []float32) {
	n := len(dst)
	done := 0
	if useDwAVX2 && n >= 8 {
		done = n &^ 7
		vmax2AVX2(&dst[0], &a[:n][0], &b[:n][0], done)
	}
	vmax2Go(dst[done:], a[done:n], b[done:n])
}

// evens sets dst[i] = src[2*i] for every i of dst; src has at least
// 2*len(dst)-1 elements.
func evens(dst, src []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	if useDwAVX512 {
		// Whole vectors read 32 elements per 16 outputs, the rest only
		// what they need: 2n-1 in all.
		evensAVX512(&dst[0], &src[:2*n-1][0], n)
		return
	}
	done := 0
	if useDwAVX2 && n > 8 {
		// Whole vectors read 16 elements per 8 outputs: those that end
		// within the 2n-1 there are.
		done = (n - 1) &^ 7
		evensAVX2(&dst[0], &src[:2*done][0], done)
	}
	evensGo(dst[done:], src[2*done:])
}

// evensRowsVec is evensRows on the AVX2 kernel, where it is the one
// evens takes; it reports false, doing nothing, elsewhere.
func evensRowsVec(dst, src []float32, rows, n, dstStride, srcStride int) bool {
	if !useDwAVX2 || useDwAVX512 {
		return false
	}
	// Whole vectors read 16 elements per 8 outputs: those that end
	// within the 2n-1 there are (see evens).
	vec := 0
	if n > 8 {
		vec = (n - 1) &^ 7
	}
	evensRowsAVX2(&dst[0], &src[0], rows, n, vec, dstStride, srcStride)
	return true
}

// evensRowsAVX2 is evensRows with AVX2 (vec outputs of a row in whole
// vectors).
//
//go:noescape
func evensRowsAVX2(dst, src *float32, rows, n, vec, dstStride, srcStride int)

// evensAVX2 sets dst[i] = src[2i] for i in [0, n), n a multiple of 8,
// reading 2n elements of src.
//
//go:noescape
func evensAVX2(dst, src *float32, n int)

// sum64AVX512 returns the sum of x[0, n) in float64.
//
//go:noescape
func sum64AVX512(x *float32, n int) float64

// sum64 returns the sum of x in float64: with AVX-512, eight lanes of
// partial sums in each of two vectors, then the lanes added pairwise (one chain of
// dependent additions took 46 us for MobileNetV2's 1280 planes of 49 on
// one thread, four chains 35 us). Float64 holds the sum of a plane of
// float32 values exactly unless their magnitudes span more than about
// 29 binary orders, so the order rarely changes the float32 result.
func sum64(x []float32) float64 {
	switch {
	case useDwAVX512 && len(x) > 0:
		return sum64AVX512(&x[0], len(x))
	case useDwAVX2 && len(x) >= 8:
		// Whole vectors in the assembly (four lanes in each of two
		// vectors), the last len(x)%8 values after them.
		n := len(x) &^ 7
		return sum64AVX2(&x[0], n) + sum64Go(x[n:])
	}
	return sum64Go(x)
}

// sum64AVX2 returns the sum of x[0, n) in float64, n a multiple of 8.
//
//go:noescape
func sum64AVX2(x *float32, n int) float64
