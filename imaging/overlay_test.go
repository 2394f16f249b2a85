package imaging

import (
	"image"
	"image/color"
	"testing"
)

func TestOverlayShowCAMOnImageMatchesPytorchGradCAM(t *testing.T) {
	src := pattern(3, 2)
	photo := nrgba(3, 2, func(x, y int) (uint8, uint8, uint8) {
		i := (y*3 + x) * 3
		return uint8(src.pix[i]), uint8(src.pix[i+1]), uint8(src.pix[i+2])
	})
	mask := []float32{0, 0.2, 0.5, 0.7, 0.9, 1}
	for _, tc := range []struct {
		key   string
		cm    *Colormap
		alpha float64 // 1 - image_weight
	}{{"scam_05", Jet, 0.5}, {"scam_03_turbo", Turbo, 0.3}} {
		got, err := Overlay(photo, mask, 2, 3, nil, OverlayOptions{Colormap: tc.cm, Alpha: tc.alpha, Style: ShowCAMOnImage})
		if err != nil {
			t.Fatal(err)
		}
		want := oracleBytes(t, tc.key)
		for i := 0; i < 6; i++ {
			p := got.RGBAAt(i%3, i/3)
			if p.R != want[i*3] || p.G != want[i*3+1] || p.B != want[i*3+2] || p.A != 255 {
				t.Errorf("%s pixel %d = %v, pytorch-grad-cam gives %v", tc.key, i, p, want[i*3:i*3+3])
			}
		}
	}
}

func TestOverlayBlendAndGeometry(t *testing.T) {
	grey := nrgba(2, 1, func(x, y int) (uint8, uint8, uint8) { return 100, 100, 100 })
	// Jet 0 is (0,0,128) and 1 is (128,0,0); half and half with grey 100.
	got, err := Overlay(grey, []float32{0, 1}, 1, 2, nil, OverlayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for x, want := range []color.RGBA{{50, 50, 114, 255}, {114, 50, 50, 255}} {
		if p := got.RGBAAt(x, 0); p != want {
			t.Errorf("pixel %d = %v, want %v", x, p, want)
		}
	}
	// The map covers only [1,3)x[1,3) of a 4x4 photo: outside pixels keep
	// the photo unless ExtendOutside is set.
	photo := nrgba(4, 4, func(x, y int) (uint8, uint8, uint8) { return 10, 20, 30 })
	g := &Geometry{PhotoWidth: 4, PhotoHeight: 4, InputWidth: 2, InputHeight: 2, X0: 1, X1: 3, Y0: 1, Y1: 3}
	one := []float32{1, 1, 1, 1}
	for _, extend := range []bool{false, true} {
		img, err := Overlay(photo, one, 2, 2, g, OverlayOptions{Colormap: Gray, Alpha: 1, ExtendOutside: extend})
		if err != nil {
			t.Fatal(err)
		}
		for _, pt := range []image.Point{{0, 0}, {3, 1}, {1, 1}, {2, 2}} {
			want := color.RGBA{255, 255, 255, 255}
			if !extend && !g.Seen(pt.X, pt.Y) {
				want = color.RGBA{10, 20, 30, 255}
			}
			if p := img.RGBAAt(pt.X, pt.Y); p != want {
				t.Errorf("extend=%v: pixel %v = %v, want %v", extend, pt, p, want)
			}
		}
	}
	// The map is resampled to the photo's resolution.
	big := nrgba(8, 4, func(x, y int) (uint8, uint8, uint8) { return 0, 0, 0 })
	img, err := Overlay(big, []float32{0, 1}, 1, 2, nil, OverlayOptions{Colormap: Gray, Alpha: 1})
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 8 || b.Dy() != 4 {
		t.Fatalf("overlay size %v, want the photo's 8x4", b)
	}
	// Columns 0..7 sample the 2-pixel map at x = (i+0.5)/4 - 0.5.
	for x, want := range []uint8{0, 0, 31, 95, 159, 223, 255, 255} {
		if p := img.RGBAAt(x, 2); p.R != want {
			t.Errorf("column %d = %d, want %d", x, p.R, want)
		}
	}
	if _, err := Overlay(big, []float32{0, 1}, 1, 2, g, OverlayOptions{}); err == nil {
		t.Error("a geometry for another photo size was accepted")
	}
	if _, err := Overlay(big, []float32{0, 1}, 1, 2, nil, OverlayOptions{Alpha: 2}); err == nil {
		t.Error("alpha 2 was accepted")
	}
}
