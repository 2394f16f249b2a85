//go:build !amd64 || purego

package ops

// vmax2 sets dst[i] = max(a[i], b[i]) for every i of dst, ignoring a NaN
// in a (b's value is kept when either is NaN). a and b have at least
// len(dst) elements; dst may be a or b.
func vmax2(dst, a, b []float32) { vmax2Go(dst, a, b) }

// evens sets dst[i] = src[2*i] for every i of dst; src has at least
// 2*len(dst)-1 elements.
func evens(dst, src []float32) { evensGo(dst, src) }

// evensRowsVec reports false: there is no vector kernel.
func evensRowsVec(dst, src []float32, rows, n, dstStride, srcStride int) bool { return false }

// axpy sets y[i] += a*x[i] for every i of y (x has at least len(y)
// elements), rounding the product before the sum.
func axpy(y, x []float32, a float32) { axpyGo(y, x, a) }

// sum64 returns the sum of x in float64.
func sum64(x []float32) float64 { return sum64Go(x) }

// axpyRows does axpy on rows rows of n elements, y's rows ldy floats
// apart and x's ldx apart.
func axpyRows(y []float32, ldy int, x []float32, ldx int, a float32, rows, n int) {
	for r := range max(rows, 0) {
		axpyGo(y[r*ldy:r*ldy+n], x[r*ldx:], a)
	}
}

// clamp sets v[i] = min(max(v[i], lo), hi) for every i of v; a NaN stays
// NaN.
func clamp(v []float32, lo, hi float32) { clampGo(v, lo, hi) }
