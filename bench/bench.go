// Package bench measures how fast gradcam runs a model: the time to load
// it, the forward pass, an explanation method end to end (input tensor in,
// maps out), and the peak resident memory of the process. It is what
// 'gradcam bench' prints, and what the comparison scripts in this
// directory (against PyTorch and ONNX Runtime) read.
package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/gradcam/gradcam/cam"
	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/gemm"
	"github.com/gradcam/gradcam/onnx"
	"github.com/gradcam/gradcam/tensor"
)

// Stats summarises the durations of repeated runs of one thing.
type Stats struct {
	Runs     int     `json:"runs"`
	MedianMS float64 `json:"median_ms"`
	MinMS    float64 `json:"min_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// Summarize computes the statistics of durations (none gives zeros).
func Summarize(d []time.Duration) Stats {
	if len(d) == 0 {
		return Stats{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stats{Runs: len(s), MedianMS: ms(med), MinMS: ms(s[0]), MaxMS: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// Measure calls fn warmup times untimed, then runs times timed, stopping
// at the first error or when ctx is done.
func Measure(ctx context.Context, runs, warmup int, fn func() error) (Stats, error) {
	for range warmup {
		if err := ctx.Err(); err != nil {
			return Stats{}, err
		}
		if err := fn(); err != nil {
			return Stats{}, err
		}
	}
	d := make([]time.Duration, 0, runs)
	for range runs {
		if err := ctx.Err(); err != nil {
			return Stats{}, err
		}
		t := time.Now()
		if err := fn(); err != nil {
			return Stats{}, err
		}
		d = append(d, time.Since(t))
	}
	return Summarize(d), nil
}

// Options says what Run measures.
type Options struct {
	// Model is the ONNX file.
	Model string
	// Method, when set, is also timed end to end with cam.Explain.
	Method cam.Method
	// Layers are the method's target layers (empty: the automatic one).
	Layers []string
	// Runs and Warmup count the timed and untimed runs of each
	// measurement (Runs 0 means 10).
	Runs, Warmup int
	// Batch is the number of images of the input (0 means 1).
	Batch int
	// Size is the input's height and width when the model leaves them
	// open (0 means 224).
	Size int
	// Threads bounds the goroutines of one operator (0: GOMAXPROCS).
	Threads int
	// NoForward skips timing the forward pass alone.
	NoForward bool
	// Loaded, when set, is called once the model is loaded and planned,
	// before the first run (the command sets its collector's GOGC there).
	Loaded func()
}

// Report is what Run measured.
type Report struct {
	Model      string `json:"model"`
	Input      []int  `json:"input"`
	Kernel     string `json:"kernel"`
	Threads    int    `json:"threads"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// LoadMS is the time to read the file, build the engine and plan
	// the input shape.
	LoadMS float64 `json:"load_ms"`
	// FirstRunMS is the first forward pass, which also packs the
	// weights for the matrix kernels.
	FirstRunMS float64 `json:"first_run_ms"`
	Forward    *Stats  `json:"forward,omitempty"`
	Method     string  `json:"method,omitempty"`
	Explain    *Stats  `json:"explain,omitempty"`
	// PeakRSSMiB is the process's peak resident set size (getrusage
	// ru_maxrss), everything so far included.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// Input returns the deterministic input the benchmarks use: values of a
// standardised image's range, varying smoothly over the picture.
func Input(shape []int) *tensor.Tensor {
	x := tensor.Zeros(shape...)
	for i := range x.F {
		x.F[i] = float32(2 * math.Sin(float64(i)*0.0123) * math.Cos(float64(i)*0.000717))
	}
	return x
}

// Run loads the model and measures it as o says.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Runs == 0 {
		o.Runs = 10
	}
	if o.Runs < 0 || o.Warmup < 0 || o.Batch < 0 || o.Size < 0 || o.Threads < 0 {
		return nil, errors.New("bench: negative runs, warmup, batch, size or threads")
	}
	batch := max(o.Batch, 1)
	size := o.Size
	if size == 0 {
		size = 224
	}
	t0 := time.Now()
	g, err := onnx.Load(o.Model)
	if err != nil {
		return nil, err
	}
	m, err := engine.New(g)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Model, err)
	}
	m.Threads = o.Threads
	m.ReleaseWeights = true // as gradcam.Load does
	shape := m.InputShape(batch)
	for i, d := range shape {
		if d < 0 {
			shape[i] = size
		}
	}
	if _, err := m.Shapes(shape); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Model, err)
	}
	rep := &Report{
		Model:      o.Model,
		Input:      shape,
		Kernel:     gemm.Kernel(),
		Threads:    o.Threads,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		LoadMS:     ms(time.Since(t0)),
		Method:     string(o.Method),
	}
	if rep.Threads == 0 {
		rep.Threads = rep.GOMAXPROCS
	}
	if o.Loaded != nil {
		o.Loaded()
	}
	x := Input(shape)
	forward := func() error {
		_, err := m.Run(ctx, x, engine.Pass{})
		return err
	}
	t1 := time.Now()
	if err := forward(); err != nil {
		return nil, err
	}
	rep.FirstRunMS = ms(time.Since(t1))
	if !o.NoForward {
		s, err := Measure(ctx, o.Runs, o.Warmup, forward)
		if err != nil {
			return nil, err
		}
		rep.Forward = &s
	}
	if o.Method != "" {
		ex := cam.New(m)
		opt := cam.Options{Method: o.Method, Layers: o.Layers}
		s, err := Measure(ctx, o.Runs, o.Warmup, func() error {
			res, err := ex.Explain(ctx, x, opt)
			if err != nil {
				return err
			}
			if len(res.Images) != batch {
				return fmt.Errorf("bench: %d maps for %d images", len(res.Images), batch)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		rep.Explain = &s
	}
	rep.PeakRSSMiB = math.Round(float64(PeakRSS())/(1<<20)*10) / 10
	return rep, nil
}
