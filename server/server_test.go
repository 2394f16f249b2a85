package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gradcam/gradcam"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"resnet50", true},
		{"mobilenet_v2_1.0_224", true},
		{"model.onnx", true},
		{"", false},
		{"../resnet50", false},
		{"a/b", false},
		{`a\b`, false},
		{"/etc/passwd", false},
		{"..", false},
		{"c:model", false},
		{"a\x00b", false},
	} {
		if err := checkName(tc.name); (err == nil) != tc.ok {
			t.Errorf("checkName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestModelsDir serves a directory: only its .onnx files (a symbolic
// link included) are listed, and readiness follows the loading.
func TestModelsDir(t *testing.T) {
	dir := modelsDir(t)
	s, err := New(Config{ModelsDir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Models(); len(got) != 1 || got[0] != "mobilenet_v2_1.0_224" {
		t.Fatalf("models %v, want [mobilenet_v2_1.0_224]", got)
	}
	h := s.Handler()
	if w := do(h, httptest.NewRequest("GET", "/readyz", nil)); w.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz before loading: %d, want 503", w.Code)
	}
	resp := decodeJSON[ModelsResponse](t, do(h, httptest.NewRequest("GET", "/v1/models", nil)))
	if resp.Models[0].Status != "loading" {
		t.Errorf("status before loading %q, want loading", resp.Models[0].Status)
	}
	if err := s.LoadModels(); err != nil {
		t.Fatal(err)
	}
	if w := do(h, httptest.NewRequest("GET", "/readyz", nil)); w.Code != http.StatusOK {
		t.Errorf("readyz after loading: %d, want 200", w.Code)
	}
	resp = decodeJSON[ModelsResponse](t, do(h, httptest.NewRequest("GET", "/v1/models", nil)))
	m := resp.Models[0]
	if m.Status != "ready" || m.Classes != 1000 || fmt.Sprint(m.Input) != "[1 3 224 224]" || m.Preprocess != "mobilenet-slim" || m.Target == "" {
		t.Errorf("model %+v", m)
	}
	if resp.Default != "mobilenet_v2_1.0_224" || len(resp.Methods) != 14 || len(resp.Colormaps) == 0 {
		t.Errorf("default %q, %d methods, colormaps %v", resp.Default, len(resp.Methods), resp.Colormaps)
	}
	// The file name with its extension names the model too.
	w := postExplain(h, readShared(t, "images", "both.png"), url.Values{"model": {"mobilenet_v2_1.0_224.onnx"}})
	if w.Code != http.StatusOK {
		t.Fatalf("explain: %d %s", w.Code, w.Body)
	}
	if ex := decodeJSON[ExplainResponse](t, w); ex.Predictions[0].Label != "bull mastiff" || ex.Model != "mobilenet_v2_1.0_224" {
		t.Errorf("model %q, top-1 %+v, want bull mastiff", ex.Model, ex.Predictions[0])
	}

	if _, err := New(Config{ModelsDir: dir + "/missing"}); err == nil {
		t.Error("a missing models directory was accepted")
	}
}

// TestModelLoadFailure lists a broken model with its error and answers
// 500 for it.
func TestModelLoadFailure(t *testing.T) {
	s, err := New(Config{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s.AddModel("broken", func() (*gradcam.Model, error) { return nil, errors.New("truncated file") })
	if err := s.AddModel("broken", toyModel); err == nil {
		t.Error("a second model named broken was accepted")
	}
	if err := s.AddModel("../x", toyModel); err == nil {
		t.Error("a model name with a path was accepted")
	}
	if err := s.LoadModels(); err == nil {
		t.Error("LoadModels reported no error")
	}
	h := s.Handler()
	resp := decodeJSON[ModelsResponse](t, do(h, httptest.NewRequest("GET", "/v1/models", nil)))
	if m := resp.Models[0]; m.Status != "error" || !strings.Contains(m.Error, "truncated file") {
		t.Errorf("model %+v", m)
	}
	w := postExplain(h, encodePNG(t, testPhoto()), url.Values{"model": {"broken"}})
	if w.Code != http.StatusInternalServerError || !strings.Contains(decodeJSON[ErrorResponse](t, w).Error, "truncated file") {
		t.Errorf("explain on a broken model: %d %s", w.Code, w.Body)
	}
}

func TestModelsAndLayers(t *testing.T) {
	s := newToyServer(t, Config{}, false)
	h := s.Handler()
	resp := decodeJSON[ModelsResponse](t, do(h, httptest.NewRequest("GET", "/v1/models", nil)))
	if len(resp.Models) != 1 || resp.Models[0].Name != "toy" || resp.Models[0].Classes != 3 || resp.Models[0].Target != "features" {
		t.Errorf("models %+v", resp.Models)
	}

	w := do(h, httptest.NewRequest("GET", "/v1/models/toy/layers", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("layers: %d %s", w.Code, w.Body)
	}
	layers := decodeJSON[LayersResponse](t, w)
	var outs []string
	for _, l := range layers.Layers {
		outs = append(outs, l.Output)
	}
	if layers.Target != "features" || strings.Join(outs, " ") != "conv features pooled flat logits" {
		t.Errorf("target %q, layers %v", layers.Target, outs)
	}
	if l := layers.Layers[1]; !l.Spatial || !l.Target || fmt.Sprint(l.Shape) != "[1 4 16 16]" || l.Op != "Relu" {
		t.Errorf("features layer %+v", l)
	}
	if l := layers.Layers[0]; l.Params != 4*3*3*3+4 {
		t.Errorf("conv has %d params, want %d", l.Params, 4*3*3*3+4)
	}
	sp := decodeJSON[LayersResponse](t, do(h, httptest.NewRequest("GET", "/v1/models/toy/layers?spatial=1", nil)))
	if len(sp.Layers) != 2 {
		t.Errorf("spatial layers %+v, want conv and features", sp.Layers)
	}

	for _, tc := range []struct {
		method, path string
		code         int
		msg          string
	}{
		{"GET", "/v1/models/nope/layers", 404, `unknown model "nope"`},
		{"GET", "/v1/models/..%2Ftoy/layers", 400, "holds a path"},
		{"GET", "/v1/models/a%5Cb/layers", 400, "holds a path"},
		{"GET", "/v1/models/%2Fetc%2Fpasswd/layers", 400, "holds a path"},
		{"POST", "/v1/models", 405, "method not allowed"},
		{"DELETE", "/v1/models/toy/layers", 405, "method not allowed"},
		{"GET", "/v1/explain", 405, "method not allowed"},
		{"GET", "/v1/nothing", 404, "no API endpoint"},
		{"GET", "/v1/results/0123", 404, "no result"},
	} {
		w := do(h, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.code {
			t.Errorf("%s %s: %d, want %d (%s)", tc.method, tc.path, w.Code, tc.code, w.Body)
			continue
		}
		if e := decodeJSON[ErrorResponse](t, w); !strings.Contains(e.Error, tc.msg) {
			t.Errorf("%s %s: error %q, want it to contain %q", tc.method, tc.path, e.Error, tc.msg)
		}
	}
}

func TestHealthAndReady(t *testing.T) {
	s := newToyServer(t, Config{}, false)
	h := s.Handler()
	for _, p := range []string{"/healthz", "/readyz"} {
		if w := do(h, httptest.NewRequest("GET", p, nil)); w.Code != 200 {
			t.Errorf("%s: %d", p, w.Code)
		}
	}
	s.draining.Store(true)
	if w := do(h, httptest.NewRequest("GET", "/readyz", nil)); w.Code != 503 {
		t.Errorf("readyz while shutting down: %d, want 503", w.Code)
	}
	if w := do(h, httptest.NewRequest("GET", "/healthz", nil)); w.Code != 200 {
		t.Errorf("healthz while shutting down: %d, want 200", w.Code)
	}
}

// TestQueueFull fills the one worker and the one queue place: the next
// request is refused at once with 503 and Retry-After, and the admitted
// ones are answered once the worker frees up.
func TestQueueFull(t *testing.T) {
	s := newToyServer(t, Config{Workers: 1, Queue: 1}, false)
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	s.testHookWork = func(context.Context) {
		entered <- struct{}{}
		<-release
	}
	h := s.Handler()
	img := encodePNG(t, testPhoto())
	codes := make(chan int, 2)
	go func() { codes <- postExplain(h, img, nil).Code }()
	<-entered // the first request holds the worker
	go func() { codes <- postExplain(h, img, nil).Code }()
	waitFor(t, func() bool { return s.pool.waiting.Load() == 1 })

	start := time.Now()
	w := postExplain(h, img, nil)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("third request: %d, want 503", w.Code)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the refusal took %v: it should not wait", d)
	}
	if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
	}
	if e := decodeJSON[ErrorResponse](t, w); !strings.Contains(e.Error, "busy") {
		t.Errorf("error %q", e.Error)
	}
	close(release)
	for range 2 {
		if c := <-codes; c != 200 {
			t.Errorf("admitted request: %d, want 200", c)
		}
	}
	if s.pool.waiting.Load() != 0 || s.pool.busy.Load() != 0 || len(s.pool.admitted) != 0 {
		t.Errorf("pool not empty: %d waiting, %d busy, %d admitted", s.pool.waiting.Load(), s.pool.busy.Load(), len(s.pool.admitted))
	}
	if w := postExplain(h, img, nil); w.Code != 200 {
		t.Errorf("after the load: %d", w.Code)
	}
	metrics := do(h, httptest.NewRequest("GET", "/metrics", nil)).Body.String()
	if !strings.Contains(metrics, `gradcam_rejected_total{reason="queue_full"} 1`+"\n") {
		t.Errorf("metrics do not count the refusal:\n%s", metrics)
	}
}

// TestTimeoutWaiting: a request whose deadline passes in the queue gets
// 503 and leaves its place.
func TestTimeoutWaiting(t *testing.T) {
	s := newToyServer(t, Config{Workers: 1}, false)
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	s.testHookWork = func(context.Context) {
		entered <- struct{}{}
		<-release
	}
	h := s.Handler()
	img := encodePNG(t, testPhoto())
	done := make(chan int)
	go func() { done <- postExplain(h, img, nil).Code }()
	<-entered
	w := postExplain(h, img, url.Values{"timeout": {"100ms"}})
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(decodeJSON[ErrorResponse](t, w).Error, "waiting for a worker") {
		t.Errorf("queued past its deadline: %d %s", w.Code, w.Body)
	}
	close(release)
	if c := <-done; c != 200 {
		t.Errorf("first request: %d", c)
	}
	if s.pool.waiting.Load() != 0 || len(s.pool.admitted) != 0 {
		t.Errorf("pool not empty: %d waiting, %d admitted", s.pool.waiting.Load(), len(s.pool.admitted))
	}
}

// TestTimeoutScoreCAM: the deadline cancels Score-CAM's loop (which runs
// 80 batches of masked images on MobileNetV2, many seconds): the answer
// comes soon after the deadline and the worker is free again.
func TestTimeoutScoreCAM(t *testing.T) {
	s := newToyServer(t, Config{Workers: 1}, true)
	h := s.Handler()
	img := readShared(t, "images", "both.png")
	start := time.Now()
	w := postExplain(h, img, url.Values{"model": {"mobilenet_v2"}, "method": {"scorecam"}, "timeout": {"700ms"}})
	took := time.Since(start)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("Score-CAM past its deadline: %d %.200s", w.Code, w.Body)
	}
	if e := decodeJSON[ErrorResponse](t, w); !strings.Contains(e.Error, "timed out") || !strings.Contains(e.Error, "scorecam") {
		t.Errorf("error %q", e.Error)
	}
	if took > 3*time.Second {
		t.Errorf("the answer took %v after a 700ms deadline: the cancellation did not reach Score-CAM", took)
	}
	if s.pool.busy.Load() != 0 {
		t.Error("the worker is still busy")
	}
	metrics := do(h, httptest.NewRequest("GET", "/metrics", nil)).Body.String()
	if !strings.Contains(metrics, `gradcam_explanations_total{model="mobilenet_v2",method="scorecam",outcome="timeout"} 1`) {
		t.Errorf("metrics do not count the timeout:\n%s", metrics)
	}
	// The server timeout applies too, the request's own being longer.
	s.cfg.Timeout = 500 * time.Millisecond
	if w := postExplain(h, img, url.Values{"model": {"mobilenet_v2"}, "method": {"scorecam"}, "timeout": {"1h"}}); w.Code != 503 {
		t.Errorf("server timeout: %d", w.Code)
	}
}

// TestMetrics checks the exposition format: every sample line parses,
// histograms are cumulative and end with +Inf equal to the count, and
// the counters count what was done.
func TestMetrics(t *testing.T) {
	s := newToyServer(t, Config{}, false)
	h := s.Handler()
	img := encodePNG(t, testPhoto())
	for range 3 {
		postExplain(h, img, url.Values{"method": {"gradcam,layercam"}})
	}
	postExplain(h, img, url.Values{"method": {"nope"}})
	w := do(h, httptest.NewRequest("GET", "/metrics", nil))
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	line := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$`)
	samples := map[string]float64{}
	types := map[string]string{}
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "# TYPE ") {
			f := strings.Fields(l)
			types[f[2]] = f[3]
			continue
		}
		if strings.HasPrefix(l, "#") {
			continue
		}
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("bad sample line %q", l)
			continue
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			t.Errorf("bad value in %q", l)
		}
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m[1], "_bucket"), "_sum"), "_count")
		if types[base] == "" && types[m[1]] == "" {
			t.Errorf("sample %q before its TYPE line", l)
		}
		samples[m[1]+m[2]] = v
	}
	want := map[string]float64{
		`gradcam_http_requests_total{handler="explain",code="200"}`:                 3,
		`gradcam_http_requests_total{handler="explain",code="400"}`:                 1,
		`gradcam_explanations_total{model="toy",method="gradcam",outcome="ok"}`:     3,
		`gradcam_explanations_total{model="toy",method="layercam",outcome="ok"}`:    3,
		`gradcam_explanation_duration_seconds_count{method="layercam"}`:             3,
		`gradcam_http_request_duration_seconds_count{handler="explain"}`:            4,
		`gradcam_http_request_duration_seconds_bucket{handler="explain",le="+Inf"}`: 4,
		`gradcam_http_requests_in_flight`:                                           1, // the metrics request itself
		`gradcam_workers_busy`:                                                      0,
		`gradcam_models{state="ready"}`:                                             1,
		`gradcam_explanation_duration_seconds_bucket{method="gradcam",le="+Inf"}`:   3,
		`gradcam_http_request_duration_seconds_bucket{handler="explain",le="120"}`:  4,
		`gradcam_explanations_total{model="toy",method="gradcam",outcome="error"}`:  -1, // absent
		`gradcam_http_requests_total{handler="metrics",code="200"}`:                 -1, // counted after it is written
	}
	for k, v := range want {
		got, ok := samples[k]
		if v < 0 {
			if ok {
				t.Errorf("%s = %g, want absent", k, got)
			}
			continue
		}
		if !ok || got != v {
			t.Errorf("%s = %g (present %v), want %g", k, got, ok, v)
		}
	}
	prev := -1.0
	for _, le := range latencyBuckets {
		v := samples[fmt.Sprintf(`gradcam_http_request_duration_seconds_bucket{handler="explain",le="%s"}`, formatFloat(le))]
		if v < prev {
			t.Errorf("bucket le=%g: %g below the previous %g", le, v, prev)
		}
		prev = v
	}
}

func TestMetricsEscaping(t *testing.T) {
	m := newMetrics()
	m.add(m.explains, 2, "a\"b\\c\nd", "gradcam", "ok")
	var b bytes.Buffer
	m.write(&b, nil)
	if want := `gradcam_explanations_total{model="a\"b\\c\nd",method="gradcam",outcome="ok"} 2`; !strings.Contains(b.String(), want) {
		t.Errorf("want %s in\n%s", want, b.String())
	}
}

func TestResultsStore(t *testing.T) {
	now := time.Unix(1000, 0)
	r := newResults(time.Minute, 10)
	r.now = func() time.Time { return now }
	a := r.put([]byte("aaaa"), "image/png")
	b := r.put([]byte("bbbb"), "image/png")
	if _, ok := r.get(a); !ok {
		t.Error("a is missing")
	}
	c := r.put([]byte("cccc"), "image/png") // 12 bytes > 10: a goes
	if _, ok := r.get(a); ok {
		t.Error("a was kept above the byte limit")
	}
	if e, ok := r.get(b); !ok || string(e.data) != "bbbb" {
		t.Error("b is missing")
	}
	now = now.Add(30 * time.Second)
	d := r.put([]byte("dd"), "image/png")
	now = now.Add(31 * time.Second) // b and c expired, d not
	if _, ok := r.get(c); ok {
		t.Error("c was kept past its time")
	}
	if _, ok := r.get(d); !ok || r.count() != 1 {
		t.Errorf("d missing or %d entries", r.count())
	}
	if len(a) != 32 || a == b {
		t.Errorf("ids %q %q", a, b)
	}
}

// TestPage serves the embedded page, which refers to nothing outside
// the server.
func TestPage(t *testing.T) {
	s := newToyServer(t, Config{}, false)
	h := s.Handler()
	for _, tc := range []struct{ path, ctype, want string }{
		{"/", "text/html", `<script src="app.js">`},
		{"/app.js", "text/javascript", "/v1/explain"},
		{"/style.css", "text/css", "#panels"},
	} {
		w := do(h, httptest.NewRequest("GET", tc.path, nil))
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), tc.ctype) || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tc.path, w.Code, w.Header().Get("Content-Type"), tc.want, strings.Contains(w.Body.String(), tc.want))
		}
		if !strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: no content security policy", tc.path)
		}
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(w.Body.String()); m != "" {
			t.Errorf("GET %s refers to %s: the page must work without outside network", tc.path, m)
		}
	}
	if w := do(h, httptest.NewRequest("GET", "/nope.js", nil)); w.Code != 404 {
		t.Errorf("GET /nope.js: %d", w.Code)
	}
}

// TestShutdown: cancelling Serve's context stops new connections and
// waits for the request in flight, which gets its answer.
func TestShutdown(t *testing.T) {
	s := newToyServer(t, Config{}, false)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	s.testHookWork = func(context.Context) {
		entered <- struct{}{}
		<-release
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	img := encodePNG(t, testPhoto())
	type answer struct {
		code int
		body string
		err  error
	}
	answers := make(chan answer, 1)
	go func() {
		r, err := http.Post(base+"/v1/explain", "image/png", bytes.NewReader(img))
		if err != nil {
			answers <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		answers <- answer{code: r.StatusCode, body: string(b)}
	}()
	<-entered
	cancel()
	waitFor(t, func() bool { return s.draining.Load() })
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("a new connection was accepted during the shutdown")
	}
	close(release)
	a := <-answers
	if a.err != nil || a.code != 200 || !strings.Contains(a.body, `"predictions"`) {
		t.Errorf("request in flight: %d %v %.200s", a.code, a.err, a.body)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5 s")
}

// TestDefaultModel: a request without a model gets the first model by
// name other than the embedded demo, else the demo.
func TestDefaultModel(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"demo"}, "demo"},
		{[]string{"demo", "zeta", "alpha"}, "alpha"},
		{[]string{"b", "a"}, "a"},
	} {
		s, err := New(Config{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tc.names {
			s.AddModel(n, toyModel)
		}
		if got := decodeJSON[ModelsResponse](t, do(s.Handler(), httptest.NewRequest("GET", "/v1/models", nil))).Default; got != tc.want {
			t.Errorf("models %v: default %q, want %q", tc.names, got, tc.want)
		}
		w := postExplain(s.Handler(), encodePNG(t, testPhoto()), nil)
		if got := decodeJSON[ExplainResponse](t, w).Model; got != tc.want {
			t.Errorf("models %v: explained with %q, want %q", tc.names, got, tc.want)
		}
	}
	s, _ := New(Config{Logger: quietLogger()})
	if w := postExplain(s.Handler(), encodePNG(t, testPhoto()), nil); w.Code != 404 {
		t.Errorf("no model served: %d %s", w.Code, w.Body)
	}
}
