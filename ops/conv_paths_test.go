package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvPathsAgree runs convolutions of many geometries through each
// path of convForward (whole im2col with threaded products, per-thread
// column chunks with the linear, the phase and the segment unfolding, the product
// across the images of a batch) and checks that they agree with a direct
// float64 convolution.
func TestConvPathsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	type geo struct {
		c, m, h, w, k, s, d, p0, p1 int
	}
	geos := []geo{
		{3, 5, 9, 11, 3, 1, 1, 1, 1},
		{4, 6, 8, 8, 3, 1, 1, 2, 2},
		{4, 6, 8, 9, 3, 1, 2, 2, 2},
		{2, 3, 10, 7, 3, 2, 1, 1, 1},
		{5, 4, 7, 7, 1, 1, 1, 0, 0},
		{5, 4, 9, 6, 1, 2, 1, 0, 0},
		{3, 4, 12, 13, 5, 1, 1, 2, 1},
		{3, 4, 11, 11, 7, 2, 1, 3, 3},
		{2, 2, 6, 6, 3, 1, 1, 0, 0},
		{2, 3, 5, 9, 3, 3, 1, 1, 0},
		// 720 rows unfolded: three chunks on one thread, of 9, 10 and
		// 10 tiles of 32 of the 900 columns (the last tile partial).
		{80, 6, 30, 30, 3, 1, 1, 1, 1},
		// Stride 2, unfolded from the input's phases (convPhased) unless
		// the output rows are shorter than the phases (the last one).
		{2, 3, 9, 10, 3, 2, 1, 0, 1},
		{3, 2, 8, 9, 3, 2, 1, 2, 0},
		{2, 3, 10, 11, 4, 2, 1, 1, 2},
		{2, 3, 9, 9, 2, 2, 1, 0, 1},
		{40, 5, 60, 58, 3, 2, 1, 1, 1},
		{2, 3, 9, 9, 3, 2, 1, 0, 0},
	}
	saveAcross, saveMin := convAcrossBelow, convChunkMin
	defer func() { convAcrossBelow, convChunkMin = saveAcross, saveMin }()
	for gi, g := range geos {
		for _, n := range []int{1, 3} {
			op := &convOp{attrs: winAttrs{
				strides:   []int{g.s, g.s},
				dilations: []int{g.d, g.d},
				pads:      []int{g.p0, g.p1, g.p1, g.p0},
				autoPad:   "NOTSET",
			}, group: 1}
			s, err := op.shape([]int{n, g.c, g.h, g.w}, []int{g.m, g.c, g.k, g.k}, []int{g.m})
			if err != nil {
				t.Fatalf("geometry %d: %v", gi, err)
			}
			x := make([]float32, n*g.c*g.h*g.w)
			wt := make([]float32, g.m*g.c*g.k*g.k)
			bias := make([]float32, g.m)
			for _, v := range [][]float32{x, wt, bias} {
				for i := range v {
					v[i] = rng.Float32()*2 - 1
				}
			}
			want := convDirect(s, x, wt, bias)
			res := make([]float32, len(want))
			for i := range res {
				res[i] = rng.Float32()
			}
			for _, path := range []struct {
				name           string
				across, chunks int
				threads        int
			}{
				{"whole", 0, 1 << 30, 2},
				{"chunks", 0, 1, 2},
				{"chunks 1 thread", 0, 1, 1},
				{"across", 1 << 30, 1, 2},
			} {
				t.Run(fmt.Sprintf("geometry %d batch %d %s", gi, n, path.name), func(t *testing.T) {
					convAcrossBelow, convChunkMin = path.across, path.chunks
					ctx := &Ctx{Threads: path.threads}
					y := make([]float32, len(want))
					convForward(ctx, s, x, wt, y, &convEpilogue{bias: bias, residual: res, clamp: true, lo: -0.5, hi: 1})
					for i := range y {
						w := math.Min(math.Max(want[i]+float64(res[i]), -0.5), 1)
						if d := math.Abs(float64(y[i]) - w); d > 1e-5*(1+math.Abs(w)) {
							t.Fatalf("element %d: %g, want %g", i, y[i], w)
						}
					}
				})
			}
		}
	}
}

// convDirect is the definition of a 2-D convolution (group 1) in float64.
func convDirect(s *convShape, x, w, bias []float32) []float64 {
	g := &s.g
	ih, iw, oh, ow := g.in[1], g.in[2], g.out[1], g.out[2]
	kh, kw := g.k[1], g.k[2]
	out := make([]float64, s.n*s.m*oh*ow)
	for n := range s.n {
		for m := range s.m {
			for oy := range oh {
				for ox := range ow {
					acc := float64(bias[m])
					for c := range s.c {
						for a := range kh {
							for b := range kw {
								y := oy*g.s[1] - g.pb[1] + a*g.d[1]
								xx := ox*g.s[2] - g.pb[2] + b*g.d[2]
								if y < 0 || y >= ih || xx < 0 || xx >= iw {
									continue
								}
								acc += float64(x[((n*s.c+c)*ih+y)*iw+xx]) * float64(w[((m*s.c+c)*kh+a)*kw+b])
							}
						}
					}
					out[((n*s.m+m)*oh+oy)*ow+ox] = acc
				}
			}
		}
	}
	return out
}
