package imaging

import (
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"math"
	"sort"
)

// Colormap maps map values in [0, 1] to colours through a 256-entry
// table, the way cv2.applyColorMap is applied to uint8(255*map) (the
// convention of pytorch-grad-cam's show_cam_on_image).
type Colormap struct {
	name string
	lut  [256][3]uint8 // R, G, B
}

// The available colormaps. Jet, Turbo, Viridis, Inferno and Magma are
// OpenCV's COLORMAP_JET, COLORMAP_TURBO, COLORMAP_VIRIDIS,
// COLORMAP_INFERNO and COLORMAP_MAGMA; Gray maps index i to (i, i, i).
var (
	Jet     = newJet()
	Turbo   = fromHex("turbo", turboLUT)
	Viridis = fromHex("viridis", viridisLUT)
	Inferno = fromHex("inferno", infernoLUT)
	Magma   = fromHex("magma", magmaLUT)
	Gray    = newGray()
)

var colormaps = map[string]*Colormap{
	"jet": Jet, "turbo": Turbo, "viridis": Viridis, "inferno": Inferno, "magma": Magma, "gray": Gray,
}

// ColormapByName returns the colormap called name: "jet", "turbo",
// "viridis", "inferno", "magma" or "gray".
func ColormapByName(name string) (*Colormap, error) {
	if c, ok := colormaps[name]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("imaging: unknown colormap %q (want one of %v)", name, ColormapNames())
}

// ColormapNames returns the names ColormapByName accepts, sorted.
func ColormapNames() []string {
	names := make([]string, 0, len(colormaps))
	for k := range colormaps {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Name returns the colormap's name.
func (c *Colormap) Name() string { return c.name }

// Index returns table entry i.
func (c *Colormap) Index(i uint8) color.RGBA {
	e := c.lut[i]
	return color.RGBA{e[0], e[1], e[2], 255}
}

// At returns the colour of map value v: table entry uint8(255*v), the
// product taken in float32 and truncated as numpy's uint8 cast does.
// Values below 0 (and NaN) take entry 0, values above 1 entry 255.
func (c *Colormap) At(v float32) color.RGBA { return c.Index(lutIndex(v)) }

func lutIndex(v float32) uint8 {
	switch {
	case !(v > 0):
		return 0
	case v >= 1:
		return 255
	}
	return uint8(float32(255) * v)
}

// Colorize paints the row-major h x w map m with colormap c.
func Colorize(m []float32, h, w int, c *Colormap) (*image.RGBA, error) {
	if h <= 0 || w <= 0 || len(m) != h*w {
		return nil, fmt.Errorf("imaging: %d values for a %dx%d map", len(m), h, w)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, v := range m {
		e := c.lut[lutIndex(v)]
		copy(img.Pix[i*4:i*4+3], e[:])
		img.Pix[i*4+3] = 255
	}
	return img, nil
}

func fromHex(name, s string) *Colormap {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 768 {
		panic("imaging: bad colormap table " + name)
	}
	c := &Colormap{name: name}
	for i := range c.lut {
		copy(c.lut[i][:], b[i*3:i*3+3])
	}
	return c
}

func newGray() *Colormap {
	c := &Colormap{name: "gray"}
	for i := range c.lut {
		c.lut[i] = [3]uint8{uint8(i), uint8(i), uint8(i)}
	}
	return c
}

// newJet builds OpenCV's COLORMAP_JET table as OpenCV itself does
// (modules/imgproc/src/colormap.cpp): the base map is GNU Octave's jet
// sampled at 256 breakpoints X = linspace(0, 1, 256) in float32,
//
//	r(i) = clamp((min(4i - 382.5, 1147.5 - 4i))/255, 0, 1)
//	g(i) = clamp((min(4i - 127.5,  892.5 - 4i))/255, 0, 1)
//	b(i) = clamp((min(4i + 127.5,  637.5 - 4i))/255, 0, 1)
//
// (the float constants OpenCV lists), interpolated at the same 256 points
// by its interp1 (y = Y[lo] + (x - X[lo])*(Y[hi] - Y[lo])/(X[hi] - X[lo]),
// all in float32) and converted with convertTo(CV_8U, 255): the float32
// product rounded half to even. The float rounding of the interpolation
// decides some entries that are exact halves (index 159's blue is 1, not 2).
func newJet() *Colormap {
	const n = 256
	var x [n]float32
	step := float32(1) / float32(n-1)
	for i := range x {
		x[i] = float32(i) * step
	}
	base := func(i int, a, b float64) float32 {
		v := math.Min(4*float64(i)+a, b-4*float64(i)) / 255
		return float32(math.Max(0, math.Min(1, v)))
	}
	var y [3][n]float32
	for i := 0; i < n; i++ {
		y[0][i] = base(i, -382.5, 1147.5)
		y[1][i] = base(i, -127.5, 892.5)
		y[2][i] = base(i, 127.5, 637.5)
	}
	c := &Colormap{name: "jet"}
	for ch := 0; ch < 3; ch++ {
		for i := 0; i < n; i++ {
			lo, hi := 0, 1
			if i > 0 {
				lo, hi = i-1, i
			}
			dx := x[hi] - x[lo]
			v := y[ch][lo] + float32(float32((x[i]-x[lo])*(y[ch][hi]-y[ch][lo]))/dx)
			c.lut[i][ch] = uint8(math.Max(0, math.Min(255, math.RoundToEven(float64(float32(v*255))))))
		}
	}
	return c
}
