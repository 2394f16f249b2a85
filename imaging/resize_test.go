package imaging

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"testing"

	"github.com/gradcam/gradcam/internal/shared"
	"github.com/gradcam/gradcam/npy"
)

// pattern is the test image the oracles were computed on: sample (x, y, c)
// = (37x + 91y + 53c + 7xy) mod 256.
func pattern(w, h int) pixels {
	p := newPixels(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				p.pix[(y*w+x)*3+c] = float32((37*x + 91*y + 53*c + 7*x*y) % 256)
			}
		}
	}
	return p
}

func oracleBytes(t testing.TB, key string) []byte {
	t.Helper()
	s, ok := oracle[key]
	if !ok {
		t.Fatalf("no oracle %q", key)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func oracleFloats(t testing.TB, key string) []float32 {
	b := oracleBytes(t, key)
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*4:]))
	}
	return f
}

func TestPatternMatchesOracleSource(t *testing.T) {
	for key, p := range map[string]pixels{"src": pattern(6, 5), "src2": pattern(8, 6), "scam_photo": pattern(3, 2)} {
		want := oracleBytes(t, key)
		for i, v := range p.pix {
			if byte(v) != want[i] {
				t.Fatalf("%s: sample %d = %v, oracle %d", key, i, v, want[i])
			}
		}
	}
}

func TestResizeBilinearByHand(t *testing.T) {
	// 2x2 -> 4x4, half-pixel: columns sample x = -0.25 (clamped to 0),
	// 0.25, 0.75, 1.25 (clamped to 1); rows the same (the top and bottom
	// rows mix a row with itself).
	got := ResizeBilinear([]float32{0, 1, 2, 3}, 2, 2, 4, 4, false)
	want := []float32{
		0, 0.25, 0.75, 1,
		0.5, 0.75, 1.25, 1.5,
		1.5, 1.75, 2.25, 2.5,
		2, 2.25, 2.75, 3,
	}
	assertFloats(t, "half-pixel", got, want, 0)
	// align_corners: 2 -> 3 samples at 0, 0.5, 1; 3 -> 2 at 0 and 2.
	got = ResizeBilinear([]float32{0, 1, 2, 3}, 2, 2, 3, 3, true)
	want = []float32{0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3}
	assertFloats(t, "align corners up", got, want, 0)
	got = ResizeBilinear([]float32{0, 1, 2, 3, 4, 5}, 1, 6, 1, 3, true)
	want = []float32{0, 2.5, 5}
	assertFloats(t, "align corners down", got, want, 0)
	// A constant map stays constant, a single pixel spreads everywhere.
	got = ResizeBilinear([]float32{7}, 1, 1, 3, 2, false)
	assertFloats(t, "1x1", got, []float32{7, 7, 7, 7, 7, 7}, 0)
}

func assertFloats(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > tol || math.IsNaN(float64(got[i])) {
			t.Errorf("%s: [%d] = %.9g, want %.9g", name, i, got[i], want[i])
		}
	}
}

func TestResizeBilinearMatchesOpenCV(t *testing.T) {
	src := oracleFloats(t, "fmap")
	for _, tc := range []struct{ w, h int }{{4, 7}, {11, 2}} {
		got := ResizeBilinear(src, 3, 5, tc.h, tc.w, false)
		want := oracleFloats(t, fmt.Sprintf("fmap_%dx%d", tc.w, tc.h))
		assertFloats(t, fmt.Sprintf("%dx%d", tc.w, tc.h), got, want, 0) // bit-exact
	}
}

// TestResizeBilinearMatchesGradCAMReference redoes pytorch-grad-cam's
// post-processing of the stored raw 7x7 Grad-CAM map (shared/reference
// README) and compares with its stored 224x224 map, which went through
// cv2.resize INTER_LINEAR.
func TestResizeBilinearMatchesGradCAMReference(t *testing.T) {
	for _, model := range []string{"resnet18", "mobilenet_v2"} {
		m, err := npy.ReadNPZ(shared.Path(t, "reference", model+"__photo-both.npz"))
		if err != nil {
			t.Fatal(err)
		}
		for _, method := range []string{"GradCAM", "HiResCAM", "LayerCAM"} {
			raw := m["raw_"+method].F
			cam := make([]float32, len(raw))
			for i, v := range raw {
				cam[i] = max(v, 0)
			}
			minMaxNorm(cam)
			up := ResizeBilinear(cam, 7, 7, 224, 224, false)
			for i, v := range up {
				up[i] = max(v, 0)
			}
			minMaxNorm(up)
			want := m["cam_"+method].F
			d := 0.0
			for i := range up {
				d = math.Max(d, math.Abs(float64(up[i]-want[i])))
			}
			// The normalisations are numpy float32 reductions whose
			// summation order we need not copy; the resize is exact.
			if d > 1e-6 {
				t.Errorf("%s %s: max abs diff %g from the stored map", model, method, d)
			}
			t.Logf("%s %s: max abs diff %g", model, method, d)
		}
	}
}

func minMaxNorm(a []float32) {
	lo, hi := a[0], a[0]
	for _, v := range a {
		lo, hi = min(lo, v), max(hi, v)
	}
	hi -= lo
	for i := range a {
		a[i] = (a[i] - lo) / (hi + 1e-7)
	}
}

func TestResampleMatchesLibraries(t *testing.T) {
	tests := []struct {
		key    string
		src    pixels
		filter Filter
		w, h   int
	}{
		{"cv_linear_4x3", pattern(6, 5), Bilinear, 4, 3},
		{"cv_linear_9x8", pattern(6, 5), Bilinear, 9, 8},
		{"cv_linear_3x7", pattern(6, 5), Bilinear, 3, 7},
		{"cv_area_4x3", pattern(6, 5), Area, 4, 3},
		{"cv_area_3x5", pattern(6, 5), Area, 3, 5},
		{"cv_area_9x8", pattern(6, 5), Area, 9, 8},
		{"cv_area_8x3", pattern(6, 5), Area, 8, 3},
		{"cv_area2_4x3", pattern(8, 6), Area, 4, 3},
		{"cv_area2_2x2", pattern(8, 6), Area, 2, 2},
		{"pil_bilinear_4x3", pattern(6, 5), BilinearPIL, 4, 3},
		{"pil_bilinear_9x8", pattern(6, 5), BilinearPIL, 9, 8},
		{"pil_bilinear_3x7", pattern(6, 5), BilinearPIL, 3, 7},
		{"pil_bilinear_2x2", pattern(6, 5), BilinearPIL, 2, 2},
		{"pil_nearest_4x3", pattern(6, 5), Nearest, 4, 3},
		{"pil_nearest_9x8", pattern(6, 5), Nearest, 9, 8},
		{"pil_nearest_3x7", pattern(6, 5), Nearest, 3, 7},
		{"pil_nearest_2x2", pattern(6, 5), Nearest, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			want := oracleBytes(t, tc.key)
			got := resample(tc.src, window{tc.w, tc.h, 0, 0, tc.w, tc.h}, tc.filter, true)
			bad := 0
			for i, v := range got.pix {
				if v != float32(want[i]) {
					bad++
					if bad <= 5 {
						t.Errorf("sample %d (x=%d y=%d c=%d) = %v, want %d", i, i/3%tc.w, i/3/tc.w, i%3, v, want[i])
					}
				}
			}
			// A window of the output equals the same part of the whole.
			win := resample(tc.src, window{tc.w, tc.h, tc.w / 2, tc.h / 2, tc.w - tc.w/2, tc.h - tc.h/2}, tc.filter, true)
			for y := 0; y < win.h; y++ {
				for x := 0; x < win.w*3; x++ {
					if win.pix[y*win.w*3+x] != got.pix[(y+tc.h/2)*tc.w*3+tc.w/2*3+x] {
						t.Fatalf("window differs at row %d", y)
					}
				}
			}
			// Without quantization the result stays within rounding of it.
			f := resample(tc.src, window{tc.w, tc.h, 0, 0, tc.w, tc.h}, tc.filter, false)
			for i, v := range f.pix {
				if math.Abs(float64(v)-float64(want[i])) > 1.5 {
					t.Errorf("float sample %d = %v, library gives %d", i, v, want[i])
					break
				}
			}
		})
	}
}
