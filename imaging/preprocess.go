package imaging

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sort"

	"github.com/gradcam/gradcam/tensor"
)

// Layout is the memory order of a model input tensor.
type Layout int

const (
	// NCHW is [1, 3, H, W]: channel planes (PyTorch, ONNX convention).
	NCHW Layout = iota
	// NHWC is [1, H, W, 3]: interleaved channels (TensorFlow/Keras).
	NHWC
)

// String returns "NCHW" or "NHWC".
func (l Layout) String() string {
	switch l {
	case NCHW:
		return "NCHW"
	case NHWC:
		return "NHWC"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// ResizeMode says how the photo is brought to the model's input size.
type ResizeMode int

const (
	// ResizeExact resizes to Width x Height, ignoring the aspect ratio.
	ResizeExact ResizeMode = iota
	// ResizeShorter resizes so that the shorter side is ShorterSide
	// pixels, keeping the aspect ratio (the longer side is
	// int(ShorterSide*long/short), as torchvision computes it), then
	// crops the centre Width x Height.
	ResizeShorter
	// ResizeNone does not resize; the centre Width x Height is cropped,
	// and a photo smaller than that is an error.
	ResizeNone
)

// Preprocess describes how a photo becomes a model input tensor. The steps
// run in this order:
//
//  1. decode to 8-bit RGB (alpha dropped);
//  2. if 0 < CentralFraction < 1, crop the centre CentralFraction of each
//     side, with TF-slim's central_crop rounding: start =
//     int((n - n*CentralFraction)/2), size = n - 2*start;
//  3. resize as Resize says with Filter; with Quantize the resized samples
//     are rounded to 8-bit integers the way the emulated library does on
//     8-bit images (PIL, OpenCV);
//  4. centre-crop to Width x Height when the resized image is larger, with
//     torchvision's CenterCrop offsets round((n - size)/2), half to even;
//  5. each sample p (0..255) of output channel c becomes
//     (p/Scale - Mean[c]) / Std[c], in float32, in that order of
//     operations (torchvision's ToTensor then Normalize; Keras's
//     preprocess_input);
//  6. channels are RGB, or BGR if BGR is set, laid out as Layout says.
//
// Mean and Std are given in output channel order (B, G, R when BGR is set).
type Preprocess struct {
	Width, Height   int        // model input size
	CentralFraction float64    // 0 (or 1) means no central crop
	Resize          ResizeMode // how to resize
	ShorterSide     int        // target of the shorter side for ResizeShorter
	Filter          Filter     // resampling filter
	Quantize        bool       // round resized samples to 8 bits as PIL/OpenCV do
	Scale           float32    // samples are divided by Scale first (255 gives [0,1])
	Mean, Std       [3]float32 // per output channel
	BGR             bool       // output channel order B, G, R
	Layout          Layout     // NCHW or NHWC
}

// ImageNet statistics of torchvision's pretrained models (RGB, on [0,1]).
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// presets are the named preprocessing recipes; see Preset.
var presets = map[string]Preprocess{
	// torchvision's ImageNet eval transform on a PIL image:
	// Resize(256), CenterCrop(224), ToTensor(), Normalize(mean, std).
	"torchvision": {Width: 224, Height: 224, Resize: ResizeShorter, ShorterSide: 256, Filter: BilinearPIL,
		Quantize: true, Scale: 255, Mean: ImageNetMean, Std: ImageNetStd, Layout: NCHW},
	// The same with cv2.resize(..., INTER_AREA) on the uint8 image, as
	// the pytorch-grad-cam reference data in shared/reference describes.
	"torchvision-area": {Width: 224, Height: 224, Resize: ResizeShorter, ShorterSide: 256, Filter: Area,
		Quantize: true, Scale: 255, Mean: ImageNetMean, Std: ImageNetStd, Layout: NCHW},
	// Keras "caffe" mode (ResNet50, VGG16 of keras.applications):
	// load_img(target_size=(224,224)) (PIL nearest), RGB->BGR, subtract
	// the ImageNet BGR means on 0..255, no scaling.
	"keras-caffe": {Width: 224, Height: 224, Resize: ResizeExact, Filter: Nearest, Quantize: true,
		Scale: 1, Mean: [3]float32{103.939, 116.779, 123.68}, Std: [3]float32{1, 1, 1}, BGR: true, Layout: NHWC},
	// Keras "tf" mode (MobileNet, Xception...): x/127.5 - 1.
	"tf": {Width: 224, Height: 224, Resize: ResizeExact, Filter: Nearest, Quantize: true,
		Scale: 127.5, Mean: [3]float32{1, 1, 1}, Std: [3]float32{1, 1, 1}, Layout: NHWC},
	// keras.applications InceptionV3: 299x299, "tf" mode.
	"inception": {Width: 299, Height: 299, Resize: ResizeExact, Filter: Nearest, Quantize: true,
		Scale: 127.5, Mean: [3]float32{1, 1, 1}, Std: [3]float32{1, 1, 1}, Layout: NHWC},
	// TF-slim MobileNet eval recipe of the models in shared/models
	// (SOURCES.md): central crop 87.5%, PIL bilinear resize to 224,
	// (p-127.5)/127.5, NCHW RGB.
	"mobilenet-slim": {Width: 224, Height: 224, CentralFraction: 0.875, Resize: ResizeExact, Filter: BilinearPIL,
		Quantize: true, Scale: 1, Mean: [3]float32{127.5, 127.5, 127.5}, Std: [3]float32{127.5, 127.5, 127.5}, Layout: NCHW},
}

// PresetNames returns the names Preset accepts, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for k := range presets {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Preset returns a copy of a named preprocessing recipe:
//
//   - "torchvision": shorter side to 256 (PIL bilinear), centre crop 224,
//     /255, ImageNet mean/std, RGB, NCHW;
//   - "torchvision-area": the same resized with OpenCV's INTER_AREA;
//   - "keras-caffe": 224x224 (PIL nearest), BGR, minus the ImageNet BGR
//     means 103.939, 116.779, 123.68 on 0..255, NHWC;
//   - "tf": 224x224 (PIL nearest), p/127.5 - 1, RGB, NHWC;
//   - "inception": as "tf" at 299x299;
//   - "mobilenet-slim": central crop 87.5%, PIL bilinear to 224x224,
//     (p-127.5)/127.5, RGB, NCHW.
//
// Change Width and Height for other model sizes (e.g. 128 for
// mobilenet_v1_0.25_128).
func Preset(name string) (Preprocess, error) {
	p, ok := presets[name]
	if !ok {
		return Preprocess{}, fmt.Errorf("imaging: unknown preprocessing preset %q (want one of %v)", name, PresetNames())
	}
	return p, nil
}

// Validate reports whether p describes a usable recipe.
func (p *Preprocess) Validate() error {
	switch {
	case p.Width <= 0 || p.Height <= 0:
		return fmt.Errorf("imaging: preprocess size %dx%d must be positive", p.Width, p.Height)
	case p.CentralFraction < 0 || p.CentralFraction > 1 || math.IsNaN(p.CentralFraction):
		return fmt.Errorf("imaging: central fraction %g must be in (0, 1]", p.CentralFraction)
	case p.Resize == ResizeShorter && p.ShorterSide < min(p.Width, p.Height):
		return fmt.Errorf("imaging: shorter side %d is smaller than the %dx%d crop", p.ShorterSide, p.Width, p.Height)
	case p.Resize < ResizeExact || p.Resize > ResizeNone:
		return fmt.Errorf("imaging: unknown resize mode %d", p.Resize)
	case p.Filter < Bilinear || p.Filter > Nearest:
		return fmt.Errorf("imaging: unknown filter %d", p.Filter)
	case p.Layout != NCHW && p.Layout != NHWC:
		return fmt.Errorf("imaging: unknown layout %d", p.Layout)
	case !(p.Scale > 0) || math.IsInf(float64(p.Scale), 0):
		return fmt.Errorf("imaging: scale %g must be positive", p.Scale)
	}
	for c, s := range p.Std {
		if s == 0 || math.IsNaN(float64(s)) {
			return fmt.Errorf("imaging: std[%d] is %g", c, s)
		}
	}
	return nil
}

// Geometry records where the model input lies on the photo, so that a
// map computed at input resolution can be drawn back over the photo.
//
// Coordinates are continuous photo pixel coordinates: pixel (i, j) covers
// [i, i+1) x [j, j+1). The model input's InputWidth x InputHeight pixels
// evenly cover the rectangle [X0, X1) x [Y0, Y1).
type Geometry struct {
	PhotoWidth, PhotoHeight int     // size of the (oriented) photo
	InputWidth, InputHeight int     // size of the model input
	X0, Y0, X1, Y1          float64 // the rectangle of the photo the model saw
}

// FullGeometry returns the geometry of an input that covers the whole
// photo: a plain resize of w x h to inW x inH.
func FullGeometry(w, h, inW, inH int) Geometry {
	return Geometry{PhotoWidth: w, PhotoHeight: h, InputWidth: inW, InputHeight: inH, X1: float64(w), Y1: float64(h)}
}

// Seen reports whether the centre of photo pixel (x, y) lies in the
// rectangle the model saw.
func (g Geometry) Seen(x, y int) bool {
	cx, cy := float64(x)+0.5, float64(y)+0.5
	return cx >= g.X0 && cx < g.X1 && cy >= g.Y0 && cy < g.Y1
}

// ToPhoto resamples a row-major h x w map that covers the rectangle the
// model saw (any resolution: the input size, or the 7x7 feature grid)
// onto the photo's pixel grid, with bilinear interpolation at pixel
// centres. Photo pixels outside the rectangle get the value at the
// nearest edge of the map. The result is PhotoHeight x PhotoWidth.
func (g Geometry) ToPhoto(m []float32, h, w int) ([]float32, error) {
	if h <= 0 || w <= 0 || len(m) != h*w {
		return nil, fmt.Errorf("imaging: %d values for a %dx%d map", len(m), h, w)
	}
	if g.PhotoWidth <= 0 || g.PhotoHeight <= 0 || !(g.X1 > g.X0) || !(g.Y1 > g.Y0) {
		return nil, errors.New("imaging: empty geometry")
	}
	// Photo x maps to map coordinate u = (x+0.5 - X0) * w/(X1-X0) - 0.5,
	// i.e. (x+0.5)*scale - 0.5 + offset with scale = w/(X1-X0).
	sx := float64(w) / (g.X1 - g.X0)
	sy := float64(h) / (g.Y1 - g.Y0)
	tx := affineLinearTaps(w, g.PhotoWidth, sx, -g.X0*sx, true)
	ty := affineLinearTaps(h, g.PhotoHeight, sy, -g.Y0*sy, true)
	return resizeLinear1(m, h, w, tx, ty), nil
}

// crop1 is the central crop of TF-slim's central_crop along one axis.
func crop1(n int, frac float64) (start, size int) {
	if frac <= 0 || frac >= 1 {
		return 0, n
	}
	start = int((float64(n) - float64(n)*frac) / 2)
	return start, n - 2*start
}

// centre returns torchvision's CenterCrop offset for cropping size out of n.
func centre(n, size int) int {
	return int(math.RoundToEven(float64(n-size) / 2))
}

// Apply preprocesses img into a model input tensor of shape [1, 3, H, W]
// (NCHW) or [1, H, W, 3] (NHWC) and returns it with the geometry that maps
// the input back onto img.
func (p *Preprocess) Apply(img image.Image) (*tensor.Tensor, Geometry, error) {
	if err := p.Validate(); err != nil {
		return nil, Geometry{}, err
	}
	b := img.Bounds()
	pw, ph := b.Dx(), b.Dy()
	if pw <= 0 || ph <= 0 {
		return nil, Geometry{}, fmt.Errorf("imaging: empty %dx%d image", pw, ph)
	}
	px := toPixels(img)
	// Step 2: central crop.
	cx0, cw := crop1(pw, p.CentralFraction)
	cy0, chh := crop1(ph, p.CentralFraction)
	if cw <= 0 || chh <= 0 {
		return nil, Geometry{}, fmt.Errorf("imaging: central crop of %g leaves nothing of a %dx%d image", p.CentralFraction, pw, ph)
	}
	if cw != pw || chh != ph {
		px = px.crop(cx0, cy0, cw, chh)
	}
	// Step 3: the resized size.
	rw, rh := cw, chh
	switch p.Resize {
	case ResizeExact:
		rw, rh = p.Width, p.Height
	case ResizeShorter:
		s := p.ShorterSide
		if cw <= chh {
			rw, rh = s, int(float64(s)*float64(chh)/float64(cw))
		} else {
			rw, rh = int(float64(s)*float64(cw)/float64(chh)), s
		}
	}
	if rw < p.Width || rh < p.Height {
		return nil, Geometry{}, fmt.Errorf("imaging: a %dx%d image (after resizing) is smaller than the %dx%d input", rw, rh, p.Width, p.Height)
	}
	// Step 4: centre crop of the resized image, computed as a window.
	win := window{outW: rw, outH: rh, x0: centre(rw, p.Width), y0: centre(rh, p.Height), w: p.Width, h: p.Height}
	if rw == cw && rh == chh {
		px = px.crop(win.x0, win.y0, win.w, win.h)
	} else {
		px = resample(px, win, p.Filter, p.Quantize)
	}
	// Steps 5 and 6.
	t := p.normalize(px)
	sx, sy := float64(cw)/float64(rw), float64(chh)/float64(rh)
	g := Geometry{
		PhotoWidth: pw, PhotoHeight: ph, InputWidth: p.Width, InputHeight: p.Height,
		X0: float64(cx0) + float64(win.x0)*sx, X1: float64(cx0) + float64(win.x0+win.w)*sx,
		Y0: float64(cy0) + float64(win.y0)*sy, Y1: float64(cy0) + float64(win.y0+win.h)*sy,
	}
	return t, g, nil
}

// normalize turns W x H RGB samples into the output tensor.
func (p *Preprocess) normalize(px pixels) *tensor.Tensor {
	w, h := px.w, px.h
	var t *tensor.Tensor
	if p.Layout == NHWC {
		t = tensor.Zeros(1, h, w, 3)
	} else {
		t = tensor.Zeros(1, 3, h, w)
	}
	for c := 0; c < 3; c++ {
		sc := c // source channel (RGB)
		if p.BGR {
			sc = 2 - c
		}
		mean, std := p.Mean[c], p.Std[c]
		for i := 0; i < w*h; i++ {
			v := (px.pix[i*3+sc]/p.Scale - mean) / std
			if p.Layout == NHWC {
				t.F[i*3+c] = v
			} else {
				t.F[c*w*h+i] = v
			}
		}
	}
	return t
}
