package ops

// vmax2Go is vmax2 in Go, with the same treatment of NaN as the VMAXPS
// instruction: b[i] unless a[i] > b[i].
func vmax2Go(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		if a[i] > b[i] {
			dst[i] = a[i]
		} else {
			dst[i] = b[i]
		}
	}
}

// evensRows does evens on rows rows of n outputs, the rows of dst
// dstStride floats apart and those of src srcStride apart: one call where
// evens would take one a row (the stride-2 unfold splits short rows).
func evensRows(dst, src []float32, rows, n, dstStride, srcStride int) {
	if rows <= 0 || n <= 0 {
		return
	}
	// Bounds the kernels rely on: the last row's outputs and the 2n-1
	// values it reads.
	_ = dst[(rows-1)*dstStride+n-1]
	_ = src[(rows-1)*srcStride+2*n-2]
	if evensRowsVec(dst, src, rows, n, dstStride, srcStride) {
		return
	}
	for r := range rows {
		evens(dst[r*dstStride:r*dstStride+n], src[r*srcStride:])
	}
}

// evensGo is evens in Go.
func evensGo(dst, src []float32) {
	for i := range dst {
		dst[i] = src[2*i]
	}
}

// axpyGo is axpy in Go.
func axpyGo(y, x []float32, a float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// clampGo is clamp in Go.
func clampGo(v []float32, lo, hi float32) {
	for i, u := range v {
		if u < lo {
			v[i] = lo
		} else if u > hi {
			v[i] = hi
		}
	}
}

// AxpyRows sets y[r*ldy+i] += a*x[r*ldx+i] for r in [0, rows) and i in
// [0, n): a times an n-wide block of x added to one of y, the rows of each
// ldy and ldx floats apart. The product is rounded before the sum on
// every path (no fused multiply-add), so the results do not depend on the
// kernel.
func AxpyRows(y []float32, ldy int, x []float32, ldx int, a float32, rows, n int) {
	axpyRows(y, ldy, x, ldx, a, rows, n)
}

// Clamp sets v[i] to lo where it is below lo and to hi where it is above
// hi, for every i of v; other values, NaN and -0 among them, stay. ReLU is
// Clamp with lo 0 and hi +Inf.
func Clamp(v []float32, lo, hi float32) { clamp(v, lo, hi) }
