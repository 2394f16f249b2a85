// Package server serves gradcam over HTTP: a JSON API that classifies
// photos and explains a class with the methods of package cam, and a web
// page, embedded in the binary, where anyone drops a photo and sees what
// the model looks at.
//
// The API:
//
//	GET  /v1/models                 the models, methods and colormaps
//	GET  /v1/models/{name}/layers   a model's layers (?spatial=1: feature maps only)
//	POST /v1/explain                predictions and explanations of one photo
//	GET  /v1/results/{id}           a picture kept for a short time (output=url)
//	GET  /healthz                   200 while the process runs
//	GET  /readyz                    200 once every model is loaded, 503 while loading or shutting down
//	GET  /metrics                   Prometheus text format
//	GET  /                          the web page
//
// Errors are JSON objects {"error": "..."} with a 4xx or 5xx status.
//
// The server protects itself: request bodies and image pixel counts are
// limited (the pixel count is read from the image header before
// decoding), the work runs on a pool of Config.Workers with a bounded
// queue (a full queue answers 503 with Retry-After at once), every request
// has a deadline that cancels the computation (Score-CAM and Ablation-CAM
// stop between batches), and Serve finishes the requests in flight before
// it returns when its context is cancelled.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/gradcam/gradcam"
)

// Defaults for the zero fields of Config, and the bounds of the size of
// the pictures an explain request asks for.
const (
	DefaultMaxBodyBytes = 32 << 20         // request body: 32 MiB
	DefaultMaxPixels    = 50_000_000       // image: 50 megapixels
	DefaultTimeout      = 60 * time.Second // per request, waiting included
	DefaultResultTTL    = 5 * time.Minute  // pictures kept for output=url
	DefaultResultBytes  = 256 << 20        // memory for those pictures
	// DefaultOutputSide is the longest side of the pictures when a request
	// gives no size: the photo's own, down to this.
	DefaultOutputSide = 1024
	// MaxOutputSide is the largest size a request may ask for.
	MaxOutputSide = 4096
)

// Config sets up a Server. The zero value serves no model directory, with
// the defaults above.
type Config struct {
	// ModelsDir holds the served models: every *.onnx file directly in it
	// (symbolic links are followed) is served under its file name without
	// the extension. Empty means none.
	ModelsDir string
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxPixels bounds an image's width*height, checked from its header
	// before decoding; 0 means DefaultMaxPixels.
	MaxPixels int64
	// Workers is the number of explanations computed at once; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int
	// Queue is the number of requests that may wait for a worker; beyond
	// it requests are refused with 503. 0 means 4*Workers; negative means
	// no waiting at all.
	Queue int
	// Timeout bounds a request from its arrival to its answer, waiting in
	// the queue included; 0 means DefaultTimeout. A request may ask for
	// less with the timeout parameter.
	Timeout time.Duration
	// ShutdownTimeout bounds how long Serve waits for the requests in
	// flight after its context is cancelled; 0 means Timeout + 10 s.
	ShutdownTimeout time.Duration
	// ResultTTL is how long a picture asked for by URL is kept; 0 means
	// DefaultResultTTL.
	ResultTTL time.Duration
	// ResultBytes bounds the memory held by such pictures (the oldest go
	// first); 0 means DefaultResultBytes.
	ResultBytes int64
	// Logger receives one line per request and the server's events; nil
	// means slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxPixels == 0 {
		c.MaxPixels = DefaultMaxPixels
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case c.Queue == 0:
		c.Queue = 4 * c.Workers
	case c.Queue < 0:
		c.Queue = 0
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = c.Timeout + 10*time.Second
	}
	if c.ResultTTL <= 0 {
		c.ResultTTL = DefaultResultTTL
	}
	if c.ResultBytes <= 0 {
		c.ResultBytes = DefaultResultBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server serves models over HTTP. Create it with New, add models with
// AddModel if needed, then call Serve or use Handler.
type Server struct {
	cfg      Config
	log      *slog.Logger
	models   *registry
	pool     *pool
	results  *results
	metrics  *metrics
	handler  http.Handler
	draining atomic.Bool
	avgWork  atomic.Int64 // moving average of a request's time on a worker, ns

	// testHookWork, when set, runs when a request gets a worker.
	testHookWork func(ctx context.Context)
}

// New returns a server for the models in cfg.ModelsDir. The models are
// listed now and loaded by LoadModels, by Serve in the background, or on
// first use.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		models:  newRegistry(),
		pool:    newPool(cfg.Workers, cfg.Queue),
		results: newResults(cfg.ResultTTL, cfg.ResultBytes),
		metrics: newMetrics(),
	}
	if cfg.ModelsDir != "" {
		if err := s.models.scan(cfg.ModelsDir); err != nil {
			return nil, err
		}
	}
	s.handler = s.routes()
	return s, nil
}

// AddModel serves the model that load returns under name (for instance
// an embedded model). It must be called before the server serves
// requests; a name already taken is an error.
func (s *Server) AddModel(name string, load func() (*gradcam.Model, error)) error {
	if err := checkName(name); err != nil {
		return err
	}
	return s.models.add(name, "", load)
}

// Models returns the names of the served models, sorted.
func (s *Server) Models() []string { return s.models.names() }

// LoadModels loads every model that is not loaded yet, one after the
// other, and returns the errors of those that failed (they stay listed,
// with their error, and requests naming them fail with 500).
func (s *Server) LoadModels() error {
	var errs []error
	for _, e := range s.models.all() {
		if e.isDone() {
			if e.err != nil {
				errs = append(errs, e.err)
			}
			continue
		}
		if _, err := e.get(); err != nil {
			s.log.Error("loading model failed", "model", e.name, "err", err)
			errs = append(errs, err)
		} else {
			s.log.Info("model loaded", "model", e.name, "took", e.loadTime.Round(time.Millisecond))
		}
	}
	return errors.Join(errs...)
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves HTTP on ln until ctx is cancelled, loading the models in
// the background meanwhile. On cancellation it stops accepting
// connections, reports not ready, and waits up to Config.ShutdownTimeout
// for the requests in flight to be answered before it returns. It returns
// nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      s.cfg.Timeout + time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go s.LoadModels() //nolint:errcheck // failures are logged and reported per model
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "models", s.Models(),
		"workers", s.cfg.Workers, "queue", s.cfg.Queue, "timeout", s.cfg.Timeout)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: finishing requests in flight", "in_flight", s.metrics.inFlight.Load())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		hs.Close()
		return fmt.Errorf("server: shutdown: %w", err)
	}
	s.log.Info("shut down")
	return nil
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}
