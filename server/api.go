package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gradcam/gradcam/cam"
	"github.com/gradcam/gradcam/imaging"
)

// httpError is an error with the HTTP status it is answered with.
type httpError struct {
	code       int
	msg        string
	retryAfter int // seconds, for 503
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) *httpError {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// routes builds the handler.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, name string, methods string, h func(w http.ResponseWriter, r *http.Request) error) {
		mux.Handle(pattern, s.instrument(name, methods, h))
	}
	handle("/v1/models", "models", "GET", s.handleModels)
	handle("/v1/models/{name}/layers", "layers", "GET", s.handleLayers)
	handle("/v1/explain", "explain", "POST", s.handleExplain)
	handle("/v1/results/{id}", "results", "GET", s.handleResult)
	handle("/healthz", "healthz", "GET", s.handleHealth)
	handle("/readyz", "readyz", "GET", s.handleReady)
	handle("/metrics", "metrics", "GET", s.handleMetrics)
	handle("/v1/", "other", "", func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "no API endpoint %s; see GET /v1/models, GET /v1/models/{name}/layers, POST /v1/explain", r.URL.Path)
	})
	handle("/", "page", "GET", s.handlePage)
	return mux
}

// instrument wraps a handler: method check, in-flight gauge, metrics,
// JSON errors, a recovered panic turned into a 500, and a log line.
func (s *Server) instrument(name, methods string, h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inFlight.Add(1)
		defer s.metrics.inFlight.Add(-1)
		sw := &statusWriter{ResponseWriter: w}
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					err = fmt.Errorf("internal error: %v", p)
				}
			}()
			if methods != "" && !allowed(methods, r.Method) {
				sw.Header().Set("Allow", strings.ReplaceAll(methods, " ", ", "))
				err = errorf(http.StatusMethodNotAllowed, "%s %s: method not allowed (want %s)", r.Method, r.URL.Path, methods)
				return
			}
			err = h(sw, r)
		}()
		if err != nil {
			s.writeError(sw, r, err)
		}
		d := time.Since(start)
		s.metrics.request(name, sw.status(), d)
		lvl := slogLevel(sw.status())
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", sw.status(), "took", d.Round(time.Microsecond), "bytes", sw.n}
		if err != nil {
			attrs = append(attrs, "err", err.Error())
		}
		s.log.Log(r.Context(), lvl, "request", attrs...)
	})
}

func allowed(methods, m string) bool {
	for _, a := range strings.Fields(methods) {
		if a == m || a == "GET" && m == "HEAD" {
			return true
		}
	}
	return false
}

// writeError answers err as JSON.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if sw, ok := w.(*statusWriter); ok && sw.code != 0 {
		return // an answer has begun; nothing more can be said
	}
	code := http.StatusInternalServerError
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		code = he.code
		if he.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(he.retryAfter))
		}
	case errors.As(err, &mbe):
		code = http.StatusRequestEntityTooLarge
		err = fmt.Errorf("request body above the limit of %d bytes", mbe.Limit)
	}
	writeJSON(w, code, ErrorResponse{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// statusWriter records the status and size of an answer.
type statusWriter struct {
	http.ResponseWriter
	code int
	n    int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ModelsResponse is the answer of GET /v1/models.
type ModelsResponse struct {
	Models    []ModelInfo `json:"models"`
	Methods   []string    `json:"methods"`
	Colormaps []string    `json:"colormaps"`
	// Default is the model used when a request names none: the first
	// by name other than "demo", else "demo".
	Default string `json:"default,omitempty"`
}

// ModelInfo describes one served model. The fields after Status are set
// once the model is loaded.
type ModelInfo struct {
	Name   string `json:"name"`
	Status string `json:"status"` // loading, ready or error
	Error  string `json:"error,omitempty"`
	// Classes is the number of classes the model scores.
	Classes int `json:"classes,omitempty"`
	// Input is the input shape for one image.
	Input []int `json:"input,omitempty"`
	// Preprocess names the preprocessing preset.
	Preprocess string `json:"preprocess,omitempty"`
	// Target is the layer explained when none is named.
	Target string `json:"target,omitempty"`
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) error {
	resp := ModelsResponse{Models: []ModelInfo{}, Colormaps: imaging.ColormapNames(), Default: s.defaultModel()}
	for _, m := range cam.Methods() {
		resp.Methods = append(resp.Methods, string(m))
	}
	for _, e := range s.models.all() {
		info := ModelInfo{Name: e.name, Status: "loading"}
		if e.isDone() {
			if e.err != nil {
				info.Status, info.Error = "error", e.err.Error()
			} else {
				m := e.model
				info.Status = "ready"
				info.Classes = m.Classes
				info.Preprocess = m.PreprocessName
				info.Target = e.target
				p := m.Preprocess
				info.Input = []int{1, 3, p.Height, p.Width}
				if p.Layout == imaging.NHWC {
					info.Input = []int{1, p.Height, p.Width, 3}
				}
			}
		}
		resp.Models = append(resp.Models, info)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// defaultModel names the model a request without one gets: the first by
// name other than "demo" (the embedded demonstration model), else demo.
func (s *Server) defaultModel() string {
	names := s.models.names()
	for _, n := range names {
		if n != "demo" {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

// LayersResponse is the answer of GET /v1/models/{name}/layers.
type LayersResponse struct {
	Model string `json:"model"`
	// Target is the layer explained when none is named.
	Target string      `json:"target"`
	Layers []LayerInfo `json:"layers"`
}

// LayerInfo is one layer of a model, in execution order.
type LayerInfo struct {
	// Name is the node's name; Output the tensor it produces, which is
	// what a request's layer parameter names (the node name works too).
	Name   string `json:"name"`
	Op     string `json:"op"`
	Output string `json:"output"`
	Shape  []int  `json:"shape"`
	Params int    `json:"params"`
	// Spatial marks feature maps with more than one position: the
	// layers a CAM method can explain.
	Spatial bool `json:"spatial"`
	Target  bool `json:"target,omitempty"`
}

func (s *Server) handleLayers(w http.ResponseWriter, r *http.Request) error {
	e, err := s.entry(r.PathValue("name"))
	if err != nil {
		return err
	}
	if _, err := e.get(); err != nil {
		return errorf(http.StatusInternalServerError, "model %s failed to load: %v", e.name, err)
	}
	only := r.URL.Query().Get("spatial")
	onlySpatial := only == "1" || only == "true"
	resp := LayersResponse{Model: e.name, Target: e.target, Layers: []LayerInfo{}}
	for _, l := range e.layers {
		sp := spatial(l.Shape)
		if onlySpatial && !sp {
			continue
		}
		resp.Layers = append(resp.Layers, LayerInfo{Name: l.Name, Op: l.Op, Output: l.Output, Shape: l.Shape,
			Params: l.Params, Spatial: sp, Target: l.Target})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// entry finds a model by name: 400 for a name with a path, 404 for an
// unknown one.
func (s *Server) entry(name string) (*entry, error) {
	if name == "" {
		name = s.defaultModel()
		if name == "" {
			return nil, errorf(http.StatusNotFound, "no model is served")
		}
	}
	if err := checkName(name); err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	e := s.models.lookup(name)
	if e == nil {
		return nil, errorf(http.StatusNotFound, "unknown model %q; served models: %s", name, strings.Join(s.models.names(), ", "))
	}
	return e, nil
}

func (s *Server) handleResult(w http.ResponseWriter, r *http.Request) error {
	id := strings.TrimSuffix(r.PathValue("id"), ".png")
	res, ok := s.results.get(id)
	if !ok {
		return errorf(http.StatusNotFound, "no result %q (results are kept for %s)", id, s.cfg.ResultTTL)
	}
	w.Header().Set("Content-Type", res.ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(res.data)))
	w.Header().Set("Cache-Control", "private, max-age="+strconv.Itoa(int(s.cfg.ResultTTL.Seconds())))
	w.Write(res.data)
	return nil
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	switch {
	case s.draining.Load():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
	case !s.models.loaded():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "loading models"})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
	return nil
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	states := map[string]int{"loading": 0, "ready": 0, "error": 0}
	for _, e := range s.models.all() {
		switch {
		case !e.isDone():
			states["loading"]++
		case e.err != nil:
			states["error"]++
		default:
			states["ready"]++
		}
	}
	g := []gauge{
		{name: "gradcam_http_requests_in_flight", help: "HTTP requests being served.", value: float64(s.metrics.inFlight.Load())},
		{name: "gradcam_queue_waiting", help: "Admitted requests waiting for a worker.", value: float64(s.pool.waiting.Load())},
		{name: "gradcam_workers_busy", help: "Workers computing.", value: float64(s.pool.busy.Load())},
		{name: "gradcam_workers", help: "Size of the worker pool.", value: float64(s.cfg.Workers)},
		{name: "gradcam_queue_capacity", help: "Requests that may wait for a worker.", value: float64(s.cfg.Queue)},
		{name: "gradcam_results_stored", help: "Pictures kept for retrieval by URL.", value: float64(s.results.count())},
	}
	for _, st := range []string{"loading", "ready", "error"} {
		g = append(g, gauge{name: "gradcam_models", help: "Served models by state.", value: float64(states[st]), labels: [][2]string{{"state", st}}})
	}
	return s.metrics.write(w, g)
}

// slogLevel is the level of a request's log line: warnings for server
// errors, information otherwise (503 included: a full queue or a deadline
// is the server protecting itself, not a fault).
func slogLevel(code int) slog.Level {
	if code >= 500 && code != http.StatusServiceUnavailable {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
