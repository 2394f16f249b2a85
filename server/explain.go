package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/image/draw"

	"github.com/gradcam/gradcam"
	"github.com/gradcam/gradcam/cam"
	"github.com/gradcam/gradcam/imaging"
)

// ExplainResponse is the answer of POST /v1/explain.
type ExplainResponse struct {
	Model string `json:"model"`
	// Image describes the uploaded photo (upright, as explained).
	Image ImageInfo `json:"image"`
	// Predictions are the five most probable classes.
	Predictions []gradcam.Prediction `json:"predictions"`
	// Classes are the explained classes, in the order of Explanations
	// (for each method).
	Classes []int `json:"classes"`
	// Explanations has one entry per method and class: for each method
	// in the order asked, each class of Classes.
	Explanations []Explanation `json:"explanations"`
	// Photo is the photo at the pictures' size, when asked for
	// (pictures=photo), for blending heatmaps on the client.
	Photo *Picture `json:"photo,omitempty"`
	// Width and Height are the size of the pictures.
	Width  int `json:"width"`
	Height int `json:"height"`
	// TookMS is the time spent on the request, queueing included.
	TookMS float64 `json:"took_ms"`
}

// ImageInfo describes an uploaded image.
type ImageInfo struct {
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// Explanation is one method's map of one class.
type Explanation struct {
	Method string  `json:"method"`
	Class  int     `json:"class"`
	Label  string  `json:"label"`
	Score  float32 `json:"score"`
	// Layers are the explained layers (none for fullgrad and
	// guided-backprop).
	Layers []string `json:"layers,omitempty"`
	// Overlay is the map coloured and blended over the photo (for the
	// guided methods: the guided gradient image at the model's input
	// size). Set when pictures includes overlay (the default).
	Overlay *Picture `json:"overlay,omitempty"`
	// Heatmap is the coloured map alone, transparent outside the part of
	// the photo the model saw: drawn over Photo with opacity alpha it
	// gives Overlay. Set when pictures includes heatmap.
	Heatmap *Picture `json:"heatmap,omitempty"`
	// TookMS is the time the method took (all classes).
	TookMS float64 `json:"took_ms"`
}

// Picture is a PNG picture, inline or by URL.
type Picture struct {
	// PNG is the picture's PNG file in standard base64 (output=base64,
	// the default).
	PNG string `json:"png,omitempty"`
	// URL is where the picture can be fetched for Config.ResultTTL
	// (output=url).
	URL    string `json:"url,omitempty"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// explainParams are the parameters of an explain request.
type explainParams struct {
	model    string
	methods  []cam.Method
	classes  []string // numbers or label names, resolved per model
	topK     int
	layers   []string
	colormap *imaging.Colormap
	alpha    float64
	size     int
	score    cam.Score
	byURL    bool
	pictures map[string]bool
	timeout  time.Duration
}

// paramNames are the parameters POST /v1/explain accepts.
var paramNames = []string{"model", "method", "methods", "class", "topk", "layer", "colormap", "alpha", "size", "score", "output", "pictures", "timeout"}

// maxPictures bounds the methods times classes of one request.
const maxPictures = 32

// list splits every value of a parameter at commas.
func list(v url.Values, keys ...string) []string {
	var out []string
	for _, k := range keys {
		for _, s := range v[k] {
			for _, p := range strings.Split(s, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

func parseParams(v url.Values, maxTimeout time.Duration) (*explainParams, error) {
	for k := range v {
		if !slices.Contains(paramNames, k) {
			return nil, errorf(http.StatusBadRequest, "unknown parameter %q; valid parameters: %s", k, strings.Join(paramNames, ", "))
		}
	}
	bad := func(format string, args ...any) error { return errorf(http.StatusBadRequest, format, args...) }
	p := &explainParams{model: strings.TrimSpace(v.Get("model")), colormap: imaging.Jet, alpha: 0.5,
		pictures: map[string]bool{"overlay": true}, timeout: maxTimeout}
	for _, s := range list(v, "method", "methods") {
		m, err := cam.ParseMethod(s)
		if err != nil {
			return nil, bad("%v", strings.TrimPrefix(err.Error(), "cam: "))
		}
		if !slices.Contains(p.methods, m) {
			p.methods = append(p.methods, m)
		}
	}
	if len(p.methods) == 0 {
		p.methods = []cam.Method{cam.GradCAM}
	}
	p.classes = list(v, "class")
	if s := v.Get("topk"); s != "" {
		k, err := strconv.Atoi(s)
		if err != nil || k < 1 {
			return nil, bad("topk %q: want a whole number of classes, at least 1", s)
		}
		if len(p.classes) > 0 {
			return nil, bad("give class or topk, not both")
		}
		p.topK = k
	}
	if n := len(p.methods) * max(len(p.classes), p.topK, 1); n > maxPictures {
		return nil, bad("%d methods x classes asked for; at most %d per request", n, maxPictures)
	}
	p.layers = list(v, "layer")
	if s := v.Get("colormap"); s != "" {
		c, err := imaging.ColormapByName(strings.ToLower(s))
		if err != nil {
			return nil, bad("unknown colormap %q; valid colormaps: %s", s, strings.Join(imaging.ColormapNames(), ", "))
		}
		p.colormap = c
	}
	if s := v.Get("alpha"); s != "" {
		a, err := strconv.ParseFloat(s, 64)
		if err != nil || !(a > 0 && a <= 1) {
			return nil, bad("alpha %q: want the heatmap's opacity, a number in (0, 1]", s)
		}
		p.alpha = a
	}
	if s := v.Get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 16 || n > MaxOutputSide {
			return nil, bad("size %q: want the pictures' longest side in pixels, 16 to %d", s, MaxOutputSide)
		}
		p.size = n
	}
	switch s := strings.ToLower(v.Get("score")); s {
	case "", "logit":
	case "probability":
		p.score = cam.Probability
	default:
		return nil, bad("score %q: want logit or probability", s)
	}
	switch s := strings.ToLower(v.Get("output")); s {
	case "", "base64":
	case "url":
		p.byURL = true
	default:
		return nil, bad("output %q: want base64 or url", s)
	}
	if pics := list(v, "pictures"); len(pics) > 0 {
		p.pictures = map[string]bool{}
		for _, s := range pics {
			s = strings.ToLower(s)
			if s != "overlay" && s != "heatmap" && s != "photo" {
				return nil, bad("pictures %q: want overlay, heatmap or photo", s)
			}
			p.pictures[s] = true
		}
	}
	if s := v.Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			if n, err2 := strconv.ParseFloat(s, 64); err2 == nil {
				d, err = time.Duration(n*float64(time.Second)), nil
			}
		}
		if err != nil || d <= 0 {
			return nil, bad("timeout %q: want a duration such as 10s or 500ms", s)
		}
		p.timeout = min(d, maxTimeout)
	}
	return p, nil
}

// readRequest reads the image and the parameters of an explain request:
// the query string, plus the fields of a multipart/form-data body whose
// file part (or field "image") is the image; any other body is the image
// itself, and the parameters are in the query string.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request) (url.Values, []byte, error) {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, nil, errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes above the limit of %d bytes", r.ContentLength, s.cfg.MaxBodyBytes)
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	params := r.URL.Query()
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, nil, errorf(http.StatusBadRequest, "multipart body: %v", err)
		}
		var data []byte
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, nil, bodyErr("multipart body", err)
			}
			name := part.FormName()
			if part.FileName() != "" || name == "image" || name == "file" {
				if data != nil {
					return nil, nil, errorf(http.StatusBadRequest, "more than one image in the request")
				}
				if data, err = io.ReadAll(part); err != nil {
					return nil, nil, bodyErr("image", err)
				}
				continue
			}
			val, err := io.ReadAll(io.LimitReader(part, 4096))
			if err != nil {
				return nil, nil, bodyErr("multipart body", err)
			}
			params.Add(name, string(val))
		}
		return params, data, nil
	}
	// Any other body is the image, whatever its declared type (curl's
	// --data-binary declares a form).
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, bodyErr("request body", err)
	}
	return params, data, nil
}

func bodyErr(what string, err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, "request body above the limit of %d bytes", mbe.Limit)
	}
	return errorf(http.StatusBadRequest, "reading the %s: %v", what, err)
}

// retryAfter estimates the seconds until a worker frees up.
func (s *Server) retryAfter() int {
	avg := time.Duration(s.avgWork.Load())
	if avg <= 0 {
		avg = time.Second
	}
	waiting := s.pool.waiting.Load() + int64(s.cfg.Workers)
	sec := math.Ceil(avg.Seconds() * float64(waiting) / float64(s.cfg.Workers))
	return int(min(max(sec, 1), 60))
}

// noteWork folds one worker's busy time into the moving average.
func (s *Server) noteWork(d time.Duration) {
	for {
		old := s.avgWork.Load()
		nw := int64(d)
		if old > 0 {
			nw = old + (int64(d)-old)/8
		}
		if s.avgWork.CompareAndSwap(old, nw) {
			return
		}
	}
}

func (s *Server) handleExplain(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	t := s.pool.admit()
	if t == nil {
		s.metrics.add(s.metrics.rejected, 1, "queue_full")
		return &httpError{code: http.StatusServiceUnavailable, retryAfter: s.retryAfter(),
			msg: fmt.Sprintf("server busy: %d requests computing and %d waiting; retry later", s.cfg.Workers, s.cfg.Queue)}
	}
	defer t.done()

	values, data, err := s.readRequest(w, r)
	if err != nil {
		return err
	}
	p, err := parseParams(values, s.cfg.Timeout)
	if err != nil {
		return err
	}
	if p.timeout < s.cfg.Timeout {
		var c2 context.CancelFunc
		ctx, c2 = context.WithDeadline(ctx, start.Add(p.timeout))
		defer c2()
	}
	if len(data) == 0 {
		return errorf(http.StatusBadRequest, "no image: send it as the request body or as a multipart file part")
	}
	e, err := s.entry(p.model)
	if err != nil {
		return err
	}
	m, err := e.get()
	if err != nil {
		return errorf(http.StatusInternalServerError, "model %s failed to load: %v", e.name, err)
	}
	opt, err := e.options(m, p)
	if err != nil {
		return err
	}

	if err := t.work(ctx); err != nil {
		return s.ctxError(ctx, p, "while waiting for a worker")
	}
	if s.testHookWork != nil {
		s.testHookWork(ctx)
	}
	workStart := time.Now()
	resp, err := s.explain(ctx, e, m, data, p, opt)
	t.done() // the answer is written without holding a worker
	s.noteWork(time.Since(workStart))
	if err != nil {
		return err
	}
	resp.TookMS = msSince(start)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// ctxError turns a done context into the request's error: 503 for the
// deadline, 499 (nginx's "client closed request") when the client left.
func (s *Server) ctxError(ctx context.Context, p *explainParams, when string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errorf(http.StatusServiceUnavailable, "request timed out after %s %s", p.timeout, when)
	}
	return errorf(499, "request canceled by the client %s", when)
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// options resolves the model-dependent parameters: classes and layers.
func (e *entry) options(m *gradcam.Model, p *explainParams) (cam.Options, error) {
	opt := cam.Options{TopK: p.topK, Score: p.score}
	for _, s := range p.classes {
		c, err := strconv.Atoi(s)
		if err != nil {
			if c = m.Labels.Find(s); c < 0 {
				return opt, errorf(http.StatusBadRequest, "class %q: not a class number or a class name of model %s", s, e.name)
			}
		}
		if c < 0 || c >= m.Classes {
			return opt, errorf(http.StatusBadRequest, "class %d is out of range: model %s has %d classes (0..%d)", c, e.name, m.Classes, m.Classes-1)
		}
		if !slices.Contains(opt.Classes, c) {
			opt.Classes = append(opt.Classes, c)
		}
	}
	if p.topK > m.Classes {
		return opt, errorf(http.StatusBadRequest, "topk %d is out of range: model %s has %d classes", p.topK, e.name, m.Classes)
	}
	for _, l := range p.layers {
		t, err := m.Engine.ResolveLayer(l)
		if err != nil {
			return opt, errorf(http.StatusBadRequest, "layer %q: %v", l, err)
		}
		if !spatial(e.shapes[t]) {
			return opt, errorf(http.StatusBadRequest, "layer %q has shape %v: a CAM method needs a feature map with more than one position (see GET /v1/models/%s/layers?spatial=1)", l, e.shapes[t], e.name)
		}
		opt.Layers = append(opt.Layers, t)
	}
	return opt, nil
}

// explain decodes the photo and computes and draws the explanations.
func (s *Server) explain(ctx context.Context, e *entry, m *gradcam.Model, data []byte, p *explainParams, opt cam.Options) (*ExplainResponse, error) {
	photo, format, err := imaging.DecodeBytes(data, &imaging.DecodeOptions{MaxPixels: s.cfg.MaxPixels})
	if err != nil {
		if errors.Is(err, imaging.ErrTooLarge) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "%s", strings.TrimPrefix(err.Error(), "imaging: "))
		}
		return nil, errorf(http.StatusBadRequest, "bad image: %s", strings.TrimPrefix(err.Error(), "imaging: "))
	}
	in, err := m.Prepare(photo)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "image cannot be prepared for model %s: %s", e.name, strings.TrimPrefix(err.Error(), "imaging: "))
	}
	b := photo.Bounds()
	resp := &ExplainResponse{Model: e.name, Image: ImageInfo{Format: format, Width: b.Dx(), Height: b.Dy()}}
	rd := newRenderer(in, p, s.results)
	resp.Width, resp.Height = rd.w, rd.h
	if p.pictures["photo"] {
		if resp.Photo, err = rd.picture(rd.photo); err != nil {
			return nil, err
		}
	}
	for i, method := range p.methods {
		o := opt
		o.Method = method
		if i > 0 {
			// Every method explains the classes the first one picked.
			o.TopK, o.Classes = 0, resp.Classes
		}
		t0 := time.Now()
		res, err := m.Explain(ctx, in.Tensor, o)
		took := time.Since(t0)
		if err != nil {
			outcome := "error"
			if ctx.Err() != nil {
				outcome = "timeout"
				if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
					outcome = "canceled"
				}
			}
			s.metrics.add(s.metrics.explains, 1, e.name, string(method), outcome)
			if ctx.Err() != nil {
				return nil, s.ctxError(ctx, p, "computing "+string(method))
			}
			if strings.HasPrefix(err.Error(), "cam: ") {
				return nil, errorf(http.StatusUnprocessableEntity, "%s: %s", method, strings.TrimPrefix(err.Error(), "cam: "))
			}
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		s.metrics.add(s.metrics.explains, 1, e.name, string(method), "ok")
		s.metrics.observe(s.metrics.expTime, took, string(method))
		img := res.Images[0]
		if i == 0 {
			for _, pr := range img.Top5 {
				resp.Predictions = append(resp.Predictions, gradcam.Prediction{Class: pr.Class, Label: m.Label(pr.Class), Logit: pr.Logit, Prob: pr.Prob})
			}
			for _, x := range img.Explanations {
				resp.Classes = append(resp.Classes, x.Target.Classes[0])
			}
		}
		for _, x := range img.Explanations {
			if err := ctx.Err(); err != nil {
				return nil, s.ctxError(ctx, p, "drawing the pictures")
			}
			c := x.Target.Classes[0]
			ex := Explanation{Method: string(method), Class: c, Label: m.Label(c), Score: x.Score, Layers: res.Layers,
				TookMS: float64(took.Microseconds()) / 1000}
			if err := rd.draw(&ex, x, res.Height, res.Width, m.Preprocess.BGR); err != nil {
				return nil, err
			}
			resp.Explanations = append(resp.Explanations, ex)
		}
	}
	return resp, nil
}

// renderer draws the pictures of one request at one size.
type renderer struct {
	p       *explainParams
	store   *results
	photo   image.Image // the photo at the pictures' size
	geo     imaging.Geometry
	w, h    int
	encoder png.Encoder
}

func newRenderer(in *gradcam.Input, p *explainParams, store *results) *renderer {
	b := in.Photo.Bounds()
	pw, ph := b.Dx(), b.Dy()
	side := p.size
	if side == 0 {
		side = min(max(pw, ph), DefaultOutputSide)
	}
	scale := float64(side) / float64(max(pw, ph))
	w, h := max(1, int(math.Round(float64(pw)*scale))), max(1, int(math.Round(float64(ph)*scale)))
	rd := &renderer{p: p, store: store, w: w, h: h, geo: in.Geometry, photo: in.Photo,
		encoder: png.Encoder{CompressionLevel: png.BestSpeed}}
	if w != pw || h != ph {
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.BiLinear.Scale(dst, dst.Bounds(), in.Photo, b, draw.Src, nil)
		rd.photo = dst
		sx, sy := float64(w)/float64(pw), float64(h)/float64(ph)
		g := in.Geometry
		rd.geo = imaging.Geometry{PhotoWidth: w, PhotoHeight: h, InputWidth: g.InputWidth, InputHeight: g.InputHeight,
			X0: g.X0 * sx, X1: g.X1 * sx, Y0: g.Y0 * sy, Y1: g.Y1 * sy}
	}
	return rd
}

// draw sets the pictures of one explanation.
func (rd *renderer) draw(ex *Explanation, x cam.Explanation, H, W int, bgr bool) error {
	var err error
	if x.Map == nil || x.GuidedImage != nil {
		// The guided methods: the gradient image at the input size.
		if rd.p.pictures["overlay"] || rd.p.pictures["heatmap"] {
			ex.Overlay, err = rd.picture(guidedImage(x.GuidedImage, H, W, bgr))
		}
		return err
	}
	if rd.p.pictures["overlay"] {
		img, err := imaging.Overlay(rd.photo, x.Map, H, W, &rd.geo, imaging.OverlayOptions{Colormap: rd.p.colormap, Alpha: rd.p.alpha})
		if err != nil {
			return err
		}
		if ex.Overlay, err = rd.picture(img); err != nil {
			return err
		}
	}
	if rd.p.pictures["heatmap"] {
		pm, err := rd.geo.ToPhoto(x.Map, H, W)
		if err != nil {
			return err
		}
		img, err := imaging.Colorize(pm, rd.h, rd.w, rd.p.colormap)
		if err != nil {
			return err
		}
		for y := 0; y < rd.h; y++ {
			for x := 0; x < rd.w; x++ {
				if !rd.geo.Seen(x, y) {
					i := img.PixOffset(x, y)
					copy(img.Pix[i:i+4], []byte{0, 0, 0, 0})
				}
			}
		}
		if ex.Heatmap, err = rd.picture(img); err != nil {
			return err
		}
	}
	return nil
}

// guidedImage turns an HWC 8-bit gradient picture into an image.
func guidedImage(px []uint8, h, w int, bgr bool) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	c := len(px) / max(1, h*w)
	for i := 0; i < h*w && c > 0; i++ {
		o := img.Pix[4*i : 4*i+4]
		switch {
		case c >= 3 && bgr:
			o[0], o[1], o[2] = px[c*i+2], px[c*i+1], px[c*i]
		case c >= 3:
			o[0], o[1], o[2] = px[c*i], px[c*i+1], px[c*i+2]
		default:
			o[0], o[1], o[2] = px[c*i], px[c*i], px[c*i]
		}
		o[3] = 255
	}
	return img
}

// picture encodes img as PNG, inline or stored for a URL.
func (rd *renderer) picture(img image.Image) (*Picture, error) {
	var buf bytes.Buffer
	if err := rd.encoder.Encode(&buf, img); err != nil {
		return nil, err
	}
	b := img.Bounds()
	pic := &Picture{Width: b.Dx(), Height: b.Dy()}
	if rd.p.byURL {
		pic.URL = "/v1/results/" + rd.store.put(buf.Bytes(), "image/png") + ".png"
	} else {
		pic.PNG = base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	return pic, nil
}
