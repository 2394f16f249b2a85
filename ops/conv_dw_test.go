package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestDwRow9Exact checks that dwRow9 of the padded path (the assembly
// kernel where there is one) gives the same bits as dwRow9Go for every
// length and tail, with and without bounds, NaN included.
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

// dwLayer is a depthwise 3x3 layer of MobileNetV2 (input channels and
// size, stride, ONNX pads).
type dwLayer struct {
	c, h, w, s int
	pads       []int
}

// mobileNetDw lists the distinct depthwise layers of MobileNetV2 at 224x224
// (../shared/models/mobilenet_v2_1.0_224.onnx).
var mobileNetDw = []dwLayer{
	{32, 112, 112, 1, []int{1, 1, 1, 1}},
	{96, 112, 112, 2, []int{0, 0, 1, 1}},
	{144, 56, 56, 1, []int{1, 1, 1, 1}},
	{144, 56, 56, 2, []int{0, 0, 1, 1}},
	{192, 28, 28, 1, []int{1, 1, 1, 1}},
	{192, 28, 28, 2, []int{0, 0, 1, 1}},
	{384, 14, 14, 1, []int{1, 1, 1, 1}},
	{576, 14, 14, 1, []int{1, 1, 1, 1}},
	{576, 14, 14, 2, []int{0, 0, 1, 1}},
	{960, 7, 7, 1, []int{1, 1, 1, 1}},
}

// dwShape resolves a depthwise convolution of n images of c channels of
// h x w with a kernel of kh x kw.
func dwShape(tb testing.TB, n, c, h, w, kh, kw int, strides, pads, dil []int) *convShape {
	tb.Helper()
	a := winAttrs{strides: strides, pads: pads, dilations: dil, autoPad: "NOTSET"}
	g, err := a.resolve([]int{h, w}, []int{kh, kw})
	if err != nil {
		tb.Fatal(err)
	}
	return &convShape{n: n, c: c, m: c, group: c, g: g}
}

// BenchmarkDepthwise times the forward depthwise convolution of each
// MobileNetV2 layer with bias and ReLU6, on one and two threads.
func BenchmarkDepthwise(b *testing.B) {
	for _, l := range mobileNetDw {
		for _, threads := range []int{1, 2} {
			name := fmt.Sprintf("%dx%dx%d_s%d_t%d", l.c, l.h, l.w, l.s, threads)
			b.Run(name, func(b *testing.B) {
				s := dwShape(b, 1, l.c, l.h, l.w, 3, 3, []int{l.s, l.s}, l.pads, nil)
				rng := rand.New(rand.NewPCG(1, 2))
				x := make([]float32, s.c*s.g.inSize())
				w := make([]float32, s.m*9)
				bias := make([]float32, s.m)
				for i := range x {
					x[i] = rng.Float32() - 0.5
				}
				for i := range w {
					w[i] = rng.Float32() - 0.5
				}
				y := make([]float32, s.m*s.g.outSize())
				ep := &convEpilogue{bias: bias, clamp: true, lo: 0, hi: 6}
				ctx := &Ctx{Threads: threads}
				b.SetBytes(int64(4 * (len(x) + len(y))))
				for b.Loop() {
					convDepthwiseForward(ctx, s, x, w, y, ep)
				}
				b.ReportMetric(float64(2*9*len(y))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// dwRef is a float64 depthwise convolution (group = channels, mg outputs
// per channel) of x (n, c, h, w) for geometry g, followed by the
// epilogue: bias, residual, clamp.
func dwRef(s *convShape, x, w []float32, ep *convEpilogue) []float64 {
	g := &s.g
	ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
	kh, kw := g.k[1], g.k[2]
	mg := s.mg()
	y := make([]float64, s.n*s.m*oh*ow)
	for n := range s.n {
		for m := range s.m {
			xc := x[(n*s.c+m/mg)*ih*iw:]
			for oy := range oh {
				for ox := range ow {
					var v float64
					if ep.bias != nil {
						v = float64(ep.bias[m])
					}
					for a := range kh {
						for b := range kw {
							r := oy*g.s[1] - g.pb[1] + a*g.d[1]
							c := ox*g.s[2] - g.pb[2] + b*g.d[2]
							if r >= 0 && r < ih && c >= 0 && c < iw {
								v += float64(w[(m*kh+a)*kw+b]) * float64(xc[r*iw+c])
							}
						}
					}
					i := ((n*s.m+m)*oh+oy)*ow + ox
					if ep.residual != nil {
						v += float64(ep.residual[i])
					}
					if ep.clamp {
						v = math.Min(math.Max(v, float64(ep.lo)), float64(ep.hi))
					}
					y[i] = v
				}
			}
		}
	}
	return y
}

// TestDepthwiseForward checks the depthwise forward paths (the masked 3x3
// path in plane and row mode and the padded one, strides 1 and 2, every
// padding they take; the general path for the rest) against a float64 reference on odd sizes,
// rows shorter and longer than a vector, batches, channel multipliers,
// bias, residual (also in place) and clamp, on one and two threads.
func TestDepthwiseForward(t *testing.T) {
	defer func(v bool) { dwUsePadded = v }(dwUsePadded)
	type tc struct {
		n, c, mg, h, w int
		k, s           int
		pads           []int
	}
	var cases []tc
	for _, hw := range [][2]int{{1, 1}, {2, 3}, {3, 3}, {5, 7}, {7, 7}, {14, 14}, {9, 16}, {6, 17}, {13, 33}, {12, 40}} {
		for _, s := range []int{1, 2} {
			for _, p := range [][]int{{1, 1, 1, 1}, {0, 0, 1, 1}, {0, 0, 0, 0}, {1, 0, 0, 1}, {1, 1, 0, 0}, {0, 1, 1, 0}} {
				if hw[0]+p[0]+p[2] < 3 || hw[1]+p[1]+p[3] < 3 {
					continue
				}
				cases = append(cases, tc{n: 1, c: 3, mg: 1, h: hw[0], w: hw[1], k: 3, s: s, pads: p})
			}
		}
	}
	cases = append(cases,
		tc{n: 3, c: 4, mg: 1, h: 11, w: 19, k: 3, s: 1, pads: []int{1, 1, 1, 1}},
		tc{n: 2, c: 3, mg: 2, h: 10, w: 21, k: 3, s: 2, pads: []int{0, 0, 1, 1}},
		tc{n: 2, c: 2, mg: 3, h: 15, w: 15, k: 3, s: 2, pads: []int{1, 1, 1, 1}},
		tc{n: 1, c: 3, mg: 1, h: 9, w: 12, k: 5, s: 1, pads: []int{2, 2, 2, 2}},
		tc{n: 2, c: 2, mg: 1, h: 8, w: 9, k: 3, s: 3, pads: []int{1, 1, 1, 1}},
	)
	rng := rand.New(rand.NewPCG(7, 8))
	randn := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return v
	}
	for _, c := range cases {
		s := dwShape(t, c.n, c.c, c.h, c.w, c.k, c.k, []int{c.s, c.s}, c.pads, nil)
		s.m = c.c * c.mg
		x := randn(s.n * s.c * s.g.inSize())
		w := randn(s.m * c.k * c.k)
		outLen := s.n * s.m * s.g.outSize()
		for _, epi := range []string{"plain", "bias relu6", "residual clamp", "residual in place"} {
			ep := &convEpilogue{lo: negInf, hi: posInf}
			switch epi {
			case "bias relu6":
				ep.bias, ep.clamp, ep.lo, ep.hi = randn(s.m), true, 0, 0.6
			case "residual clamp", "residual in place":
				ep.bias, ep.residual, ep.clamp, ep.lo, ep.hi = randn(s.m), randn(outLen), true, -0.8, 0.9
			}
			want := dwRef(s, x, w, ep)
			for _, run := range []struct {
				threads int
				padded  bool
			}{{1, false}, {2, false}, {1, true}, {2, true}} {
				threads := run.threads
				dwUsePadded = run.padded
				name := fmt.Sprintf("n%d_c%d_mg%d_%dx%d_k%d_s%d_p%v_%s_t%d_padded%v", c.n, c.c, c.mg, c.h, c.w, c.k, c.s, c.pads, epi, threads, run.padded)
				y := make([]float32, outLen)
				for i := range y {
					y[i] = float32(math.NaN())
				}
				e := *ep
				if epi == "residual in place" {
					copy(y, ep.residual)
					e.residual = y
				}
				convDepthwiseForward(&Ctx{Threads: threads}, s, x, w, y, &e)
				for i, v := range y {
					if d := math.Abs(float64(v) - want[i]); !(d <= 1e-5*(1+math.Abs(want[i]))) {
						t.Fatalf("%s: element %d is %g, want %g", name, i, v, want[i])
					}
				}
			}
		}
	}
}

// TestDwSplit2 checks the phase split of the stride-2 path (assembly
// where there is one) against its definition on rows of every length up
// to a few vectors.
func TestDwSplit2(t *testing.T) {
	for iw := 1; iw <= 70; iw++ {
		for _, extra := range []int{0, 1} {
			ow := (iw+1)/2 + extra
			rows := 5
			x := make([]float32, rows*iw)
			for i := range x {
				x[i] = float32(i + 1)
			}
			psz := 3 * ow
			ph := make([]float32, 4*psz)
			for i := range ph {
				ph[i] = -1
			}
			dwSplit2(ph, x, rows, iw, ow, psz)
			for r := range rows {
				for c := range 2 * ow {
					want := float32(0)
					if c < iw {
						want = x[r*iw+c]
					}
					if got := ph[(2*(r&1)+c&1)*psz+r>>1*ow+c>>1]; got != want {
						t.Fatalf("iw %d ow %d: input (%d, %d) went over as %g, want %g", iw, ow, r, c, got, want)
					}
				}
			}
			// Row 5 of the phase planes (phase row 2 of odd rows) is
			// not written.
			if got := ph[2*psz+2*ow]; got != -1 {
				t.Fatalf("iw %d ow %d: wrote past the rows (%g)", iw, ow, got)
			}
		}
	}
}

// TestDepthwiseBackwardData checks the depthwise input gradient (the 3x3
// windows that run as forward convolutions, stride 1 and 2, and the
// general path) against the float64 transpose of the forward sum on odd
// sizes, batches and channel multipliers, on one and two threads.
func TestDepthwiseBackwardData(t *testing.T) {
	type tc struct {
		n, c, mg, h, w, s int
		pads              []int
	}
	var cases []tc
	for _, hw := range [][2]int{{1, 1}, {3, 3}, {5, 7}, {7, 7}, {14, 14}, {6, 17}, {13, 33}, {12, 40}} {
		for _, s := range []int{1, 2} {
			for _, p := range [][]int{{1, 1, 1, 1}, {0, 0, 1, 1}, {1, 1, 0, 0}, {0, 0, 0, 0}, {1, 0, 1, 0}} {
				if hw[0]+p[0]+p[2] < 3 || hw[1]+p[1]+p[3] < 3 {
					continue
				}
				cases = append(cases, tc{1, 2, 1, hw[0], hw[1], s, p})
			}
		}
	}
	cases = append(cases, tc{3, 3, 2, 11, 19, 1, []int{1, 1, 1, 1}}, tc{2, 2, 3, 10, 21, 2, []int{0, 0, 1, 1}},
		tc{2, 3, 1, 15, 15, 2, []int{1, 1, 1, 1}})
	rng := rand.New(rand.NewPCG(9, 10))
	randn := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return v
	}
	for _, c := range cases {
		s := dwShape(t, c.n, c.c, c.h, c.w, 3, 3, []int{c.s, c.s}, c.pads, nil)
		s.m = c.c * c.mg
		g := &s.g
		ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
		w := randn(s.m * 9)
		dy := randn(s.n * s.m * oh * ow)
		want := make([]float64, s.n*s.c*ih*iw)
		for n := range s.n {
			for m := range s.m {
				ch := m / c.mg
				for oy := range oh {
					for ox := range ow {
						v := float64(dy[((n*s.m+m)*oh+oy)*ow+ox])
						for kh := range 3 {
							for kw := range 3 {
								r, col := oy*c.s+kh-g.pb[1], ox*c.s+kw-g.pb[2]
								if r >= 0 && r < ih && col >= 0 && col < iw {
									want[((n*s.c+ch)*ih+r)*iw+col] += v * float64(w[m*9+kh*3+kw])
								}
							}
						}
					}
				}
			}
		}
		for _, threads := range []int{1, 2} {
			dx := make([]float32, len(want))
			convDepthwiseBackwardData(&Ctx{Threads: threads}, s, dy, w, dx)
			for i, v := range dx {
				if d := math.Abs(float64(v) - want[i]); !(d <= 1e-5*(1+math.Abs(want[i]))) {
					t.Fatalf("n%d c%d mg%d %dx%d s%d pads %v, %d threads: element %d is %g, want %g",
						c.n, c.c, c.mg, c.h, c.w, c.s, c.pads, threads, i, v, want[i])
				}
			}
		}
	}
}

// BenchmarkDepthwiseBackward times the depthwise input gradient of each
// MobileNetV2 layer on two threads.
func BenchmarkDepthwiseBackward(b *testing.B) {
	for _, l := range mobileNetDw {
		b.Run(fmt.Sprintf("%dx%dx%d_s%d", l.c, l.h, l.w, l.s), func(b *testing.B) {
			s := dwShape(b, 1, l.c, l.h, l.w, 3, 3, []int{l.s, l.s}, l.pads, nil)
			w := make([]float32, s.m*9)
			dy := make([]float32, s.m*s.g.outSize())
			for i := range w {
				w[i] = float32(i%7) - 3
			}
			for i := range dy {
				dy[i] = float32(i%11) - 5
			}
			dx := make([]float32, s.c*s.g.inSize())
			ctx := &Ctx{Threads: 2}
			for b.Loop() {
				clear(dx)
				convDepthwiseBackwardData(ctx, s, dy, w, dx)
			}
		})
	}
}

// TestDwSpread2 checks the spreading of the stride-2 input gradient
// (assembly where there is one) against its definition, for rows of every
// length up to a few vectors and both paddings.
func TestDwSpread2(t *testing.T) {
	for iw := 1; iw <= 45; iw++ {
		for _, pl := range []int{0, 1} {
			for _, pt := range []int{0, 1} {
				if 1-pl >= iw {
					continue
				}
				ow := (iw-2+pl)/2 + 1 // largest with 2*(ow-1)+1-pl < iw
				ih := 7
				oh := (ih-2+pt)/2 + 1
				dy := make([]float32, oh*ow)
				for i := range dy {
					dy[i] = float32(i + 1)
				}
				want := make([]float32, ih*iw)
				for oy := range oh {
					for ox := range ow {
						want[(2*oy+1-pt)*iw+2*ox+1-pl] = dy[oy*ow+ox]
					}
				}
				// Rows that take no values must be left alone.
				z := make([]float32, ih*iw)
				for r := range ih {
					if (r+pt)%2 == 0 || (r-1+pt)/2 >= oh {
						for c := range iw {
							z[r*iw+c], want[r*iw+c] = -1, -1
						}
					}
				}
				dwSpread2(z, dy, oh, ow, iw, pt, pl)
				for i := range z {
					if z[i] != want[i] {
						t.Fatalf("iw %d pt %d pl %d: element %d is %g, want %g", iw, pt, pl, i, z[i], want[i])
					}
				}
			}
		}
	}
}
