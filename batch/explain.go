package batch

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/gradcam/gradcam"
	"github.com/gradcam/gradcam/cam"
	"github.com/gradcam/gradcam/imaging"
	"github.com/gradcam/gradcam/npy"
	"github.com/gradcam/gradcam/tensor"
)

// Explainer explains items with one model and several methods, and writes
// for each image and explained target, below Out at the item's Stem:
//
//	<stem>.<method>.<target>.<ext>          the overlay on the photo (methods with a map)
//	<stem>.<method>.<target>.heatmap.<ext>  the coloured map alone, at the photo's size (with Heatmap)
//	<stem>.<method>.<target>.guided.<ext>   the guided image (guided-backprop, guided-gradcam)
//	<stem>.grid.<ext>                       the figure comparing the methods (with Grid), written last
//
// where <target> is the class index ("243") or a weighted sum
// ("0.5x243+0.5x281") and <ext> is png or jpg. Every file is written
// atomically, and only once every method has succeeded on the image, so a
// failed image leaves no output. An Explainer may be used by several
// goroutines at once.
type Explainer struct {
	Model *gradcam.Model
	// Methods lists the methods run on every image; empty means Grad-CAM.
	Methods []cam.Method
	// Options sets the targets, layers, score and smoothing of every
	// method; its Method field is ignored.
	Options cam.Options
	// Out is the directory of the pictures; empty means no pictures.
	Out string
	// Format is "png" (the default) or "jpeg".
	Format string
	// Overlay styles the overlays (colormap, alpha); the heatmaps take
	// its colormap.
	Overlay imaging.OverlayOptions
	// Heatmap also writes each coloured map alone.
	Heatmap bool
	// Grid writes one figure per image: a row per method and target with
	// the original, the heatmap and the overlay (the guided image for
	// guided methods), labelled with the method and class, and the top-5
	// classes with their probabilities.
	Grid bool
	// SaveCAM, when set, writes the final maps as float32 .npy files:
	// H x W at the input's resolution, or H x W x C for the guided
	// methods (their input gradient, as pytorch-grad-cam gives it). A
	// path ending in a separator, or naming a directory, receives
	// <stem>.<method>.<target>.npy for every map; any other path is the
	// file of the batch's single map (Check refuses it for more).
	SaveCAM string
	// Source says how items are read.
	Source Source
}

// Record is the JSON summary of one explained image.
type Record struct {
	Image        string               `json:"image"`
	Model        string               `json:"model"`
	Preprocess   string               `json:"preprocess,omitempty"`
	Top5         []gradcam.Prediction `json:"top5,omitempty"`
	Explanations []ExplanationRecord  `json:"explanations,omitempty"`
	Grid         string               `json:"grid,omitempty"`
	Error        string               `json:"error,omitempty"`
}

// ExplanationRecord is one method's explanation of one target.
type ExplanationRecord struct {
	Method string `json:"method"`
	// Layer lists the target layers, comma-separated (empty for
	// FullGrad and guided backprop).
	Layer string `json:"layer,omitempty"`
	// Class is the explained class, for a single-class target.
	Class *ClassScore `json:"class,omitempty"`
	// Classes are the weighted classes of a multi-class target.
	Classes []WeightedClass `json:"classes,omitempty"`
	// Score is the explained score on the image.
	Score float32 `json:"score"`
	// ScoreKind is "logit" or "probability".
	ScoreKind string `json:"score_kind"`
	// Files are the pictures and maps written.
	Files []string `json:"files,omitempty"`
}

// ClassScore is a class with its explained score.
type ClassScore struct {
	Index int     `json:"index"`
	Label string  `json:"label"`
	Score float32 `json:"score"`
}

// WeightedClass is a class of a weighted target.
type WeightedClass struct {
	Index  int     `json:"index"`
	Label  string  `json:"label"`
	Weight float32 `json:"weight"`
}

func (e *Explainer) methods() []cam.Method {
	if len(e.Methods) == 0 {
		return []cam.Method{cam.GradCAM}
	}
	return e.Methods
}

func (e *Explainer) ext() string {
	if e.Format == "jpeg" || e.Format == "jpg" {
		return ".jpg"
	}
	return ".png"
}

// saveDir reports whether SaveCAM names a directory.
func (e *Explainer) saveDir() bool {
	if strings.HasSuffix(e.SaveCAM, "/") || strings.HasSuffix(e.SaveCAM, string(filepath.Separator)) {
		return true
	}
	st, err := os.Stat(e.SaveCAM)
	return err == nil && st.IsDir()
}

// targetsPerImage is the number of maps each method gives per image.
func (e *Explainer) targetsPerImage() int {
	switch o := e.Options; {
	case len(o.Classes) > 0:
		return len(o.Classes)
	case o.TopK > 0:
		return o.TopK
	}
	return 1
}

// Check validates the settings for a batch of items before any work, so
// that a bad method, layer, class or format fails at once with one
// error: methods are parsed (and normalised in e.Methods), layer names
// resolved (an unknown one lists candidates), classes checked against the
// model, and "cam" tried on a blank input to see that the model has the
// global-average-pool + dense head it needs.
func (e *Explainer) Check(ctx context.Context, items int) error {
	if e.Model == nil {
		return fmt.Errorf("no model")
	}
	ms := e.methods()
	norm := make([]cam.Method, len(ms))
	for i, m := range ms {
		p, err := cam.ParseMethod(string(m))
		if err != nil {
			return err
		}
		if slices.Contains(norm[:i], p) {
			return fmt.Errorf("method %q given twice", p)
		}
		if p == cam.GuidedBackprop && (e.Options.AugSmooth || e.Options.EigenSmooth) {
			return fmt.Errorf("aug-smooth and eigen-smooth do not apply to guided-backprop")
		}
		norm[i] = p
	}
	e.Methods = norm
	switch e.Format {
	case "", "png", "jpeg", "jpg":
	default:
		return fmt.Errorf("unknown picture format %q (want png or jpeg)", e.Format)
	}
	if a := e.Overlay.Alpha; a < 0 || a > 1 {
		return fmt.Errorf("overlay alpha %g must be in (0, 1]", a)
	}
	for _, l := range e.Options.Layers {
		if _, err := e.Model.Engine.ResolveLayer(l); err != nil {
			return err
		}
	}
	nc := e.Model.Classes
	check := func(c int) error {
		if c < 0 || c >= nc {
			return fmt.Errorf("class %d is out of range: the model has %d classes (0..%d)", c, nc, nc-1)
		}
		return nil
	}
	for _, c := range e.Options.Classes {
		if err := check(c); err != nil {
			return err
		}
	}
	for c := range e.Options.Weights {
		if err := check(c); err != nil {
			return err
		}
	}
	if k := e.Options.TopK; k < 0 || k > nc {
		return fmt.Errorf("top-k %d is out of range: the model has %d classes", k, nc)
	}
	if e.SaveCAM != "" && !e.saveDir() {
		if n := items * len(norm) * e.targetsPerImage(); n > 1 {
			return fmt.Errorf("--save-cam %s is one file, but the run gives %d maps; name a directory (ending in /) instead", e.SaveCAM, n)
		}
	}
	if slices.Contains(norm, cam.CAM) {
		o := e.Options
		o.Method = cam.CAM
		o.AugSmooth = false
		x := tensor.Zeros(e.inputShape()...)
		if _, err := e.Model.Explain(ctx, x, o); err != nil {
			return err
		}
	}
	return nil
}

// camOptions are the options of one method.
func (e *Explainer) camOptions(m cam.Method) cam.Options {
	o := e.Options
	o.Method = m
	return o
}

// inputShape is the model's input shape for one image.
func (e *Explainer) inputShape() []int {
	p := e.Model.Preprocess
	if p.Layout == imaging.NHWC {
		return []int{1, p.Height, p.Width, 3}
	}
	return []int{1, 3, p.Height, p.Width}
}

// Done reports whether an item's pictures exist: for every method a
// picture named after the item's stem and the method, and the grid when
// Grid is set. Used to resume a batch.
func (e *Explainer) Done(it Item) bool {
	if e.Out == "" {
		return false
	}
	dir := filepath.Join(e.Out, filepath.Dir(it.Stem))
	base := filepath.Base(it.Stem)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	has := func(prefix string) bool {
		for _, de := range ents {
			n := de.Name()
			if strings.HasPrefix(n, prefix) && strings.HasSuffix(n, e.ext()) {
				return true
			}
		}
		return false
	}
	if e.Grid && !has(base+".grid") {
		return false
	}
	for _, m := range e.methods() {
		if !has(base + "." + string(m) + ".") {
			return false
		}
	}
	return true
}

// output is a file to write.
type output struct {
	path  string
	write func(io.Writer) error
}

// Explain reads an item, explains it with every method and writes the
// outputs; it returns a record per image (several for an .npy batch).
// Nothing is written unless every method succeeds on every image of the
// item.
func (e *Explainer) Explain(ctx context.Context, it Item) ([]Record, error) {
	m := e.Model
	in, err := e.Source.load(m, it)
	if err != nil {
		return nil, err
	}
	ms := e.methods()
	if e.SaveCAM != "" && !e.saveDir() && len(in.photos)*len(ms)*e.targetsPerImage() > 1 {
		return nil, fmt.Errorf("--save-cam %s is one file, but this input gives %d maps; name a directory (ending in /) instead",
			e.SaveCAM, len(in.photos)*len(ms)*e.targetsPerImage())
	}
	results := make([]*cam.Result, len(ms))
	for i, meth := range ms {
		o := e.camOptions(meth)
		if results[i], err = m.Explain(ctx, in.x, o); err != nil {
			return nil, fmt.Errorf("%s: %w", meth, err)
		}
	}
	var outs []output
	recs := make([]Record, len(in.photos))
	for i := range in.photos {
		rec, o, err := e.image(in, i, results)
		if err != nil {
			return nil, err
		}
		recs[i] = rec
		outs = append(outs, o...)
	}
	if err := writeAll(ctx, outs); err != nil {
		return nil, err
	}
	return recs, nil
}

// writeAll writes the outputs, encoding up to GOMAXPROCS at once; the
// last output (the grid, when there is one) is written after all the
// others, so that its presence means the image is done.
func writeAll(ctx context.Context, outs []output) error {
	if len(outs) == 0 {
		return nil
	}
	last := outs[len(outs)-1]
	outs = outs[:len(outs)-1]
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	errs := make([]error, len(outs))
	var wg sync.WaitGroup
	for i, o := range outs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if errs[i] = ctx.Err(); errs[i] == nil {
				errs[i] = WriteFile(o.path, o.write)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return WriteFile(last.path, last.write)
}

// image builds the record and the outputs of image i of the input.
func (e *Explainer) image(in *input, i int, results []*cam.Result) (Record, []output, error) {
	m := e.Model
	photo, geo, stem := in.photos[i], in.geos[i], in.stems[i]
	rec := Record{Image: in.names[i], Model: m.Name, Preprocess: m.PreprocessName}
	if len(results) > 0 {
		for _, p := range results[0].Images[i].Top5 {
			rec.Top5 = append(rec.Top5, gradcam.Prediction{Class: p.Class, Label: m.Label(p.Class), Logit: p.Logit, Prob: p.Prob})
		}
	}
	cm := e.Overlay.Colormap
	if cm == nil {
		cm = imaging.Jet
	}
	var outs []output
	var fig imaging.Figure
	for _, res := range results {
		for _, ex := range res.Images[i].Explanations {
			er := e.record(res, ex)
			name := stem + "." + string(res.Method) + "." + fileTarget(ex.Target)
			base := filepath.Join(e.Out, name)
			row := imaging.FigureRow{Label: rowLabel(m, res, ex, e.Options.Score)}
			row.Panels = append(row.Panels, imaging.Panel{Image: photo, Caption: "original"})
			if ex.Map != nil {
				var heat image.Image
				if e.Heatmap || e.Grid {
					pm, err := geo.ToPhoto(ex.Map, res.Height, res.Width)
					if err != nil {
						return rec, nil, err
					}
					b := photo.Bounds()
					h, err := imaging.Colorize(pm, b.Dy(), b.Dx(), cm)
					if err != nil {
						return rec, nil, err
					}
					unseenGray(h, geo)
					heat = h
				}
				ov, err := imaging.Overlay(photo, ex.Map, res.Height, res.Width, &geo, e.Overlay)
				if err != nil {
					return rec, nil, err
				}
				if e.Out != "" {
					outs = append(outs, e.picture(base+e.ext(), ov))
					er.Files = append(er.Files, base+e.ext())
					if e.Heatmap {
						p := base + ".heatmap" + e.ext()
						outs = append(outs, e.picture(p, heat))
						er.Files = append(er.Files, p)
					}
				}
				row.Panels = append(row.Panels, imaging.Panel{Image: heat, Caption: "heatmap"}, imaging.Panel{Image: ov, Caption: "overlay"})
			}
			if ex.GuidedImage != nil {
				g := guidedPicture(ex.GuidedImage, res.Height, res.Width, m.Preprocess.BGR)
				if e.Out != "" {
					p := base + ".guided" + e.ext()
					outs = append(outs, e.picture(p, g))
					er.Files = append(er.Files, p)
				}
				row.Panels = append(row.Panels, imaging.Panel{Image: g, Caption: strings.ReplaceAll(string(res.Method), "-", " ")})
			}
			if e.SaveCAM != "" {
				p := e.SaveCAM
				if e.saveDir() {
					p = filepath.Join(e.SaveCAM, name+".npy")
				}
				t := rawMap(res, ex)
				outs = append(outs, output{p, func(w io.Writer) error { return npy.Write(w, t) }})
				er.Files = append(er.Files, p)
			}
			rec.Explanations = append(rec.Explanations, er)
			fig.Rows = append(fig.Rows, row)
		}
	}
	if e.Grid && e.Out != "" {
		fig.Title = fmt.Sprintf("%s — %s", filepath.Base(in.names[i]), m.Name)
		fig.Notes = append(fig.Notes, "top-5")
		for _, p := range rec.Top5 {
			fig.Notes = append(fig.Notes, fmt.Sprintf("%5.1f%%  %d %s", 100*p.Prob, p.Class, p.Label))
		}
		g, err := fig.Draw()
		if err != nil {
			return rec, nil, err
		}
		rec.Grid = filepath.Join(e.Out, stem+".grid"+e.ext())
		outs = append(outs, e.picture(rec.Grid, g))
	}
	return rec, outs, nil
}

// record describes one explanation.
func (e *Explainer) record(res *cam.Result, ex cam.Explanation) ExplanationRecord {
	m := e.Model
	er := ExplanationRecord{Method: string(res.Method), Layer: strings.Join(res.Layers, ","), Score: ex.Score, ScoreKind: e.Options.Score.String()}
	t := ex.Target
	if len(t.Classes) == 1 && t.Weights == nil {
		er.Class = &ClassScore{Index: t.Classes[0], Label: m.Label(t.Classes[0]), Score: ex.Score}
	} else {
		for k, c := range t.Classes {
			w := float32(1)
			if t.Weights != nil {
				w = t.Weights[k]
			}
			er.Classes = append(er.Classes, WeightedClass{Index: c, Label: m.Label(c), Weight: w})
		}
	}
	return er
}

// rowLabel is a grid row's label: "gradcam: 243 bull mastiff (logit 17.2)".
func rowLabel(m *gradcam.Model, res *cam.Result, ex cam.Explanation, kind cam.Score) string {
	t := ex.Target
	parts := make([]string, len(t.Classes))
	for k, c := range t.Classes {
		parts[k] = fmt.Sprintf("%d %s", c, m.Label(c))
		if t.Weights != nil {
			parts[k] = fmt.Sprintf("%g×%s", t.Weights[k], parts[k])
		}
	}
	return fmt.Sprintf("%s: %s (%s %.3g)", res.Method, strings.Join(parts, " + "), kind, ex.Score)
}

// fileTarget names a target in file names: "243", "0.5x243+0.5x281".
func fileTarget(t cam.Target) string {
	return strings.ReplaceAll(t.String(), "*", "x")
}

// rawMap is the map --save-cam writes: the final map as H x W, or for the
// guided methods the guided gradient as H x W x C.
func rawMap(res *cam.Result, ex cam.Explanation) *tensor.Tensor {
	if ex.Guided != nil {
		c := len(ex.Guided) / (res.Height * res.Width)
		return tensor.FromFloat32([]int{res.Height, res.Width, c}, ex.Guided)
	}
	return tensor.FromFloat32([]int{res.Height, res.Width}, ex.Map)
}

// guidedPicture turns an H x W x C guided image into RGB (C is 1 or 3;
// BGR models' channels are swapped back).
func guidedPicture(px []uint8, h, w int, bgr bool) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	c := len(px) / (h * w)
	for q := range h * w {
		var r, g, b uint8
		switch c {
		case 3:
			r, g, b = px[q*3], px[q*3+1], px[q*3+2]
			if bgr {
				r, b = b, r
			}
		default:
			r = px[q*c]
			g, b = r, r
		}
		o := q * 4
		img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = r, g, b, 255
	}
	return img
}

// unseenGray paints grey the pixels of a heatmap at photo size that lie
// outside the rectangle the model saw (a centre crop's borders), where
// the map says nothing.
func unseenGray(img *image.RGBA, g imaging.Geometry) {
	b := img.Bounds()
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			if !g.Seen(x, y) {
				o := img.PixOffset(b.Min.X+x, b.Min.Y+y)
				img.Pix[o], img.Pix[o+1], img.Pix[o+2] = 128, 128, 128
			}
		}
	}
}

// picture is an output that encodes img in the Explainer's format.
func (e *Explainer) picture(path string, img image.Image) output {
	jpg := e.ext() == ".jpg"
	return output{path, func(w io.Writer) error {
		if jpg {
			return jpeg.Encode(w, img, &jpeg.Options{Quality: 92})
		}
		// Photos compress little whatever the effort: favour speed
		// (a 12-megapixel overlay: 1.5 s at the default level).
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		return enc.Encode(w, img)
	}}
}
