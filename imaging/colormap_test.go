package imaging

import (
	"image/color"
	"math"
	"testing"
)

func TestJetMatchesOpenCV(t *testing.T) {
	want := oracleBytes(t, "jet_lut") // cv2.applyColorMap on 0..255, as RGB
	for i := 0; i < 256; i++ {
		got := Jet.Index(uint8(i))
		if got.R != want[i*3] || got.G != want[i*3+1] || got.B != want[i*3+2] {
			t.Errorf("jet[%d] = %v, OpenCV gives %v", i, got, want[i*3:i*3+3])
		}
	}
}

func TestColormapReferenceValues(t *testing.T) {
	// Reference colours: matplotlib 3.6's published tables
	// (lib/matplotlib/_cm_listed.py: _turbo_data, _viridis_data,
	// _inferno_data, _magma_data) at entries 0, 64, 128, 192 and 255,
	// times 255. OpenCV's tables round them to 8 bits, so allow 1.
	ref := map[*Colormap][5][3]float64{
		Turbo: {{0.18995, 0.07176, 0.23217}, {0.15844, 0.73551, 0.92305}, {0.64362, 0.98999, 0.23356},
			{0.9836, 0.49291, 0.12849}, {0.4796, 0.01583, 0.01055}},
		Viridis: {{0.267004, 0.004874, 0.329415}, {0.229739, 0.322361, 0.545706}, {0.127568, 0.566949, 0.550556},
			{0.369214, 0.788888, 0.382914}, {0.993248, 0.906157, 0.143936}},
		Inferno: {{0.001462, 0.000466, 0.013866}, {0.3415, 0.062325, 0.429425}, {0.735683, 0.215906, 0.330245},
			{0.978422, 0.557937, 0.034931}, {0.988362, 0.998364, 0.644924}},
		Magma: {{0.001462, 0.000466, 0.013866}, {0.316654, 0.07169, 0.48538}, {0.716387, 0.214982, 0.47529},
			{0.9867, 0.535582, 0.38221}, {0.987053, 0.991438, 0.749504}},
	}
	for cm, vals := range ref {
		for k, idx := range []int{0, 64, 128, 192, 255} {
			got := cm.Index(uint8(idx))
			g := [3]uint8{got.R, got.G, got.B}
			for c := 0; c < 3; c++ {
				if d := math.Abs(float64(g[c]) - 255*vals[k][c]); d > 1 {
					t.Errorf("%s[%d] = %v, reference %v", cm.Name(), idx, g, vals[k])
					break
				}
			}
		}
	}
	// OpenCV's jet runs from dark blue (0, 0, 128) to dark red (128, 0, 0)
	// through cyan, green and yellow; gray is the identity.
	for _, tc := range []struct {
		cm   *Colormap
		i    uint8
		want color.RGBA
	}{
		{Jet, 0, color.RGBA{0, 0, 128, 255}}, {Jet, 255, color.RGBA{128, 0, 0, 255}},
		{Gray, 0, color.RGBA{0, 0, 0, 255}}, {Gray, 77, color.RGBA{77, 77, 77, 255}}, {Gray, 255, color.RGBA{255, 255, 255, 255}},
	} {
		if got := tc.cm.Index(tc.i); got != tc.want {
			t.Errorf("%s[%d] = %v, want %v", tc.cm.Name(), tc.i, got, tc.want)
		}
	}
}

func TestColormapAt(t *testing.T) {
	// uint8(255*v) truncates: 0.5 -> 127, 0.999 -> 254.
	for _, tc := range []struct {
		v    float32
		want uint8
	}{{0, 0}, {0.5, 127}, {0.999, 254}, {1, 255}, {-3, 0}, {7, 255}, {float32(math.NaN()), 0}, {1.0 / 255, 1}} {
		if got := Gray.At(tc.v); got.R != tc.want {
			t.Errorf("At(%g) = entry %d, want %d", tc.v, got.R, tc.want)
		}
	}
	img, err := Colorize([]float32{0, 0.5, 1, 0.25}, 2, 2, Jet)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []float32{0, 0.5, 1, 0.25} {
		if got := img.RGBAAt(i%2, i/2); got != Jet.At(v) {
			t.Errorf("pixel %d = %v, want %v", i, got, Jet.At(v))
		}
	}
	if _, err := Colorize([]float32{1}, 2, 2, Jet); err == nil {
		t.Error("Colorize accepted a short map")
	}
	for _, name := range ColormapNames() {
		if cm, err := ColormapByName(name); err != nil || cm.Name() != name {
			t.Errorf("ColormapByName(%q) = %v, %v", name, cm, err)
		}
	}
	if _, err := ColormapByName("parula"); err == nil {
		t.Error("unknown colormap accepted")
	}
}
