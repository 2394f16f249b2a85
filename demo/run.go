package demo

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"path/filepath"

	"github.com/gradcam/gradcam"
	"github.com/gradcam/gradcam/batch"
	"github.com/gradcam/gradcam/cam"
	"github.com/gradcam/gradcam/imaging"
)

// Zoom is how much Run enlarges the generated pictures (nearest
// neighbour) before explaining them, so that the overlays are drawn at
// Size*Zoom pixels. The model's preprocessing ("tf": PIL nearest resize)
// brings them back to exactly the generated pixels.
const Zoom = 4

// DefaultMethods are the methods Run uses when Options.Methods is empty.
var DefaultMethods = []cam.Method{cam.GradCAM, cam.GradCAMPlusPlus, cam.ScoreCAM}

// Options controls Run.
type Options struct {
	// Out is the directory the pictures are written to, created if
	// needed; empty means "gradcam-demo".
	Out string
	// Seed picks the pictures: Generate(Seed, Images).
	Seed uint64
	// Images is the number of pictures; 0 means 4.
	Images int
	// Methods are the explanation methods; empty means DefaultMethods.
	Methods []cam.Method
	// Model is the classifier; nil means Model().
	Model *gradcam.Model
}

// Result is what Run did.
type Result struct {
	// Images has one entry per generated picture.
	Images []ImageResult
	// Overview is the path of the figure of every picture (one row each:
	// the picture with its object's box, then an overlay per method).
	Overview string
	// Files lists every file written, the overview last.
	Files []string
}

// ImageResult is one explained picture.
type ImageResult struct {
	Sample Sample
	// Label is the true class's name.
	Label string
	// Top5 are the model's five most probable classes.
	Top5 []gradcam.Prediction
	// Methods has one entry per method, in Options order.
	Methods []MethodResult
	// Picture is the path of the (enlarged) generated picture, Grid of its
	// figure: original | heatmap | overlay per method, with the top-5.
	Picture, Grid string
}

// MethodResult is the explanation of an image's top class by one method.
type MethodResult struct {
	Method cam.Method
	// Class is the explained class: the model's top-1.
	Class int
	// Peak is the hottest pixel of the map, in generated-image pixels.
	Peak image.Point
	// InBox reports whether Peak lies in the object's box (the pointing
	// game of Zhang et al. 2016, "Top-down Neural Attention by Excitation
	// Backprop").
	InBox bool
	// Overlay is the path of the overlay picture.
	Overlay string
}

// Run generates pictures, classifies them with the embedded model (or
// Options.Model), explains each one's top class with every method and
// writes into Options.Out, for picture i (from 1):
//
//	shape-i.png               the generated picture, enlarged Zoom times
//	shape-i.<method>.png      the heatmap over it
//	shape-i.grid.png          original | heatmap | overlay per method, top-5
//	demo.png                  the overview: every picture and its overlays
//
// Every file is written to a temporary name and renamed when complete.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Out == "" {
		o.Out = "gradcam-demo"
	}
	if o.Images == 0 {
		o.Images = 4
	}
	if o.Images < 0 {
		return nil, fmt.Errorf("demo: %d images", o.Images)
	}
	if len(o.Methods) == 0 {
		o.Methods = DefaultMethods
	}
	for _, m := range o.Methods {
		if _, err := cam.ParseMethod(string(m)); err != nil {
			return nil, err
		}
		if m == cam.GuidedBackprop {
			return nil, fmt.Errorf("demo: %s gives no heatmap", m)
		}
	}
	m := o.Model
	if m == nil {
		var err error
		if m, err = Model(); err != nil {
			return nil, err
		}
	}
	res := &Result{}
	overview := imaging.Figure{Title: fmt.Sprintf("gradcam demo: the shape classifier explains %d generated pictures (seed %d)", o.Images, o.Seed)}
	hits := make([]int, len(o.Methods))
	for i, s := range Generate(o.Seed, o.Images) {
		ir, row, err := runOne(ctx, m, o, i, s)
		if err != nil {
			return res, err
		}
		for k, mr := range ir.Methods {
			if mr.InBox {
				hits[k]++
			}
		}
		res.Images = append(res.Images, *ir)
		res.Files = append(res.Files, ir.Picture)
		for _, mr := range ir.Methods {
			res.Files = append(res.Files, mr.Overlay)
		}
		res.Files = append(res.Files, ir.Grid)
		overview.Rows = append(overview.Rows, row)
	}
	overview.Notes = append(overview.Notes, "peak in the box")
	for k, meth := range o.Methods {
		overview.Notes = append(overview.Notes, fmt.Sprintf("%s: %d of %d", meth, hits[k], o.Images))
	}
	overview.Cell = 160
	res.Overview = filepath.Join(o.Out, "demo.png")
	if err := writeFigure(res.Overview, &overview); err != nil {
		return res, err
	}
	res.Files = append(res.Files, res.Overview)
	return res, nil
}

// runOne explains picture i and writes its files; it returns the
// picture's row of the overview.
func runOne(ctx context.Context, m *gradcam.Model, o Options, i int, s Sample) (*ImageResult, imaging.FigureRow, error) {
	var row imaging.FigureRow
	stem := filepath.Join(o.Out, fmt.Sprintf("shape-%d", i+1))
	ir := &ImageResult{Sample: s, Label: className(s.Class), Picture: stem + ".png", Grid: stem + ".grid.png"}
	photo := enlarge(s.Image, Zoom)
	in, err := m.Prepare(photo)
	if err != nil {
		return nil, row, err
	}
	preds, err := m.Predict(ctx, in.Tensor, 5)
	if err != nil {
		return nil, row, err
	}
	ir.Top5 = preds[0]
	top := ir.Top5[0]
	if err := writePNG(ir.Picture, photo); err != nil {
		return nil, row, err
	}
	boxed := withBox(photo, s.Box, Zoom)
	verdict := "right"
	if top.Class != s.Class {
		verdict = "wrong"
	}
	row.Label = fmt.Sprintf("%d. a %s; the model says %s (%.1f%%, %s)", i+1, ir.Label, top.Label, 100*top.Prob, verdict)
	row.Panels = append(row.Panels, imaging.Panel{Image: boxed, Caption: "picture and box"})
	grid := imaging.Figure{Title: fmt.Sprintf("gradcam demo, picture %d (seed %d): a %s", i+1, o.Seed, ir.Label), Cell: 192}
	for _, meth := range o.Methods {
		r, err := m.Explain(ctx, in.Tensor, cam.Options{Method: meth, Classes: []int{top.Class}})
		if err != nil {
			return nil, row, err
		}
		ex := r.Images[0].Explanations[0]
		mr := MethodResult{Method: meth, Class: top.Class, Overlay: fmt.Sprintf("%s.%s.png", stem, meth)}
		mr.Peak = peak(ex.Map, r.Width)
		mr.InBox = mr.Peak.In(s.Box)
		ov, err := m.Overlay(in, ex.Map, imaging.OverlayOptions{})
		if err != nil {
			return nil, row, err
		}
		if err := writePNG(mr.Overlay, ov); err != nil {
			return nil, row, err
		}
		heat, err := in.Geometry.ToPhoto(ex.Map, r.Height, r.Width)
		if err != nil {
			return nil, row, err
		}
		b := photo.Bounds()
		hm, err := imaging.Colorize(heat, b.Dy(), b.Dx(), imaging.Jet)
		if err != nil {
			return nil, row, err
		}
		where := "outside"
		if mr.InBox {
			where = "inside"
		}
		grid.Rows = append(grid.Rows, imaging.FigureRow{
			Label: fmt.Sprintf("%s: %s (logit %.3g); peak %s the box", meth, top.Label, ex.Score, where),
			Panels: []imaging.Panel{
				{Image: boxed, Caption: "original"},
				{Image: hm, Caption: "heatmap"},
				{Image: ov, Caption: "overlay"},
			}})
		row.Panels = append(row.Panels, imaging.Panel{Image: ov, Caption: string(meth)})
		ir.Methods = append(ir.Methods, mr)
	}
	grid.Notes = append(grid.Notes, "top-5")
	for _, p := range ir.Top5 {
		grid.Notes = append(grid.Notes, fmt.Sprintf("%5.1f%%  %s", 100*p.Prob, p.Label))
	}
	grid.Notes = append(grid.Notes, "", "true class: "+ir.Label)
	if err := writeFigure(ir.Grid, &grid); err != nil {
		return nil, row, err
	}
	return ir, row, nil
}

func className(c int) string {
	if c >= 0 && c < len(classes) {
		return classes[c]
	}
	return fmt.Sprint(c)
}

// peak returns the position of the largest value of a row-major map of
// width w (the first one on ties).
func peak(m []float32, w int) image.Point {
	best := 0
	for i, v := range m {
		if v > m[best] {
			best = i
		}
	}
	return image.Pt(best%w, best/w)
}

// enlarge scales img up k times by pixel replication.
func enlarge(img image.Image, k int) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := range b.Dy() * k {
		for x := range b.Dx() * k {
			out.Set(x, y, img.At(b.Min.X+x/k, b.Min.Y+y/k))
		}
	}
	return out
}

// withBox returns a copy of the enlarged picture with the object's box
// (in generated-image pixels) outlined in white over black.
func withBox(img image.Image, box image.Rectangle, k int) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
	r := image.Rect(box.Min.X*k, box.Min.Y*k, box.Max.X*k, box.Max.Y*k)
	outline := func(r image.Rectangle, c color.Color) {
		for x := r.Min.X; x < r.Max.X; x++ {
			out.Set(x, r.Min.Y, c)
			out.Set(x, r.Max.Y-1, c)
		}
		for y := r.Min.Y; y < r.Max.Y; y++ {
			out.Set(r.Min.X, y, c)
			out.Set(r.Max.X-1, y, c)
		}
	}
	outline(r.Inset(-1), color.Black)
	outline(r, color.White)
	return out
}

// writePNG writes img atomically, compressed hard: the pictures are
// small, and the overview goes into the README.
func writePNG(path string, img image.Image) error {
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	return batch.WriteFile(path, func(w io.Writer) error { return enc.Encode(w, img) })
}

func writeFigure(path string, f *imaging.Figure) error {
	img, err := f.Draw()
	if err != nil {
		return err
	}
	return writePNG(path, img)
}
