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

// TestAxpyRows checks AxpyRows against a float32 loop, bit for bit, on row
// lengths around the vector width, one to three rows and strides longer
// than the rows, with the source ending where the last row's reads do;
// what lies between y's rows must stay as it was.
func TestAxpyRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 40, 43} {
		for rows := 1; rows <= 3; rows++ {
			ldy, ldx := n+5, n+3
			y := make([]float32, (rows-1)*ldy+n+4)
			x := make([]float32, (rows-1)*ldx+n)
			for i := range y {
				y[i] = rng.Float32()*2 - 1
			}
			for i := range x {
				x[i] = rng.Float32()*2 - 1
			}
			a := rng.Float32() * 3
			want := append([]float32(nil), y...)
			for r := range rows {
				for i := range n {
					p := a * x[r*ldx+i]
					want[r*ldy+i] += p
				}
			}
			AxpyRows(y, ldy, x, ldx, a, rows, n)
			for i := range y {
				if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n %d, rows %d: y[%d] = %v, want %v", n, rows, i, y[i], want[i])
				}
			}
		}
	}
}

// TestClamp checks Clamp against a plain loop on lengths around the
// vector width, with NaN, infinities and values at the bounds.
func TestClamp(t *testing.T) {
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, 6, -0.5, 6.5}
	for n := range 20 {
		for _, b := range [][2]float32{{0, float32(math.Inf(1))}, {0, 6}, {-1, 1}} {
			v := make([]float32, n)
			for i := range v {
				v[i] = special[i%len(special)] + float32(i/len(special))*0.25
			}
			want := append([]float32(nil), v...)
			for i, u := range want {
				want[i] = min(max(u, b[0]), b[1]) // builtins: a NaN stays NaN
			}
			Clamp(v, b[0], b[1])
			for i := range v {
				if math.Float32bits(v[i]) != math.Float32bits(want[i]) && !(v[i] != v[i] && want[i] != want[i]) {
					t.Fatalf("n %d, bounds %v: v[%d] = %v, want %v", n, b, i, v[i], want[i])
				}
			}
		}
	}
}
