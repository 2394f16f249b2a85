package imaging

import (
	"image"
	"image/color"
)

// toNRGBA converts img to 8-bit non-premultiplied RGBA with its origin at
// (0, 0). An *image.NRGBA already in that form is returned as is.
func toNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	if n, ok := img.(*image.NRGBA); ok && b.Min == (image.Point{}) {
		return n
	}
	w, h := b.Dx(), b.Dy()
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	switch src := img.(type) {
	case *image.YCbCr:
		if src.Rect.Min == (image.Point{}) && ycbcrFancy(src, dst) {
			break
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := src.YCbCrAt(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				i := dst.PixOffset(x, y)
				dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = r, g, bl, 255
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := src.GrayAt(b.Min.X+x, b.Min.Y+y).Y
				i := dst.PixOffset(x, y)
				dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = v, v, v, 255
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := src.RGBAAt(b.Min.X+x, b.Min.Y+y)
				i := dst.PixOffset(x, y)
				if c.A == 255 {
					dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = c.R, c.G, c.B, 255
					continue
				}
				n := color.NRGBAModel.Convert(c).(color.NRGBA)
				dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = n.R, n.G, n.B, n.A
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				n := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				i := dst.PixOffset(x, y)
				dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = n.R, n.G, n.B, n.A
			}
		}
	}
	return dst
}

// toPixels returns the RGB samples of img on the 0..255 scale. Alpha is
// dropped without compositing (the colour channels are taken as they are
// stored, non-premultiplied), as PIL's convert("RGB") and cv2.imread do.
// Images with 16-bit samples are reduced to 8 bits.
func toPixels(img image.Image) pixels {
	n := toNRGBA(img)
	w, h := n.Rect.Dx(), n.Rect.Dy()
	p := newPixels(w, h)
	for y := 0; y < h; y++ {
		row := n.Pix[y*n.Stride:]
		for x := 0; x < w; x++ {
			p.pix[(y*w+x)*3] = float32(row[x*4])
			p.pix[(y*w+x)*3+1] = float32(row[x*4+1])
			p.pix[(y*w+x)*3+2] = float32(row[x*4+2])
		}
	}
	return p
}

// ycbcrFancy converts a JPEG's YCbCr image the way libjpeg (used by PIL
// and OpenCV) does by default, into dst, and reports whether it could:
// chroma subsampled 2x horizontally (4:2:2) or 2x in both directions
// (4:2:0) is upsampled with libjpeg's "fancy" triangle filter (jdsample.c
// h2v1/h2v2_fancy_upsample: each output sample is 3/4 of the nearer and
// 1/4 of the farther input sample in each direction, with libjpeg's
// alternating rounding biases, and image edges replicated), and colours
// are converted with libjpeg's fixed-point tables (jdcolor.c,
// ycc_rgb_convert; JFIF: R = Y + 1.402 Cr, G = Y - 0.34414 Cb - 0.71414 Cr,
// B = Y + 1.772 Cb with Cb, Cr centred on 128).
func ycbcrFancy(src *image.YCbCr, dst *image.NRGBA) bool {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	var hv bool // vertical subsampling too
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				i := y*src.CStride + x
				jpegRGB(dst, x, y, src.Y[y*src.YStride+x], src.Cb[i], src.Cr[i])
			}
		}
		return true
	case image.YCbCrSubsampleRatio422:
	case image.YCbCrSubsampleRatio420:
		hv = true
	default:
		return false
	}
	cw := (w + 1) / 2 // libjpeg's downsampled_width
	ch := h
	if hv {
		ch = (h + 1) / 2
	}
	cb := make([]uint8, w)
	cr := make([]uint8, w)
	colsum := make([][2]int32, cw) // vertical sums 3*near + far, for Cb and Cr
	for y := 0; y < h; y++ {
		if hv {
			// Output row y lies in chroma row y/2; its other neighbour is
			// the row above for even y, below for odd y (edges replicated).
			near := y / 2
			far := near - 1
			if y%2 == 1 {
				far = near + 1
			}
			far = clampInt(far, 0, ch-1)
			for c := 0; c < cw; c++ {
				n, f := near*src.CStride+c, far*src.CStride+c
				colsum[c] = [2]int32{3*int32(src.Cb[n]) + int32(src.Cb[f]), 3*int32(src.Cr[n]) + int32(src.Cr[f])}
			}
			for c := 0; c < cw; c++ {
				l, r := colsum[max(c-1, 0)], colsum[min(c+1, cw-1)]
				for k, plane := range [2][]uint8{cb, cr} {
					this := colsum[c][k]
					plane[2*c] = uint8((3*this + l[k] + 8) >> 4)
					if 2*c+1 < w {
						plane[2*c+1] = uint8((3*this + r[k] + 7) >> 4)
					}
				}
			}
		} else {
			row := y * src.CStride
			for c := 0; c < cw; c++ {
				l, r := max(c-1, 0), min(c+1, cw-1)
				for k, pl := range [2][]uint8{src.Cb, src.Cr} {
					out := cb
					if k == 1 {
						out = cr
					}
					this := 3 * int32(pl[row+c])
					out[2*c] = uint8((this + int32(pl[row+l]) + 1) >> 2)
					if 2*c+1 < w {
						out[2*c+1] = uint8((this + int32(pl[row+r]) + 2) >> 2)
					}
				}
			}
		}
		for x := 0; x < w; x++ {
			jpegRGB(dst, x, y, src.Y[y*src.YStride+x], cb[x], cr[x])
		}
	}
	return true
}

// fix is libjpeg's FIX(): a 16.16 fixed-point constant, rounded.
func fix(v float64) int32 { return int32(v*65536 + 0.5) }

// jpegRGB stores the RGB colour of (y, cb, cr) at (x, yy) of dst, with
// libjpeg's table arithmetic.
func jpegRGB(dst *image.NRGBA, x, yy int, y, cb, cr uint8) {
	const half = 1 << 15
	cbx, crx := int32(cb)-128, int32(cr)-128
	r := int32(y) + (fix(1.40200)*crx+half)>>16
	g := int32(y) + (-fix(0.34414)*cbx-fix(0.71414)*crx+half)>>16
	b := int32(y) + (fix(1.77200)*cbx+half)>>16
	i := dst.PixOffset(x, yy)
	dst.Pix[i] = uint8(clampInt(int(r), 0, 255))
	dst.Pix[i+1] = uint8(clampInt(int(g), 0, 255))
	dst.Pix[i+2] = uint8(clampInt(int(b), 0, 255))
	dst.Pix[i+3] = 255
}
