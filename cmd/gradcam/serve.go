package main

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gradcam/gradcam/demo"
	"github.com/gradcam/gradcam/server"
)

// serveCmd serves the HTTP API and the web page.
type serveCmd struct {
	Models          string        `help:"Directory of ONNX models: every *.onnx in it is served under its file name without .onnx." type:"existingdir" placeholder:"DIR"`
	Addr            string        `help:"Address to listen on (host:port)." default:"127.0.0.1:8080"`
	MaxBody         int64         `help:"Largest request body, in bytes." default:"33554432"`
	MaxPixels       int64         `help:"Largest image, in pixels (width*height), checked before decoding." default:"50000000"`
	Workers         int           `help:"Explanations computed at once; 0 means one per core." default:"0"`
	Queue           int           `help:"Requests that may wait for a worker (beyond them: 503 with Retry-After); 0 means 4 per worker, -1 none." default:"0"`
	Timeout         time.Duration `help:"Longest time a request may take, waiting included; its computation is cancelled then." default:"60s"`
	ShutdownTimeout time.Duration `help:"On SIGTERM or Ctrl-C, how long to wait for the requests in flight; 0 means --timeout plus 10s." default:"0s"`
	NoDemo          bool          `help:"Do not serve the embedded demo model (served as \"demo\" otherwise)."`
}

// Help shows examples.
func (c *serveCmd) Help() string {
	return `Serves a JSON API and a web page (open the address in a browser: drop a photo,
click a class, compare methods). Models are loaded once at start and shared;
the embedded demo model is served as "demo" unless --no-demo is given.

Examples:
  gradcam serve                       # the demo model only
  gradcam serve --models models/
  gradcam serve --models models/ --addr 0.0.0.0:8080 --workers 2 --timeout 30s
  curl -F image=@dog.jpg -F method=gradcam,scorecam http://127.0.0.1:8080/v1/explain

API:
  GET  /v1/models                  models, methods, colormaps
  GET  /v1/models/NAME/layers      layers (?spatial=1: the feature maps a CAM can explain)
  POST /v1/explain                 image as a multipart file part or the raw body; parameters
                                   (query or form fields): model, method(s), class or topk,
                                   layer, colormap, alpha, size, score, pictures, output, timeout
  GET  /healthz  /readyz  /metrics`
}

// Run serves until SIGTERM or Ctrl-C, then finishes the requests in
// flight.
func (c *serveCmd) Run(g *globals) error {
	if c.Workers < 0 {
		return usagef("--workers %d: want 0 (one per core) or more", c.Workers)
	}
	if c.Queue < -1 {
		return usagef("--queue %d: want -1 (no waiting), 0 (4 per worker) or more", c.Queue)
	}
	if c.MaxBody <= 0 || c.MaxPixels <= 0 || c.Timeout <= 0 || c.ShutdownTimeout < 0 {
		return usagef("--max-body, --max-pixels and --timeout must be positive")
	}
	tightenGC()
	s, err := server.New(server.Config{
		ModelsDir:       c.Models,
		MaxBodyBytes:    c.MaxBody,
		MaxPixels:       c.MaxPixels,
		Workers:         c.Workers,
		Queue:           c.Queue,
		Timeout:         c.Timeout,
		ShutdownTimeout: c.ShutdownTimeout,
		Logger:          g.log,
	})
	if err != nil {
		return err
	}
	if !c.NoDemo {
		if err := s.AddModel("demo", demo.Model); err != nil {
			return fmt.Errorf("--models %s: %w (or use --no-demo)", c.Models, err)
		}
	}
	if len(s.Models()) == 0 {
		if c.Models == "" {
			return usagef("no model to serve: give --models DIR, or drop --no-demo")
		}
		return usagef("no model to serve: %s holds no .onnx file", c.Models)
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", c.Addr, err)
	}
	if !g.Quiet {
		fmt.Fprintf(g.stdout, "gradcam: serving %d models on http://%s/\n", len(s.Models()), ln.Addr())
	}
	err = s.Serve(g.ctx, ln)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
