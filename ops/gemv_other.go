//go:build !amd64 || purego

package ops

// dot4 sets out[r] to the dot product of x with row r of w (rows ldw
// apart, len(x) values each), for four rows.
func dot4(w []float32, ldw int, x []float32, out *[4]float32) {
	dot4Go(w, ldw, x, out)
}
