package imaging

import (
	"fmt"
	"image"
	"math"
)

// OverlayStyle selects the blending formula of Overlay.
type OverlayStyle int

const (
	// Blend mixes each pixel independently:
	// out = round((1-Alpha)*photo + Alpha*heat), on 0..255.
	Blend OverlayStyle = iota
	// ShowCAMOnImage is pytorch-grad-cam's show_cam_on_image (with
	// use_rgb=True and image_weight = 1-Alpha), in float32 on [0,1]:
	// cam = Alpha*heat + (1-Alpha)*photo; cam = cam / max(cam) over the
	// whole picture; out = uint8(255*cam) (truncated). The division by the
	// maximum brightens the picture when the mix stays below 1.
	ShowCAMOnImage
)

// OverlayOptions controls Overlay. The zero value draws Jet at Alpha 0.5
// with Blend, inside the rectangle the model saw.
type OverlayOptions struct {
	Colormap *Colormap    // nil means Jet
	Alpha    float64      // weight of the heatmap in (0, 1]; 0 means 0.5
	Style    OverlayStyle // blending formula
	// ExtendOutside also colours the photo outside the rectangle the
	// model saw (e.g. the borders a centre crop cut off), with the map's
	// edge values. By default those pixels are left as they are.
	ExtendOutside bool
}

// Overlay draws the row-major h x w map m (values in [0,1], any
// resolution covering the model input) over photo at the photo's full
// resolution. g says which rectangle of the photo the model saw (as
// returned by Preprocess.Apply); nil means the whole photo. The map is
// brought to the photo's pixel grid through g with bilinear
// interpolation (Geometry.ToPhoto), coloured, and blended as o says.
func Overlay(photo image.Image, m []float32, h, w int, g *Geometry, o OverlayOptions) (*image.RGBA, error) {
	b := photo.Bounds()
	pw, ph := b.Dx(), b.Dy()
	geo := FullGeometry(pw, ph, w, h)
	if g != nil {
		geo = *g
		if geo.PhotoWidth != pw || geo.PhotoHeight != ph {
			return nil, fmt.Errorf("imaging: geometry is for a %dx%d photo, not %dx%d", geo.PhotoWidth, geo.PhotoHeight, pw, ph)
		}
	}
	cm := o.Colormap
	if cm == nil {
		cm = Jet
	}
	alpha := o.Alpha
	if alpha == 0 {
		alpha = 0.5
	}
	if !(alpha > 0 && alpha <= 1) {
		return nil, fmt.Errorf("imaging: overlay alpha %g must be in (0, 1]", o.Alpha)
	}
	pm, err := geo.ToPhoto(m, h, w)
	if err != nil {
		return nil, err
	}
	src := toNRGBA(photo)
	out := image.NewRGBA(image.Rect(0, 0, pw, ph))
	inside := func(x, y int) bool { return o.ExtendOutside || geo.Seen(x, y) }
	switch o.Style {
	case Blend:
		for y := 0; y < ph; y++ {
			for x := 0; x < pw; x++ {
				si, di := src.PixOffset(x, y), out.PixOffset(x, y)
				out.Pix[di+3] = 255
				if !inside(x, y) {
					copy(out.Pix[di:di+3], src.Pix[si:si+3])
					continue
				}
				heat := cm.lut[lutIndex(pm[y*pw+x])]
				for c := 0; c < 3; c++ {
					v := (1-alpha)*float64(src.Pix[si+c]) + alpha*float64(heat[c])
					out.Pix[di+c] = uint8(math.Min(255, math.Floor(v+0.5)))
				}
			}
		}
	case ShowCAMOnImage:
		wh, wi := float32(alpha), float32(1-alpha)
		cam := make([]float32, pw*ph*3)
		var mx float32
		for y := 0; y < ph; y++ {
			for x := 0; x < pw; x++ {
				if !inside(x, y) {
					continue
				}
				si, i := src.PixOffset(x, y), (y*pw+x)*3
				heat := cm.lut[lutIndex(pm[y*pw+x])]
				for c := 0; c < 3; c++ {
					hv := float32(heat[c]) / 255
					iv := float32(src.Pix[si+c]) / 255
					v := float32(wh*hv) + float32(wi*iv)
					cam[i+c] = v
					mx = max(mx, v)
				}
			}
		}
		for y := 0; y < ph; y++ {
			for x := 0; x < pw; x++ {
				si, di, i := src.PixOffset(x, y), out.PixOffset(x, y), (y*pw+x)*3
				out.Pix[di+3] = 255
				if !inside(x, y) || mx == 0 {
					copy(out.Pix[di:di+3], src.Pix[si:si+3])
					continue
				}
				for c := 0; c < 3; c++ {
					out.Pix[di+c] = uint8(float32(255 * float32(cam[i+c]/mx)))
				}
			}
		}
	default:
		return nil, fmt.Errorf("imaging: unknown overlay style %d", o.Style)
	}
	return out, nil
}
