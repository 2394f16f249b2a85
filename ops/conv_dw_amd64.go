//go:build amd64 && !purego

package ops

import "golang.org/x/sys/cpu"

// useDwAVX2 and useDwAVX512 say which kernel dwRow9 may use.
var (
	useDwAVX2   = cpu.X86.HasAVX2
	useDwAVX512 = cpu.X86.HasAVX512F
)

// dwVector is the number of outputs that dwRow9 computes at once (two
// AVX2 or one AVX-512 vector): the 3x3 depthwise path rounds its rows up
// to it.
const dwVector = 16

// dwRow9AVX2 computes n (a multiple of 8) elements of dwRow9 with AVX2,
// rounding exactly as dwRow9Go does; p points at nine row pointers and w
// at nine weights.
//
//go:noescape
func dwRow9AVX2(y *float32, p *[9]*float32, w *[9]float32, n int, b, lo, hi float32)

// dwRow9AVX512 is dwRow9AVX2 with AVX-512, n a multiple of 16.
//
//go:noescape
func dwRow9AVX512(y *float32, p *[9]*float32, w *[9]float32, n int, b, lo, hi float32)

// dwRow9 sets y[i] = min(max(b + Σ_t w[t]*p[t][i], lo), hi) for every i
// in y; each p[t] has at least len(y) elements.
func dwRow9(y []float32, p *[9][]float32, w *[9]float32, b, lo, hi float32) {
	n := len(y)
	done := 0
	if useDwAVX2 && n >= 8 {
		var ptr [9]*float32
		for t := range ptr {
			ptr[t] = &p[t][:n][0]
		}
		if useDwAVX512 && n >= 16 {
			done = n &^ 15
			dwRow9AVX512(&y[0], &ptr, w, done, b, lo, hi)
		} else {
			done = n &^ 7
			dwRow9AVX2(&y[0], &ptr, w, done, b, lo, hi)
		}
		if done == n {
			return
		}
		if n-done >= 8 {
			for t := range ptr {
				ptr[t] = &p[t][done]
			}
			dwRow9AVX2(&y[done], &ptr, w, 8, b, lo, hi)
			done += 8
			if done == n {
				return
			}
		}
	}
	var tail [9][]float32
	for t := range tail {
		tail[t] = p[t][done:n]
	}
	dwRow9Go(y[done:], &tail, w, b, lo, hi)
}
