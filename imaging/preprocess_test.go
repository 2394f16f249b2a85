package imaging

import (
	"encoding/binary"
	"image"
	"image/color"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gradcam/gradcam/internal/shared"
	"github.com/gradcam/gradcam/npy"
)

func nrgba(w, h int, f func(x, y int) (r, g, b uint8)) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, b := f(x, y)
			img.SetNRGBA(x, y, color.NRGBA{r, g, b, 255})
		}
	}
	return img
}

func TestPreprocessAreaByHand(t *testing.T) {
	// 4x4 -> 2x2 with INTER_AREA on 8-bit data: OpenCV averages each 2x2
	// block as (sum+2)>>2. R = 10x + 40y, G = x + 2y + 1, B = 7.
	photo := nrgba(4, 4, func(x, y int) (uint8, uint8, uint8) {
		return uint8(10*x + 40*y), uint8(x + 2*y + 1), 7
	})
	p := Preprocess{Width: 2, Height: 2, Resize: ResizeExact, Filter: Area, Quantize: true,
		Scale: 255, Mean: ImageNetMean, Std: ImageNetStd, Layout: NCHW}
	got, g, err := p.Apply(photo)
	if err != nil {
		t.Fatal(err)
	}
	// Block sums: R 100, 180, 420, 500 -> 25, 45, 105, 125;
	// G 10, 18, 26, 34 -> 3, 5, 7, 9 (the halves round up); B 7.
	pix := [3][4]float32{{25, 45, 105, 125}, {3, 5, 7, 9}, {7, 7, 7, 7}}
	if !reflect.DeepEqual(got.Shape, []int{1, 3, 2, 2}) {
		t.Fatalf("shape %v", got.Shape)
	}
	for c := 0; c < 3; c++ {
		for i := 0; i < 4; i++ {
			want := (pix[c][i]/255 - ImageNetMean[c]) / ImageNetStd[c]
			if got.F[c*4+i] != want {
				t.Errorf("channel %d pixel %d = %g, want %g", c, i, got.F[c*4+i], want)
			}
		}
	}
	if want := FullGeometry(4, 4, 2, 2); g != want {
		t.Errorf("geometry %+v, want %+v", g, want)
	}
}

func TestPresetKerasCaffeAndTF(t *testing.T) {
	photo := nrgba(2, 1, func(x, y int) (uint8, uint8, uint8) {
		if x == 0 {
			return 10, 20, 30
		}
		return 200, 150, 51
	})
	p, err := Preset("keras-caffe")
	if err != nil {
		t.Fatal(err)
	}
	p.Width, p.Height = 2, 1
	got, _, err := p.Apply(photo)
	if err != nil {
		t.Fatal(err)
	}
	// NHWC, channels B, G, R minus the BGR means.
	// (Keras subtracts in float32.)
	f := func(v float64) float32 { return float32(v) }
	want := []float32{30 - f(103.939), 20 - f(116.779), 10 - f(123.68), 51 - f(103.939), 150 - f(116.779), 200 - f(123.68)}
	if !reflect.DeepEqual(got.Shape, []int{1, 1, 2, 3}) {
		t.Fatalf("shape %v", got.Shape)
	}
	assertFloats(t, "keras-caffe", got.F, want, 0)

	p, _ = Preset("tf")
	p.Width, p.Height = 2, 1
	got, _, err = p.Apply(photo)
	if err != nil {
		t.Fatal(err)
	}
	// p/127.5 - 1: 10 -> -0.92156863, 51 -> -0.6, 200 -> 0.5686275.
	want = []float32{10/127.5 - 1, 20/127.5 - 1, 30/127.5 - 1, 200/127.5 - 1, 150/127.5 - 1, 51/127.5 - 1}
	assertFloats(t, "tf", got.F, want, 1e-7)

	p, _ = Preset("inception")
	if p.Width != 299 || p.Height != 299 || p.Layout != NHWC {
		t.Errorf("inception preset %+v", p)
	}
}

func TestPresetGeometry(t *testing.T) {
	// torchvision on a 400x300 photo: shorter side 300 -> 256, longer
	// int(256*400/300) = 341; centre crop 224 at x = round(58.5) = 58
	// (half to even), y = 16. Back on the photo: x from 58*400/341 to
	// 282*400/341, y from 16*300/256 = 18.75 to 240*300/256 = 281.25.
	photo := nrgba(400, 300, func(x, y int) (uint8, uint8, uint8) { return uint8(x), uint8(y), 0 })
	for _, name := range []string{"torchvision", "torchvision-area"} {
		p, _ := Preset(name)
		tt, g, err := p.Apply(photo)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(tt.Shape, []int{1, 3, 224, 224}) {
			t.Errorf("%s: shape %v", name, tt.Shape)
		}
		want := Geometry{PhotoWidth: 400, PhotoHeight: 300, InputWidth: 224, InputHeight: 224,
			X0: 58 * 400.0 / 341, X1: 282 * 400.0 / 341, Y0: 18.75, Y1: 281.25}
		if !geomNear(g, want) {
			t.Errorf("%s: geometry %+v, want %+v", name, g, want)
		}
	}
	// mobilenet-slim on 16x16 with a 7x7 input: the central crop keeps
	// int((16-14)/2) = 1 .. 15, resized to 7.
	p, _ := Preset("mobilenet-slim")
	p.Width, p.Height = 7, 7
	_, g, err := p.Apply(nrgba(16, 16, func(x, y int) (uint8, uint8, uint8) { return 1, 2, 3 }))
	if err != nil {
		t.Fatal(err)
	}
	if g.X0 != 1 || g.X1 != 15 || g.Y0 != 1 || g.Y1 != 15 {
		t.Errorf("mobilenet-slim geometry %+v, want [1,15)x[1,15)", g)
	}
}

func geomNear(a, b Geometry) bool {
	n := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	return a.PhotoWidth == b.PhotoWidth && a.PhotoHeight == b.PhotoHeight && a.InputWidth == b.InputWidth &&
		a.InputHeight == b.InputHeight && n(a.X0, b.X0) && n(a.X1, b.X1) && n(a.Y0, b.Y0) && n(a.Y1, b.Y1)
}

func TestGeometryToPhoto(t *testing.T) {
	g := Geometry{PhotoWidth: 4, PhotoHeight: 4, InputWidth: 2, InputHeight: 2, X0: 1, X1: 3, Y0: 1, Y1: 3}
	got, err := g.ToPhoto([]float32{0, 1, 2, 3}, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Pixel centres 1.5 and 2.5 fall on the map's pixel centres; the
	// border pixels take the nearest edge value.
	want := []float32{0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3}
	assertFloats(t, "ToPhoto", got, want, 1e-6)
	for _, tc := range []struct {
		x, y int
		seen bool
	}{{0, 0, false}, {1, 1, true}, {2, 2, true}, {3, 2, false}, {2, 3, false}} {
		if g.Seen(tc.x, tc.y) != tc.seen {
			t.Errorf("Seen(%d,%d) = %v", tc.x, tc.y, !tc.seen)
		}
	}
	if _, err := g.ToPhoto([]float32{1, 2, 3}, 2, 2); err == nil {
		t.Error("a short map was accepted")
	}
}

func TestPreprocessValidate(t *testing.T) {
	for _, name := range PresetNames() {
		p, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
	if _, err := Preset("caffe2"); err == nil || !strings.Contains(err.Error(), "torchvision") {
		t.Errorf("unknown preset error %v should list the presets", err)
	}
	base, _ := Preset("torchvision")
	for name, mod := range map[string]func(*Preprocess){
		"zero size":     func(p *Preprocess) { p.Width = 0 },
		"zero scale":    func(p *Preprocess) { p.Scale = 0 },
		"zero std":      func(p *Preprocess) { p.Std[1] = 0 },
		"short side":    func(p *Preprocess) { p.ShorterSide = 100 },
		"fraction":      func(p *Preprocess) { p.CentralFraction = 1.5 },
		"filter":        func(p *Preprocess) { p.Filter = 42 },
		"layout":        func(p *Preprocess) { p.Layout = 7 },
		"resize mode":   func(p *Preprocess) { p.Resize = -1 },
		"nan fraction":  func(p *Preprocess) { p.CentralFraction = math.NaN() },
		"infinite scal": func(p *Preprocess) { p.Scale = float32(math.Inf(1)) },
	} {
		p := base
		mod(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// ResizeNone needs a photo at least as large as the input.
	p := base
	p.Resize = ResizeNone
	if _, _, err := p.Apply(nrgba(100, 300, func(x, y int) (uint8, uint8, uint8) { return 0, 0, 0 })); err == nil {
		t.Error("a 100x300 photo was centre-cropped to 224x224")
	}
	if f, err := ParseFilter("bilinear-pil"); err != nil || f != BilinearPIL || f.String() != "bilinear-pil" {
		t.Errorf("ParseFilter: %v %v", f, err)
	}
	if _, err := ParseFilter("lanczos"); err == nil {
		t.Error("ParseFilter accepted lanczos")
	}
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*4:]))
	}
	return f
}

// TestMobileNetGoldenInput reproduces the golden inputs of the MobileNet
// models in shared/models (made with PIL: central crop 87.5%, BILINEAR
// resize, (p-127.5)/127.5) from the same photo.
func TestMobileNetGoldenInput(t *testing.T) {
	photo, _, err := DecodeFile(shared.Path(t, "images", "both.png"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		model string
		size  int
	}{{"mobilenet_v2_1.0_224", 224}, {"mobilenet_v1_1.0_224", 224}, {"mobilenet_v1_0.25_128", 128}} {
		want := readF32(t, shared.Path(t, "models", "golden", tc.model+".both.input.f32"))
		p, _ := Preset("mobilenet-slim")
		p.Width, p.Height = tc.size, tc.size
		got, _, err := p.Apply(photo)
		if err != nil {
			t.Fatal(err)
		}
		d := 0.0
		for i := range want {
			d = math.Max(d, math.Abs(float64(got.F[i]-want[i])))
		}
		t.Logf("%s: max abs diff %g over %d values", tc.model, d, len(want))
		if d != 0 {
			t.Errorf("%s: max abs diff %g from the golden input", tc.model, d)
		}
	}
}

// TestTorchvisionReferenceInput checks the pytorch-grad-cam reference
// input. Its stored image equals both.png/255 exactly: the 224x224 photo
// was used as it is (no resize to 256), so a ResizeNone recipe with the
// torchvision normalisation reproduces it.
func TestTorchvisionReferenceInput(t *testing.T) {
	photo, _, err := DecodeFile(shared.Path(t, "images", "both.png"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := npy.ReadNPZ(shared.Path(t, "reference", "resnet18__photo-both.npz"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := Preset("torchvision")
	p.Resize = ResizeNone
	in, _, err := p.Apply(photo)
	if err != nil {
		t.Fatal(err)
	}
	img := Preprocess{Width: 224, Height: 224, Resize: ResizeNone, Scale: 255, Std: [3]float32{1, 1, 1}, Layout: NHWC}
	im, _, err := img.Apply(photo)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want []float32
		tol       float64
	}{{"image", im.F, ref["image"].F, 0}, {"input", in.F, ref["input"].F, 5e-7}} {
		d := 0.0
		for i := range c.want {
			d = math.Max(d, math.Abs(float64(c.got[i]-c.want[i])))
		}
		t.Logf("%s: max abs diff %g", c.name, d)
		if d > c.tol {
			t.Errorf("%s: max abs diff %g", c.name, d)
		}
	}
}
