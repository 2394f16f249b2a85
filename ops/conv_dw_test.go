package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDwRow9Exact checks that dwRow9 (the assembly kernel where there is
// one) gives the same bits as dwRow9Go for every length and tail, with
// and without bounds, NaN included.
func TestDwRow9Exact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var w [9]float32
	for i := range w {
		w[i] = rng.Float32()*2 - 1
	}
	for n := 0; n <= 41; n++ {
		var p [9][]float32
		for i := range p {
			p[i] = make([]float32, n+3)
			for j := range p[i] {
				p[i][j] = rng.Float32()*4 - 2
			}
		}
		if n > 5 {
			p[4][5] = float32(math.NaN())
		}
		for _, b := range [][2]float32{{negInf, posInf}, {0, 6}, {-0.5, 0.25}} {
			got := make([]float32, n)
			want := make([]float32, n)
			dwRow9(got, &p, &w, 0.3, b[0], b[1])
			dwRow9Go(want, &p, &w, 0.3, b[0], b[1])
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d bounds %v: element %d is %g, Go gives %g", n, b, i, got[i], want[i])
				}
			}
		}
	}
}

// TestVectorHelpers checks vmax2 and evens (assembly where there is one)
// against their Go versions for every length up to a few vectors, NaN
// included for vmax2.
func TestVectorHelpers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for n := 0; n <= 70; n++ {
		a := make([]float32, n+1)
		b := make([]float32, n+1)
		src := make([]float32, 2*n+1)
		for i := range a {
			a[i], b[i] = rng.Float32()-0.5, rng.Float32()-0.5
		}
		for i := range src {
			src[i] = rng.Float32()
		}
		if n > 3 {
			a[3] = float32(math.NaN())
			b[n-1] = float32(math.NaN())
		}
		got, want := make([]float32, n), make([]float32, n)
		vmax2(got, a, b)
		vmax2Go(want, a, b)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("vmax2 n=%d: element %d is %g, want %g", n, i, got[i], want[i])
			}
		}
		ya := append([]float32(nil), b[:n]...)
		yw := append([]float32(nil), b[:n]...)
		axpy(ya, a, 0.37)
		axpyGo(yw, a, 0.37)
		for i := range ya {
			if math.Float32bits(ya[i]) != math.Float32bits(yw[i]) {
				t.Fatalf("axpy n=%d: element %d is %g, want %g", n, i, ya[i], yw[i])
			}
		}
		evens(got, src)
		for i := range got {
			if got[i] != src[2*i] {
				t.Fatalf("evens n=%d: element %d is %g, want %g", n, i, got[i], src[2*i])
			}
		}
		// evens with the shortest source allowed.
		evens(got, src[:max(0, 2*n-1)])
		for i := range got {
			if got[i] != src[2*i] {
				t.Fatalf("evens n=%d (short source): element %d is %g, want %g", n, i, got[i], src[2*i])
			}
		}
	}
}
