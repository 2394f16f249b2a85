package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// DefaultMaxPixels is the pixel limit used when DecodeOptions.MaxPixels
// is zero: 100 megapixels.
const DefaultMaxPixels = 100_000_000

// DecodeOptions controls Decode. The zero value is ready to use.
type DecodeOptions struct {
	// MaxPixels is the largest width*height accepted, checked from the
	// header before any pixel is decoded. Zero means DefaultMaxPixels;
	// a negative value means no limit.
	MaxPixels int64
	// IgnoreOrientation keeps JPEG pixels as stored instead of applying
	// the EXIF Orientation tag.
	IgnoreOrientation bool
}

// ErrTooLarge is wrapped by the error Decode returns for an image above
// the pixel limit.
var ErrTooLarge = errors.New("imaging: image too large")

// ErrUnknownFormat is wrapped by the error Decode returns for data in no
// supported format.
var ErrUnknownFormat = errors.New("imaging: unknown image format")

// format is one supported container format.
type format struct {
	name   string
	match  func([]byte) bool
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

var formats = []format{
	{"png", prefix("\x89PNG\r\n\x1a\n"), png.DecodeConfig, png.Decode},
	{"jpeg", prefix("\xff\xd8"), jpeg.DecodeConfig, jpeg.Decode},
	{"gif", func(b []byte) bool { return prefix("GIF87a")(b) || prefix("GIF89a")(b) }, gif.DecodeConfig, gif.Decode},
	{"bmp", prefix("BM"), bmp.DecodeConfig, bmp.Decode},
	{"tiff", func(b []byte) bool { return prefix("II*\x00")(b) || prefix("MM\x00*")(b) }, tiff.DecodeConfig, tiff.Decode},
	{"webp", func(b []byte) bool { return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP" }, webp.DecodeConfig, webp.Decode},
}

func prefix(p string) func([]byte) bool {
	return func(b []byte) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }
}

// DecodeFile decodes the image file at path; see Decode.
func DecodeFile(path string, opts *DecodeOptions) (image.Image, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("imaging: %w", err)
	}
	img, name, err := DecodeBytes(data, opts)
	if err != nil {
		return nil, name, fmt.Errorf("%s: %w", path, err)
	}
	return img, name, nil
}

// Decode reads an image in PNG, JPEG, GIF (first frame), BMP, TIFF or
// WebP format from r and returns it with the format's name. The format
// is recognised from the data's first bytes, not from a file name.
//
// The header is read first and an image whose width*height exceeds the
// pixel limit is refused, with an error wrapping ErrTooLarge, before any
// pixel memory is allocated. A JPEG's EXIF Orientation tag (1..8) is
// applied, so that the result is upright as a viewer shows it, unless
// opts.IgnoreOrientation is set. Malformed data gives an error naming the
// problem; a panic inside a decoder is turned into an error.
func Decode(r io.Reader, opts *DecodeOptions) (image.Image, string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, "", fmt.Errorf("imaging: reading image: %w", err)
	}
	return DecodeBytes(data, opts)
}

// DecodeBytes is Decode for an image held in memory.
func DecodeBytes(data []byte, opts *DecodeOptions) (img image.Image, name string, err error) {
	var o DecodeOptions
	if opts != nil {
		o = *opts
	}
	limit := o.MaxPixels
	if limit == 0 {
		limit = DefaultMaxPixels
	}
	var f *format
	for i := range formats {
		if formats[i].match(data) {
			f = &formats[i]
			break
		}
	}
	if f == nil {
		if len(data) == 0 {
			return nil, "", fmt.Errorf("%w: empty input", ErrUnknownFormat)
		}
		return nil, "", fmt.Errorf("%w (starts with % x; want PNG, JPEG, GIF, BMP, TIFF or WebP)", ErrUnknownFormat, data[:min(len(data), 8)])
	}
	name = f.name
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("imaging: %s decoder failed on malformed data: %v", name, p)
		}
	}()
	cfg, err := f.config(bytes.NewReader(data))
	if err != nil {
		return nil, name, decodeErr(name, "header", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, name, fmt.Errorf("imaging: %s header declares an empty %dx%d image", name, cfg.Width, cfg.Height)
	}
	if n := int64(cfg.Width) * int64(cfg.Height); limit > 0 && n > limit {
		return nil, name, fmt.Errorf("%w: %s is %dx%d = %d pixels, above the limit of %d pixels (DecodeOptions.MaxPixels)",
			ErrTooLarge, name, cfg.Width, cfg.Height, n, limit)
	}
	img, err = f.decode(bytes.NewReader(data))
	if err != nil {
		return nil, name, decodeErr(name, "data", err)
	}
	b := img.Bounds()
	if n := int64(b.Dx()) * int64(b.Dy()); b.Empty() || limit > 0 && n > limit {
		return nil, name, fmt.Errorf("imaging: %s decoded to bounds %v, not the %dx%d its header declares", name, b, cfg.Width, cfg.Height)
	}
	if name == "jpeg" && !o.IgnoreOrientation {
		if or := jpegOrientation(data); or > 1 {
			img = Orient(img, or)
		}
	}
	return img, name, nil
}

// decodeErr names a decoder error; truncated input is reported as such.
func decodeErr(name, part string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "not enough pixel data") {
		return fmt.Errorf("imaging: truncated %s %s: %w", name, part, err)
	}
	return fmt.Errorf("imaging: invalid %s %s: %w", name, part, err)
}

// Orient returns img transformed as EXIF Orientation value o says to
// display it (TIFF 6.0 / EXIF 2.3 tag 0x0112: the stored 0th row and 0th
// column are the visual 1 top/left, 2 top/right, 3 bottom/right,
// 4 bottom/left, 5 left/top, 6 right/top, 7 right/bottom, 8 left/bottom).
// Values 5 to 8 swap width and height. Other values return img unchanged.
// The result is an *image.NRGBA with its origin at (0, 0).
func Orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	src := toNRGBA(img)
	dst := image.NewNRGBA(image.Rect(0, 0, ow, oh))
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			// (sx, sy) is the stored pixel shown at visual (x, y).
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			}
			copy(dst.Pix[dst.PixOffset(x, y):][:4], src.Pix[src.PixOffset(sx, sy):][:4])
		}
	}
	return dst
}
