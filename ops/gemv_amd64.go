//go:build amd64 && !purego

package ops

import "golang.org/x/sys/cpu"

// useDotAVX512 and useDotAVX2 say whether dot4 may use AVX-512 or AVX2
// with FMA.
var (
	useDotAVX512 = cpu.X86.HasAVX512F
	useDotAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// dot4AVX512 sets out[r] = Σ_i w[r*ldw+i]*x[i] for r in 0..3 and i in
// [0, n), n a multiple of 16.
//
//go:noescape
func dot4AVX512(w *float32, ldw int, x *float32, n int, out *[4]float32)

// dot4AVX2 is dot4AVX512 in 8 lanes, for n a multiple of 8.
//
//go:noescape
func dot4AVX2(w *float32, ldw int, x *float32, n int, out *[4]float32)

// dot4 sets out[r] to the dot product of x with row r of w (rows ldw
// apart, len(x) values each), for four rows; the sums are taken in
// vector lanes and then across them, so their rounding differs from a
// sequential sum.
func dot4(w []float32, ldw int, x []float32, out *[4]float32) {
	n := len(x)
	done := 0
	if useDotAVX512 && n >= 16 {
		done = n &^ 15
		_ = w[3*ldw+n-1]
		dot4AVX512(&w[0], ldw, &x[0], done, out)
	} else if useDotAVX2 && n >= 8 {
		done = n &^ 7
		_ = w[3*ldw+n-1]
		dot4AVX2(&w[0], ldw, &x[0], done, out)
	} else {
		*out = [4]float32{}
	}
	if done < n {
		var tail [4]float32
		dot4Go(w[done:], ldw, x[done:], &tail)
		for r := range out {
			out[r] += tail[r]
		}
	}
}
