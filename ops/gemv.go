package ops

// The matrix-vector product of a dense layer on one image: y = W x, W
// stored as rows (the weights of ONNX Gemm with transB = 1, n x k). It
// streams W from memory once; four rows share each load of x.

// dot4Go is dot4 in Go.
func dot4Go(w []float32, ldw int, x []float32, out *[4]float32) {
	n := len(x)
	r0, r1, r2, r3 := w[:n], w[ldw:][:n], w[2*ldw:][:n], w[3*ldw:][:n]
	var s0, s1, s2, s3 float32
	for i, v := range x {
		s0 += r0[i] * v
		s1 += r1[i] * v
		s2 += r2[i] * v
		s3 += r3[i] * v
	}
	*out = [4]float32{s0, s1, s2, s3}
}

// gemvRows sets y[j] = alpha*Σ_i w[j*ldw+i]*x[i] + beta*y[j] for j in
// [0, n), i in [0, len(x)); beta is 0 or 1. The rows are shared over the
// crew: two cores stream the weights faster than one.
func gemvRows(ctx *Ctx, n int, alpha float32, w []float32, ldw int, x []float32, beta float32, y []float32) {
	k := len(x)
	threads := ctx.threadCount()
	per := n
	if threads > 1 && n*k >= 1<<18 {
		per = ((n+threads-1)/threads + 3) &^ 3
	}
	parts := (n + per - 1) / per
	crew.do(parts, threads-1, func(part int) {
		j0, j1 := part*per, min((part+1)*per, n)
		var out [4]float32
		for j := j0; j < j1; j += 4 {
			rows := min(4, j1-j)
			if rows == 4 {
				dot4(w[j*ldw:], ldw, x, &out)
			} else {
				// The last rows: repeat the last one (ldw 0) so
				// that dot4 reads only rows that exist.
				var part [4]float32
				for r := range rows {
					dot4(w[(j+r)*ldw:], 0, x, &part)
					out[r] = part[0]
				}
			}
			for r := range rows {
				v := alpha * out[r]
				if beta != 0 {
					v += y[j+r]
				}
				y[j+r] = v
			}
		}
	})
}
