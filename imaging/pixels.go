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
