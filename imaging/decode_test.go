package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// quadrants returns a w x h image whose quadrants are red (top left),
// green (top right), blue (bottom left) and white (bottom right).
func quadrants(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{A: 255}
			switch {
			case x < w/2 && y < h/2:
				c.R = 255
			case y < h/2:
				c.G = 255
			case x < w/2:
				c.B = 255
			default:
				c = color.NRGBA{255, 255, 255, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encode(t testing.TB, format string, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, img)
	case "jpeg":
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 95})
	case "gif":
		err = gif.Encode(&b, img, nil)
	case "bmp":
		err = bmp.Encode(&b, img)
	case "tiff":
		err = tiff.Encode(&b, img, nil)
	case "webp":
		return oracleBytes(t, "webp") // 2x2 red, green / blue, white
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func near(a, b color.Color, tol int) bool {
	r1, g1, b1, _ := a.RGBA()
	r2, g2, b2, _ := b.RGBA()
	d := func(x, y uint32) bool { return abs(int(x>>8)-int(y>>8)) <= tol }
	return d(r1, r2) && d(g1, g2) && d(b1, b2)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

var (
	red   = color.NRGBA{255, 0, 0, 255}
	green = color.NRGBA{0, 255, 0, 255}
	blue  = color.NRGBA{0, 0, 255, 255}
	white = color.NRGBA{255, 255, 255, 255}
)

// checkQuadrants checks the colours at the centres of img's quadrants.
func checkQuadrants(t *testing.T, name string, img image.Image, tl, tr, bl, br color.Color, tol int) {
	t.Helper()
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	pts := []struct {
		x, y int
		want color.Color
		what string
	}{{w / 4, h / 4, tl, "top left"}, {3 * w / 4, h / 4, tr, "top right"}, {w / 4, 3 * h / 4, bl, "bottom left"}, {3 * w / 4, 3 * h / 4, br, "bottom right"}}
	for _, p := range pts {
		if got := img.At(b.Min.X+p.x, b.Min.Y+p.y); !near(got, p.want, tol) {
			t.Errorf("%s: %s is %v, want %v", name, p.what, got, p.want)
		}
	}
}

func TestDecodeFormats(t *testing.T) {
	for _, tc := range []struct {
		format string
		w, h   int
		tol    int
	}{{"png", 6, 4, 0}, {"jpeg", 32, 32, 12}, {"gif", 6, 4, 0}, {"bmp", 6, 4, 0}, {"tiff", 6, 4, 0}, {"webp", 2, 2, 0}} {
		data := encode(t, tc.format, quadrants(tc.w, tc.h))
		img, name, err := Decode(bytes.NewReader(data), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		if name != tc.format {
			t.Errorf("format %q, want %q", name, tc.format)
		}
		if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("%s: size %v, want %dx%d", tc.format, b, tc.w, tc.h)
		}
		checkQuadrants(t, tc.format, img, red, green, blue, white, tc.tol)
	}
	// From a file, too.
	p := filepath.Join(t.TempDir(), "q.png")
	if err := os.WriteFile(p, encode(t, "png", quadrants(4, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	if img, _, err := DecodeFile(p, nil); err != nil || img.Bounds().Dx() != 4 {
		t.Errorf("DecodeFile: %v", err)
	}
	if _, _, err := DecodeFile(filepath.Join(t.TempDir(), "missing.png"), nil); err == nil {
		t.Error("DecodeFile of a missing file succeeded")
	}
}

// byteOrder is what binary.LittleEndian and binary.BigEndian provide.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// withExif inserts an APP0 segment and then an APP1 Exif segment holding
// IFD0 with tags 0x010F (Make, ASCII) and 0x0112 (Orientation, SHORT) into
// a JPEG file, right after its SOI marker.
func withExif(jpg []byte, orientation uint16, bo byteOrder) []byte {
	var tiffHdr []byte
	if bo.String() == binary.LittleEndian.String() {
		tiffHdr = []byte("II")
	} else {
		tiffHdr = []byte("MM")
	}
	tiffHdr = bo.AppendUint16(tiffHdr, 42)
	tiffHdr = bo.AppendUint32(tiffHdr, 8)
	tiffHdr = bo.AppendUint16(tiffHdr, 2) // two entries
	// Make: ASCII, 4 bytes "Go!\0" inline.
	tiffHdr = bo.AppendUint16(tiffHdr, 0x010F)
	tiffHdr = bo.AppendUint16(tiffHdr, 2)
	tiffHdr = bo.AppendUint32(tiffHdr, 4)
	tiffHdr = append(tiffHdr, "Go!\x00"...)
	// Orientation: SHORT, count 1, value in the first two bytes.
	tiffHdr = bo.AppendUint16(tiffHdr, 0x0112)
	tiffHdr = bo.AppendUint16(tiffHdr, 3)
	tiffHdr = bo.AppendUint32(tiffHdr, 1)
	tiffHdr = bo.AppendUint16(tiffHdr, orientation)
	tiffHdr = append(tiffHdr, 0, 0)
	tiffHdr = bo.AppendUint32(tiffHdr, 0) // no next IFD
	app1 := append([]byte("Exif\x00\x00"), tiffHdr...)
	app0 := []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
	var out []byte
	out = append(out, jpg[:2]...)
	out = append(out, 0xFF, 0xE0)
	out = binary.BigEndian.AppendUint16(out, uint16(len(app0)+2))
	out = append(out, app0...)
	out = append(out, 0xFF, 0xE1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(app1)+2))
	out = append(out, app1...)
	return append(out, jpg[2:]...)
}

func TestEXIFOrientation(t *testing.T) {
	// The stored image is 32x16: red, green / blue, white. Expected views
	// follow EXIF 2.3's definitions of which stored row and column are
	// the visual top and left (e.g. 6: the 0th row is the visual right
	// side, the 0th column the visual top: a clockwise quarter turn).
	stored := encode(t, "jpeg", quadrants(32, 16))
	tests := []struct {
		o              uint16
		w, h           int
		tl, tr, bl, br color.Color
	}{
		{1, 32, 16, red, green, blue, white},
		{2, 32, 16, green, red, white, blue},
		{3, 32, 16, white, blue, green, red},
		{4, 32, 16, blue, white, red, green},
		{5, 16, 32, red, blue, green, white},
		{6, 16, 32, blue, red, white, green},
		{7, 16, 32, white, green, blue, red},
		{8, 16, 32, green, white, red, blue},
		{0, 32, 16, red, green, blue, white}, // invalid values are ignored
		{9, 32, 16, red, green, blue, white},
	}
	for _, tc := range tests {
		for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
			data := withExif(stored, tc.o, bo)
			if got := jpegOrientation(data); got != max(1, int(tc.o)) && tc.o <= 8 {
				t.Errorf("orientation %d (%v): read %d", tc.o, bo, got)
			}
			img, _, err := DecodeBytes(data, nil)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Errorf("orientation %d: size %v, want %dx%d", tc.o, b, tc.w, tc.h)
			}
			checkQuadrants(t, "orientation "+string(rune('0'+tc.o)), img, tc.tl, tc.tr, tc.bl, tc.br, 12)
			raw, _, err := DecodeBytes(data, &DecodeOptions{IgnoreOrientation: true})
			if err != nil {
				t.Fatal(err)
			}
			checkQuadrants(t, "ignored orientation", raw, red, green, blue, white, 12)
		}
	}
	// Segments that are cut short or malformed leave the image as stored.
	good := withExif(stored, 6, binary.LittleEndian)
	for _, bad := range [][]byte{good[:30], good[:60], []byte("\xff\xd8\xff\xe1\x00\x01"), []byte("\xff\xd8\xff\xe1\x00\x10Exif\x00\x00XX*\x00")} {
		if o := jpegOrientation(bad); o != 1 {
			t.Errorf("malformed segment %q gave orientation %d", bad, o)
		}
	}
}

// pngHeader returns a PNG signature and IHDR chunk declaring a w x h RGB
// image, without any pixel data.
func pngHeader(w, h uint32) []byte {
	ihdr := []byte("IHDR")
	ihdr = binary.BigEndian.AppendUint32(ihdr, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB, no interlace
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

func TestPixelLimit(t *testing.T) {
	huge := pngHeader(30000, 30000)
	_, _, err := DecodeBytes(huge, nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("30000x30000 PNG: error %v, want ErrTooLarge", err)
	}
	for _, s := range []string{"30000x30000", "900000000", "100000000"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	small := encode(t, "png", quadrants(16, 16))
	if _, _, err := DecodeBytes(small, &DecodeOptions{MaxPixels: 255}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("16x16 with limit 255: %v, want ErrTooLarge", err)
	}
	if _, _, err := DecodeBytes(small, &DecodeOptions{MaxPixels: 256}); err != nil {
		t.Errorf("16x16 with limit 256: %v", err)
	}
	// Without a limit the header passes and the missing data is reported.
	_, _, err = DecodeBytes(pngHeader(3, 3), &DecodeOptions{MaxPixels: -1})
	if err == nil || errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("header-only PNG: %v, want a truncation error", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	png := encode(t, "png", quadrants(8, 8))
	jpg := encode(t, "jpeg", quadrants(8, 8))
	corrupt := append([]byte(nil), png...)
	copy(corrupt[len(corrupt)-30:], "garbage garbage garbage")
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty input"},
		{"unknown", []byte("hello, world"), "unknown image format"},
		{"truncated png", png[:len(png)/2], "truncated png"},
		{"corrupt png", corrupt, "png"},
		{"truncated jpeg", jpg[:len(jpg)/2], "jpeg"},
		{"bmp header only", []byte("BM\x00\x00"), "truncated bmp"},
		{"zero size", pngHeader(0, 5), "png"},
	}
	for _, tc := range tests {
		_, _, err := Decode(bytes.NewReader(tc.data), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, _, err := DecodeBytes([]byte("GIF89a"), nil); err == nil {
		t.Error("a bare GIF signature decoded")
	}
}

func FuzzDecode(f *testing.F) {
	// The seed corpus in testdata/fuzz/FuzzDecode holds tiny images of
	// each format, generated for this test; add a few built here.
	f.Add(encode(f, "png", quadrants(3, 2)))
	f.Add(withExif(encode(f, "jpeg", quadrants(4, 2)), 8, binary.BigEndian))
	f.Add(pngHeader(1<<20, 1<<20))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 16
		img, _, err := DecodeBytes(data, &DecodeOptions{MaxPixels: limit})
		if err != nil {
			if img != nil {
				t.Fatal("an image returned with an error")
			}
			return
		}
		b := img.Bounds()
		if b.Empty() || int64(b.Dx())*int64(b.Dy()) > limit {
			t.Fatalf("decoded bounds %v outside the limit", b)
		}
		// Whatever decodes can be preprocessed.
		p := Preprocess{Width: 2, Height: 2, Filter: BilinearPIL, Quantize: true, Scale: 255, Std: [3]float32{1, 1, 1}}
		if _, _, err := p.Apply(img); err != nil {
			t.Fatalf("preprocessing a decoded %v image: %v", b, err)
		}
	})
}

// TestJPEGDecodingMatchesLibjpeg compares decoded JPEG pixels with what
// PIL (libjpeg) decodes from the same files. Chroma upsampling and colour
// conversion follow libjpeg; Go's inverse DCT differs from libjpeg's
// islow one by a few levels at most.
func TestJPEGDecodingMatchesLibjpeg(t *testing.T) {
	for _, key := range []string{"jpeg420", "jpeg422", "jpeg444"} {
		img, _, err := DecodeBytes(oracleBytes(t, key), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := oracleBytes(t, key+"_pil")
		got := toPixels(img)
		if got.w != 13 || got.h != 9 {
			t.Fatalf("%s: size %dx%d, want 13x9", key, got.w, got.h)
		}
		maxd, sum := 0, 0
		for i, v := range got.pix {
			d := abs(int(v) - int(want[i]))
			maxd, sum = max(maxd, d), sum+d
		}
		mean := float64(sum) / float64(len(want))
		t.Logf("%s: max abs diff %d, mean %.3f", key, maxd, mean)
		if maxd > 4 || mean > 0.5 {
			t.Errorf("%s: max abs diff %d, mean %.3f from libjpeg's pixels", key, maxd, mean)
		}
	}
}
