package batch

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"

	"github.com/gradcam/gradcam"
	"github.com/gradcam/gradcam/imaging"
	"github.com/gradcam/gradcam/npy"
	"github.com/gradcam/gradcam/tensor"
)

// Source says how items are read.
type Source struct {
	// Decode limits and orients the photos (see imaging.DecodeOptions).
	Decode imaging.DecodeOptions
	// LimitHint follows the pixel-limit error message, to name the
	// setting that changes the limit (e.g. " (--max-pixels)").
	LimitHint string
	// Stdin is read for the item Stdin.
	Stdin io.Reader
}

// TooLargeError is the error for an image above the pixel limit, found
// from its header before any pixel is decoded. It wraps
// imaging.ErrTooLarge.
type TooLargeError struct {
	Width, Height int
	Limit         int64
	Hint          string
}

// Error says the size and the limit: "image is 30000x30000 pixels, above
// the limit of 100000000 (--max-pixels)".
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("image is %dx%d pixels, above the limit of %d%s", e.Width, e.Height, e.Limit, e.Hint)
}

// Unwrap returns imaging.ErrTooLarge.
func (e *TooLargeError) Unwrap() error { return imaging.ErrTooLarge }

// input is one item made ready for the model: a batch of n images (one
// for a photo; the .npy's batch for a tensor), with a picture of each to
// draw on.
type input struct {
	x      *tensor.Tensor
	photos []image.Image
	geos   []imaging.Geometry
	names  []string // per image, for records
	stems  []string // per image, for outputs
}

// load reads an item for model m.
func (s *Source) load(m *gradcam.Model, it Item) (*input, error) {
	if it.Tensor {
		return s.loadTensor(m, it)
	}
	data, err := ReadItem(it, s.Stdin)
	if err != nil {
		return nil, err
	}
	img, err := s.decode(data)
	if err != nil {
		return nil, err
	}
	in, err := m.Prepare(img)
	if err != nil {
		return nil, err
	}
	return &input{x: in.Tensor, photos: []image.Image{img}, geos: []imaging.Geometry{in.Geometry},
		names: []string{it.Name}, stems: []string{it.Stem}}, nil
}

// decode checks the pixel limit from the header, then decodes.
func (s *Source) decode(data []byte) (image.Image, error) {
	limit := s.Decode.MaxPixels
	if limit == 0 {
		limit = imaging.DefaultMaxPixels
	}
	// The decoders of every supported format are registered with package
	// image by the imports of package imaging.
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil && limit > 0 {
		if n := int64(cfg.Width) * int64(cfg.Height); n > limit {
			return nil, &TooLargeError{Width: cfg.Width, Height: cfg.Height, Limit: limit, Hint: s.LimitHint}
		}
	}
	img, _, err := imaging.DecodeBytes(data, &s.Decode)
	return img, err
}

// loadTensor reads a ready model input from an .npy file and rebuilds a
// picture of each image by undoing the model's normalisation.
func (s *Source) loadTensor(m *gradcam.Model, it Item) (*input, error) {
	var (
		x   *tensor.Tensor
		err error
	)
	if it.Path == Stdin {
		if s.Stdin == nil {
			return nil, fmt.Errorf("no standard input")
		}
		x, err = npy.Read(s.Stdin)
	} else {
		x, err = npy.ReadFile(it.Path)
	}
	if err != nil {
		return nil, err
	}
	if x.DType != tensor.Float32 || len(x.Shape) != 4 {
		return nil, fmt.Errorf("input tensor is %s%v; want float32 of rank 4 shaped like the model's input %v",
			x.DType, x.Shape, m.Engine.InputShape(1))
	}
	want := m.Engine.InputShape(x.Shape[0])
	for i, d := range want {
		if d > 0 && d != x.Shape[i] {
			return nil, fmt.Errorf("input tensor has shape %v; the model takes %v", x.Shape, want)
		}
	}
	in := &input{x: x}
	n := x.Shape[0]
	for i := range n {
		img, err := tensorPhoto(x, i, m.Preprocess)
		if err != nil {
			return nil, err
		}
		b := img.Bounds()
		in.photos = append(in.photos, img)
		in.geos = append(in.geos, imaging.FullGeometry(b.Dx(), b.Dy(), b.Dx(), b.Dy()))
		name, stem := it.Name, it.Stem
		if n > 1 {
			name = fmt.Sprintf("%s[%d]", it.Name, i)
			stem = fmt.Sprintf("%s-%d", it.Stem, i)
		}
		in.names = append(in.names, name)
		in.stems = append(in.stems, stem)
	}
	return in, nil
}

// tensorPhoto undoes preprocessing p on image i of the batch x: each value
// v of output channel c becomes the 8-bit sample (v*Std[c] + Mean[c]) *
// Scale, in the source channel of c (reversed when p.BGR).
func tensorPhoto(x *tensor.Tensor, i int, p imaging.Preprocess) (image.Image, error) {
	var c, h, w int
	if p.Layout == imaging.NHWC {
		h, w, c = x.Shape[1], x.Shape[2], x.Shape[3]
	} else {
		c, h, w = x.Shape[1], x.Shape[2], x.Shape[3]
	}
	if c != 3 && c != 1 {
		return nil, fmt.Errorf("input tensor has %d channels in %s layout; pictures need 1 or 3", c, p.Layout)
	}
	std, mean, scale := p.Std, p.Mean, p.Scale
	if scale == 0 {
		scale = 1
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	src := x.F[i*c*h*w : (i+1)*c*h*w]
	for y := range h {
		for xx := range w {
			var rgb [3]uint8
			for k := range c {
				var v float32
				if p.Layout == imaging.NHWC {
					v = src[(y*w+xx)*c+k]
				} else {
					v = src[k*h*w+y*w+xx]
				}
				s := std[k]
				if s == 0 {
					s = 1
				}
				q := (v*s + mean[k]) * scale
				b := uint8(math.Round(float64(min(max(q, 0), 255))))
				if c == 1 {
					rgb = [3]uint8{b, b, b}
					break
				}
				sc := k
				if p.BGR {
					sc = 2 - k
				}
				rgb[sc] = b
			}
			img.SetRGBA(xx, y, color.RGBA{rgb[0], rgb[1], rgb[2], 255})
		}
	}
	return img, nil
}
