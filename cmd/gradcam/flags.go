package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gradcam/gradcam"
	"github.com/gradcam/gradcam/batch"
	"github.com/gradcam/gradcam/imaging"
)

// modelFlags choose the model and how photos are fed to it.
type modelFlags struct {
	Model      string    `short:"m" required:"" help:"ONNX image classifier." placeholder:"MODEL.onnx"`
	Labels     string    `help:"Class names, one per line (default: the model's metadata, else the ImageNet names for 1000 classes)." placeholder:"FILE"`
	Preprocess string    `help:"Preprocessing preset: ${presets} (default: the model's metadata, else torchvision for NCHW and keras-caffe for NHWC inputs)." placeholder:"NAME"`
	Size       string    `help:"Model input size, N or WxH, overriding the preset's." placeholder:"WxH"`
	Mean       []float32 `help:"Per-channel means subtracted (after dividing by the preset's scale), in the model's channel order: 3 values, or 1 for all." placeholder:"M"`
	Std        []float32 `help:"Per-channel standard deviations divided by, like --mean." placeholder:"S"`
	BGR        *bool     `name:"bgr" negatable:"" help:"Feed channels in BGR order (--no-bgr: RGB)."`
	Crop       float64   `help:"Keep the central fraction of each side before resizing (0.875 is TF-slim's eval crop; 1 keeps all)." placeholder:"FRACTION"`
}

// validate checks the preprocessing flags before the model is read.
func (f *modelFlags) validate() error {
	if f.Preprocess != "" {
		if _, err := imaging.Preset(f.Preprocess); err != nil {
			return asUsage(err)
		}
	}
	if f.Size != "" {
		if _, _, err := parseSize(f.Size); err != nil {
			return asUsage(err)
		}
	}
	for _, v := range [][]float32{f.Mean, f.Std} {
		if len(v) != 0 && len(v) != 1 && len(v) != 3 {
			return usagef("--mean and --std take 1 or 3 values, not %d", len(v))
		}
	}
	if f.Crop != 0 && !(f.Crop > 0 && f.Crop <= 1) {
		return usagef("--crop %g must be in (0, 1]", f.Crop)
	}
	return nil
}

// parseSize reads "224" or "320x240" (width x height).
func parseSize(s string) (w, h int, err error) {
	ws, hs, two := strings.Cut(strings.ToLower(s), "x")
	if !two {
		hs = ws
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("--size %q: want N or WxH with positive integers", s)
	}
	return w, h, nil
}

// load reads the model and applies the preprocessing overrides.
func (f *modelFlags) load(g *globals) (*gradcam.Model, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	m, err := gradcam.Load(f.Model, gradcam.Options{Labels: f.Labels, Preprocess: f.Preprocess})
	if err != nil {
		return nil, err
	}
	tightenGC()
	p := m.Preprocess
	if f.Size != "" {
		w, h, _ := parseSize(f.Size)
		if p.Resize == imaging.ResizeShorter && p.Width > 0 {
			// Keep the preset's ratio of resize to crop (256/224).
			p.ShorterSide = int(math.Round(float64(p.ShorterSide) * float64(min(w, h)) / float64(min(p.Width, p.Height))))
		}
		p.Width, p.Height = w, h
	}
	fill := func(dst *[3]float32, v []float32) {
		for c := range dst {
			dst[c] = v[min(c, len(v)-1)]
		}
	}
	if len(f.Mean) > 0 {
		fill(&p.Mean, f.Mean)
	}
	if len(f.Std) > 0 {
		fill(&p.Std, f.Std)
	}
	if f.BGR != nil {
		p.BGR = *f.BGR
	}
	if f.Crop != 0 {
		p.CentralFraction = f.Crop
	}
	if err := p.Validate(); err != nil {
		return nil, asUsage(err)
	}
	m.Preprocess = p
	g.log.Debug("model loaded", "model", f.Model, "classes", m.Classes, "preprocess", m.PreprocessName,
		"input", fmt.Sprintf("%dx%d %s", p.Width, p.Height, p.Layout), "seconds", time.Since(t0).Seconds())
	return m, nil
}

// inputFlags name the images.
type inputFlags struct {
	Image       []string `short:"i" sep:"none" help:"Image file, directory (searched recursively) or - for standard input; repeat for more." placeholder:"FILE|DIR|-"`
	Paths       []string `arg:"" optional:"" name:"path" help:"More image files or directories."`
	InputTensor string   `help:"A float32 NumPy .npy array shaped like the model's input, fed as is (no preprocessing)." placeholder:"X.npy"`
	Glob        string   `help:"Pattern of the files taken from directories (e.g. '*.jpg'; default: every image extension)." placeholder:"PATTERN"`
	MaxPixels   int64    `help:"Refuse images of more pixels than this, before decoding them." default:"100000000" placeholder:"N"`
	Jobs        int      `short:"j" help:"Images processed at once (default: one per two CPUs; each image already uses every CPU)." placeholder:"N"`
}

// items collects the inputs; exclude lists directories not to walk into.
func (f *inputFlags) items(exclude ...string) ([]batch.Item, error) {
	paths := append(append([]string(nil), f.Image...), f.Paths...)
	if f.InputTensor != "" {
		if len(paths) > 0 {
			return nil, usagef("give images or --input-tensor, not both")
		}
		stem := strings.TrimSuffix(filepath.Base(f.InputTensor), filepath.Ext(f.InputTensor))
		name := f.InputTensor
		if name == batch.Stdin {
			name, stem = "stdin", "stdin"
		}
		return []batch.Item{{Path: f.InputTensor, Name: name, Stem: stem, Tensor: true}}, nil
	}
	if len(paths) == 0 {
		return nil, usagef("no input: give --image FILE, a directory, - (standard input) or --input-tensor X.npy")
	}
	if f.Jobs < 0 {
		return nil, usagef("--jobs %d must not be negative", f.Jobs)
	}
	items, err := batch.Collect(paths, batch.CollectOptions{Glob: f.Glob, Exclude: exclude})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// source says how the command reads items.
func (f *inputFlags) source(g *globals) batch.Source {
	return batch.Source{
		Decode:    imaging.DecodeOptions{MaxPixels: f.MaxPixels},
		LimitHint: " (--max-pixels)",
		Stdin:     g.stdin,
	}
}

// runOptions are the batch options for n items.
func (f *inputFlags) runOptions(g *globals, n int) batch.Options {
	o := batch.Options{Jobs: f.Jobs, Errors: g.stderr, Prefix: "gradcam: "}
	if n > 1 && !g.Quiet {
		o.Progress = g.stderr
		o.Terminal = isTerminal(g.stderr)
	}
	return o
}

// finish reports a batch's summary and turns failures into an error.
func finish(g *globals, s batch.Summary) error {
	if s.Total > 1 && !g.Quiet {
		fmt.Fprintf(g.stderr, "gradcam: %s\n", s)
	}
	g.log.Debug("batch done", "images", s.Total, "done", s.Done, "failed", s.Failed, "skipped", s.Skipped,
		"seconds", s.Elapsed.Seconds(), "images_per_second", s.Rate())
	switch {
	case s.Canceled > 0:
		return fmt.Errorf("interrupted: %d of %d images not processed", s.Canceled, s.Total)
	case s.Failed > 0 && s.Total == 1:
		// The one error was reported by name; say it once.
		return errReported
	case s.Failed > 0:
		return fmt.Errorf("%d of %d images failed", s.Failed, s.Total)
	}
	return nil
}

// errReported is returned when the failure was already written to
// standard error.
var errReported = reportedError{}

type reportedError struct{}

func (reportedError) Error() string { return "" }

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// ctxOf returns the command's context.
func ctxOf(g *globals) context.Context {
	if g.ctx == nil {
		return context.Background()
	}
	return g.ctx
}
