// Command gradcam classifies photos with an ONNX image classifier and
// shows where the model looks: Grad-CAM and the rest of the CAM family,
// drawn over the photos.
//
//	gradcam demo                                      # no files needed
//	gradcam layers  --model resnet50.onnx
//	gradcam predict --model resnet50.onnx --image dog.jpg
//	gradcam explain --model resnet50.onnx --image photos/ --method gradcam,scorecam --out out/
//
// Every flag can also be set with an environment variable GRADCAM_<FLAG>
// (GRADCAM_MODEL, GRADCAM_METHOD, GRADCAM_LOG_FORMAT...). Exit codes: 0 ok,
// 1 failure (bad model or image file, runtime error, any failed image of
// a batch), 2 usage (unknown or missing flag, bad flag value).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"github.com/gradcam/gradcam/cam"
	"github.com/gradcam/gradcam/imaging"
)

// globals are the flags every command takes, and what run hands to the
// commands.
type globals struct {
	LogFormat string `help:"Log format: text or json." enum:"text,json" default:"text"`
	LogLevel  string `help:"Least severe log level shown: debug, info, warn or error." enum:"debug,info,warn,error" default:"info"`
	Quiet     bool   `short:"q" help:"No progress, no summary, no logs below errors."`

	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

// cli is the root of the command line.
type cli struct {
	Globals globals `embed:""`

	Demo    demoCmd    `cmd:"" help:"Explain generated images with the embedded demo model: no flags, no files."`
	Predict predictCmd `cmd:"" help:"Classify images: the top classes with probabilities."`
	Layers  layersCmd  `cmd:"" help:"List a model's layers, marking the automatic target layer."`
	Explain explainCmd `cmd:"" help:"Explain images: heatmaps, overlays and a comparison grid."`
	Bench   benchCmd   `cmd:"" help:"Measure speed."`
	Serve   serveCmd   `cmd:"" help:"Serve explanations over HTTP."`
	Version versionCmd `cmd:"" help:"Print version, Go version and the matrix kernel in use."`
}

// usageError is a bad flag value found after parsing; it exits with 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// asUsage marks err, if not nil, as a usage error.
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// exitRequest carries kong's request to exit (after --help) out of the
// parser.
type exitRequest struct{ code int }

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// gcPercent is the command's GOGC once a model is loaded, unless the
// environment sets GOGC. Most of the heap is then the model's weights,
// which live as long as the process and hold no pointers: a collection
// has next to nothing to scan, while Go's default of 100 lets garbage
// grow to the size of the weights before it collects. ResNet50 Grad-CAM,
// 60 runs in `gradcam bench`: peak RSS 261 MiB with 100, 229 with 25,
// 209 with 10, no slower. While a model loads, the heap grows from
// nothing and 10 would collect at every tenth of growth (ResNet50: 80 ms
// -> 90-250 ms to load), so the commands set it after loading (serve,
// which loads models on demand, at its start).
const gcPercent = 10

// tightenGC sets the collector's GOGC to gcPercent unless the
// environment sets GOGC.
func tightenGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}

// run runs the command line args and returns the exit code: 0 ok, 1
// failure, 2 usage.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	c := cli{Globals: globals{stdin: stdin, stdout: stdout, stderr: stderr}}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			code = e.code
		}
	}()
	parser, err := kong.New(&c,
		kong.Name("gradcam"),
		kong.Description("Show where an image classifier looks: Grad-CAM and the CAM family for ONNX models, in pure Go.\n\n"+
			"Every flag can be set with an environment variable GRADCAM_<FLAG> (e.g. GRADCAM_MODEL, GRADCAM_METHOD)."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitRequest{code}) }),
		kong.DefaultEnvars("GRADCAM"),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{
			"methods":   methodNames(),
			"colormaps": strings.Join(imaging.ColormapNames(), ","),
			"presets":   strings.Join(imaging.PresetNames(), ", "),
		},
		kong.Bind(&c.Globals),
	)
	if err != nil {
		fmt.Fprintf(stderr, "gradcam: internal error: %v\n", err)
		return 1
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "gradcam: %s\n", oneLine(err))
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil && pe.Context.Selected() != nil {
			fmt.Fprintf(stderr, "gradcam: see 'gradcam %s --help'\n", pe.Context.Selected().Path())
		}
		return 2
	}
	g := &c.Globals
	g.log = newLogger(g, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first interrupt, which lets a batch stop cleanly, the
		// next one ends the program at once.
		<-ctx.Done()
		stop()
	}()
	g.ctx = ctx
	if err := kctx.Run(); err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintf(stderr, "gradcam: %s\n", oneLine(err))
		}
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// newLogger makes the slog logger the flags ask for, on stderr.
func newLogger(g *globals, w io.Writer) *slog.Logger {
	var level slog.Level
	switch g.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	if g.Quiet {
		level = max(level, slog.LevelError)
	}
	o := &slog.HandlerOptions{Level: level}
	if g.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// oneLine joins an error's lines so that every error is one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func methodNames() string {
	ms := cam.Methods()
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}
