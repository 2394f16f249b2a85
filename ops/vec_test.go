package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSum64 checks sum64 (the vector kernel where there is one) against a
// plain float64 sum on every length up to 70, at every alignment of the
// first element, with values of one sign and of both: the sums agree to
// float64 rounding, and the mean rounded to float32 is the same.
func TestSum64(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	buf := make([]float32, 80)
	for n := 0; n <= 70; n++ {
		for off := range 4 {
			for _, signed := range []bool{false, true} {
				x := buf[off : off+n]
				for i := range x {
					x[i] = rng.Float32() * 6
					if signed {
						x[i] -= 3
					}
				}
				var want, abs float64
				for _, v := range x {
					want += float64(v)
					abs += math.Abs(float64(v))
				}
				for name, got := range map[string]float64{"sum64": sum64(x), "sum64Go": sum64Go(x)} {
					if math.Abs(got-want) > abs*1e-15 {
						t.Errorf("%s of %d values (offset %d) = %v, want %v", name, n, off, got, want)
					}
					if n > 0 && !signed && float32(got/float64(n)) != float32(want/float64(n)) {
						t.Errorf("%s of %d values: mean %v, want %v", name, n, float32(got/float64(n)), float32(want/float64(n)))
					}
				}
			}
		}
	}
}

// TestEvensRows checks evensRows against evens a row at a time for row
// lengths around the vector width, with the source rows ending exactly
// where the last one's reads do (so that a read past them would panic or
// show), and that nothing between the rows of dst is written.
func TestEvensRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 2, 7, 8, 9, 15, 16, 17, 28, 56, 61} {
		for _, rows := range []int{1, 2, 5} {
			srcStride, dstStride := 2*n+3, n+2
			src := make([]float32, (rows-1)*srcStride+2*n-1)
			for i := range src {
				src[i] = rng.Float32()
			}
			got := make([]float32, (rows-1)*dstStride+n)
			want := make([]float32, len(got))
			for i := range got {
				got[i], want[i] = -1, -1
			}
			evensRows(got, src, rows, n, dstStride, srcStride)
			for r := range rows {
				evens(want[r*dstStride:r*dstStride+n], src[r*srcStride:])
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("n %d, rows %d: element %d is %v, want %v", n, rows, i, got[i], want[i])
				}
			}
		}
	}
}
