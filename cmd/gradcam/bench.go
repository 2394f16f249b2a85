package main

import (
	"fmt"

	"github.com/gradcam/gradcam/bench"
	"github.com/gradcam/gradcam/cam"
)

// benchCmd measures how fast a model runs.
type benchCmd struct {
	Model   string   `short:"m" required:"" help:"ONNX model file." placeholder:"MODEL.onnx"`
	Method  string   `short:"M" help:"Also time this explanation method end to end: ${methods}." placeholder:"NAME"`
	Layer   []string `short:"l" sep:"none" help:"Target layer of the method (default: the automatic one)." placeholder:"NAME"`
	Runs    int      `default:"10" help:"Timed runs of each measurement." placeholder:"N"`
	Warmup  int      `default:"2" help:"Untimed runs before the timed ones." placeholder:"W"`
	Batch   int      `default:"1" help:"Images per input batch." placeholder:"B"`
	Size    int      `default:"224" help:"Input height and width when the model leaves them open." placeholder:"PX"`
	Threads int      `help:"Most goroutines one operator uses (default: GOMAXPROCS, the CPUs)." placeholder:"T"`
	JSON    bool     `name:"json" help:"Print the results as one JSON object."`
}

// Help shows examples.
func (c *benchCmd) Help() string {
	return `Loads a model and times, on a fixed synthetic input, the load (reading
the file, building the engine, planning the input shape), the first forward
pass (which also packs the weights), the forward pass alone, and with
--method an explanation end to end (input tensor in, maps at the input's
size out), each as median, min and max over --runs runs after --warmup
untimed ones; then the peak resident memory of the process (getrusage).
The scripts in bench/ compare these numbers with PyTorch and ONNX Runtime.

Examples:

    gradcam bench --model resnet50.onnx
    gradcam bench -m resnet50.onnx --method gradcam --runs 20 --json
    gradcam bench -m resnet50.onnx --method scorecam --runs 1 --warmup 0`
}

// Run measures and prints.
func (c *benchCmd) Run(g *globals) error {
	o := bench.Options{Model: c.Model, Layers: c.Layer, Runs: c.Runs, Warmup: c.Warmup, Batch: c.Batch, Size: c.Size, Threads: c.Threads, Loaded: tightenGC}
	if c.Method != "" {
		m, err := cam.ParseMethod(c.Method)
		if err != nil {
			return asUsage(err)
		}
		o.Method = m
	}
	switch {
	case c.Runs < 1:
		return usagef("--runs %d: want at least 1", c.Runs)
	case c.Warmup < 0:
		return usagef("--warmup %d: want 0 or more", c.Warmup)
	case c.Batch < 1:
		return usagef("--batch %d: want at least 1", c.Batch)
	case c.Size < 1:
		return usagef("--size %d: want at least 1", c.Size)
	case c.Threads < 0:
		return usagef("--threads %d: want 0 or more", c.Threads)
	}
	rep, err := bench.Run(ctxOf(g), o)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(g.stdout, rep)
	}
	w := g.stdout
	fmt.Fprintf(w, "model       %s, input %v\n", rep.Model, rep.Input)
	fmt.Fprintf(w, "kernel      %s, %d threads per op (GOMAXPROCS %d)\n", rep.Kernel, rep.Threads, rep.GOMAXPROCS)
	fmt.Fprintf(w, "load        %.1f ms (read, engine, plan)\n", rep.LoadMS)
	fmt.Fprintf(w, "first run   %.1f ms (packs the weights)\n", rep.FirstRunMS)
	line := func(name string, s *bench.Stats) {
		if s != nil {
			fmt.Fprintf(w, "%-11s median %.1f ms, min %.1f, max %.1f (%d runs)\n", name, s.MedianMS, s.MinMS, s.MaxMS, s.Runs)
		}
	}
	line("forward", rep.Forward)
	line(rep.Method, rep.Explain)
	fmt.Fprintf(w, "peak RSS    %.1f MiB\n", rep.PeakRSSMiB)
	return nil
}
