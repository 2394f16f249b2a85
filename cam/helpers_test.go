package cam

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func TestResize(t *testing.T) {
	for _, tc := range []struct {
		name         string
		src          []float32
		h, w, H, W   int
		alignCorners bool
		want         []float32
	}{
		// cv2.resize(np.float32([[0,1],[2,3]]), (4,4)) with INTER_LINEAR.
		{"half-pixel up", []float32{0, 1, 2, 3}, 2, 2, 4, 4, false, []float32{
			0, 0.25, 0.75, 1,
			0.5, 0.75, 1.25, 1.5,
			1.5, 1.75, 2.25, 2.5,
			2, 2.25, 2.75, 3}},
		// Down: src = (d + 0.5) * 2 - 0.5 = 0.5, 2.5.
		{"half-pixel down", []float32{0, 1, 2, 3}, 1, 4, 1, 2, false, []float32{0.5, 2.5}},
		// 7 → 224 keeps the ends: the first 16 and last 16 outputs are
		// clamped to the end samples.
		{"half-pixel same", []float32{1, 2, 3, 4}, 2, 2, 2, 2, false, []float32{1, 2, 3, 4}},
		// torch.nn.UpsamplingBilinear2d: src = d * (n-1)/(m-1).
		{"aligned corners", []float32{0, 3}, 1, 2, 1, 4, true, []float32{0, 1, 2, 3}},
		{"aligned corners 2d", []float32{0, 1, 2, 3}, 2, 2, 3, 3, true, []float32{
			0, 0.5, 1,
			1, 1.5, 2,
			2, 2.5, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make([]float32, tc.H*tc.W)
			newResizer(tc.h, tc.w, tc.H, tc.W, tc.alignCorners).resize(got, tc.src)
			for i := range got {
				if math.Abs(float64(got[i]-tc.want[i])) > 1e-6 {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	// Upsampling 7 → 224 (scale 1/32): outputs 0..15 sit before the
	// centre of sample 0 and are clamped to it.
	src := make([]float32, 7)
	for i := range src {
		src[i] = float32(i * i)
	}
	got := resizeHalfPixel(src, 1, 7, 1, 224)
	// Likewise outputs 208..223 (src >= 6) take the last sample.
	if got[0] != 0 || got[15] != 0 || got[16] == 0 || got[223] != 36 || got[208] != 36 || got[207] == 36 {
		t.Errorf("7 → 224: ends %v ... %v", got[:17], got[206:])
	}
}

func TestPostProcessing(t *testing.T) {
	// A constant or all-negative raw map becomes all zeros.
	for _, raw := range [][]float32{{2, 2, 2, 2}, {-1, -3, -2, -0.5}} {
		for _, v := range finishLayerMap(raw, 2, 2, 4, 4) {
			if v != 0 {
				t.Fatalf("raw %v: map value %g, want 0", raw, v)
			}
		}
	}
	// min-max divides by max - min + 1e-7.
	v := []float32{1, 3}
	minMax(v, minMaxEps)
	if v[0] != 0 || v[1] >= 1 || v[1] < 1-1e-6 {
		t.Errorf("minMax: %v", v)
	}
}

func TestDeprocess(t *testing.T) {
	// mean 0.5, std 0.5: (v - 0.5) / (0.5 + 1e-5) * 0.1 + 0.5 = 0.400002
	// and 0.599998, times 255 truncated.
	got := Deprocess([]float32{0, 1})
	if got[0] != 102 || got[1] != 152 {
		t.Errorf("Deprocess([0 1]) = %v, want [102 152]", got)
	}
	// Values more than 5 standard deviations out clip to 0 and 255.
	img := make([]float32, 100)
	img[0], img[1] = 100, -100
	got = Deprocess(img)
	if got[0] != 255 || got[1] != 0 || got[2] != 127 {
		t.Errorf("clipping: %v", got[:3])
	}
}

// TestProjection checks the first principal component against power
// iteration on random matrices with a clear leading direction, on both
// sides of the Gram-matrix choice (C <= P and C > P).
func TestProjection(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, dims := range [][2]int{{3, 10}, {10, 3}, {40, 49}, {64, 16}} {
		C, P := dims[0], dims[1]
		// x[k][p] = u_p s_k * 5 + noise: one strong direction.
		x := make([]float32, C*P)
		u, s := make([]float64, P), make([]float64, C)
		for p := range u {
			u[p] = r.NormFloat64()
		}
		for k := range s {
			s[k] = r.NormFloat64()
		}
		for k := 0; k < C; k++ {
			for p := 0; p < P; p++ {
				x[k*P+p] = float32(5*u[p]*s[k] + r.NormFloat64() + 3)
			}
		}
		got := projection(x, C, P)
		// Power iteration on X^T X with X the centred P x C matrix.
		xc := make([][]float64, P)
		for p := range xc {
			xc[p] = make([]float64, C)
		}
		for k := 0; k < C; k++ {
			var m float64
			for p := 0; p < P; p++ {
				m += float64(x[k*P+p])
			}
			m /= float64(P)
			for p := 0; p < P; p++ {
				xc[p][k] = float64(x[k*P+p]) - m
			}
		}
		v := make([]float64, C)
		for k := range v {
			v[k] = 1
		}
		for it := 0; it < 5000; it++ {
			xv := make([]float64, P)
			for p := range xv {
				for k := range v {
					xv[p] += xc[p][k] * v[k]
				}
			}
			nv := make([]float64, C)
			var n float64
			for k := range nv {
				for p := range xv {
					nv[k] += xc[p][k] * xv[p]
				}
				n += nv[k] * nv[k]
			}
			n = math.Sqrt(n)
			for k := range nv {
				v[k] = nv[k] / n
			}
		}
		var sum float64
		for _, vk := range v {
			sum += vk
		}
		if sum < 0 { // the documented sign convention
			for k := range v {
				v[k] = -v[k]
			}
		}
		var worst, scale float64
		for p := 0; p < P; p++ {
			var want float64
			for k := range v {
				want += xc[p][k] * v[k]
			}
			worst = math.Max(worst, math.Abs(float64(got[p])-want))
			scale = math.Max(scale, math.Abs(want))
		}
		if worst > 1e-5*scale {
			t.Errorf("C=%d P=%d: projection differs from power iteration by %.3g (scale %.3g)", C, P, worst, scale)
		}
	}
	// A map with no variation projects to zeros.
	for _, v := range projection([]float32{1, 1, 1, 2, 2, 2}, 2, 3) {
		if v != 0 {
			t.Fatalf("constant channels: projection %g", v)
		}
	}
}

func TestLeadingEigenvector(t *testing.T) {
	// diag(1, 5, 3) rotated: the eigenvector of 5 is the rotated e2.
	c, s := math.Cos(0.3), math.Sin(0.3)
	q := [3][3]float64{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}
	d := [3]float64{1, 5, 3}
	m := make([]float64, 9)
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				m[i*3+j] += q[i][k] * d[k] * q[j][k]
			}
		}
	}
	v := leadingEigenvector(m, 3)
	dot := v[0]*q[0][1] + v[1]*q[1][1] + v[2]*q[2][1]
	if math.Abs(math.Abs(dot)-1) > 1e-12 {
		t.Errorf("eigenvector %v, want ±(%g, %g, 0)", v, q[0][1], q[1][1])
	}
}

// TestTopKOrder compares topK with a stable sort of all indices (NaN last) for
// every k, on logits with ties, infinities and NaN.
func TestTopKOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	nan := float32(math.NaN())
	for trial := range 200 {
		v := make([]float32, 1+rng.IntN(40))
		for i := range v {
			switch rng.IntN(8) {
			case 0:
				v[i] = nan
			case 1:
				v[i] = float32(math.Inf(1 - 2*rng.IntN(2)))
			default:
				v[i] = float32(rng.IntN(6)) // many ties
			}
		}
		want := make([]int, len(v))
		for i := range want {
			want[i] = i
		}
		sort.SliceStable(want, func(a, b int) bool {
			x, y := v[want[a]], v[want[b]]
			return x > y || (y != y && x == x)
		})
		for k := 0; k <= len(v)+1; k++ {
			got := topK(v, k)
			if w := want[:min(k, len(v))]; !slices.Equal(got, w) {
				t.Fatalf("trial %d: topK(%v, %d) = %v, want %v", trial, v, k, got, w)
			}
		}
	}
}

// TestWeightedSum checks that weightedSum gives the bits of the weighted
// copy summed over channels, on random values with infinities and NaN.
func TestWeightedSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, cp := range [][2]int{{1, 1}, {3, 5}, {64, 49}, {2048, 49}} {
		C, P := cp[0], cp[1]
		a := make([]float32, C*P)
		w := make([]float32, C)
		for i := range a {
			a[i] = float32(rng.NormFloat64() * 3)
		}
		for i := range w {
			w[i] = float32(rng.NormFloat64() / 7)
		}
		if C > 3 {
			a[5], w[2] = float32(math.Inf(1)), float32(math.NaN())
		}
		got, want := weightedSum(a, w, C, P), sumChannels(scaleChannels(a, w, C, P), C, P)
		for p := range want {
			if math.Float32bits(got[p]) != math.Float32bits(want[p]) {
				t.Fatalf("C=%d P=%d: position %d is %v, want %v", C, P, p, got[p], want[p])
			}
		}
	}
}
