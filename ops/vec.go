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
