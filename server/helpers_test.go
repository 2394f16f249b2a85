package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gradcam/gradcam"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/shared"
	"github.com/gradcam/gradcam/tensor"
)

// toyLabels are the classes of the toy model.
var toyLabels = []string{"cat", "dog", "bird"}

// toyGraph is a small classifier on 32x32 RGB photos: Conv 3->4 3x3
// stride 2 (a 16x16 feature map, the target layer), Relu, global average
// pooling, and a dense layer to 3 classes, with fixed pseudo-random
// weights. Its metadata names the torchvision preset and the labels.
func toyGraph() *graph.Graph {
	g := &graph.Graph{
		Name:         "toy",
		Initializers: map[string]*tensor.Tensor{},
		Opsets:       map[string]int64{"": 13},
		Metadata:     map[string]string{"gradcam_preprocess": "torchvision", "labels": "cat\ndog\nbird\n"},
	}
	seq := func(n int, seed float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.Sin(seed*float64(i+1)) * 0.5)
		}
		return v
	}
	g.Initializers["wc"] = tensor.FromFloat32([]int{4, 3, 3, 3}, seq(4*3*3*3, 1.7))
	g.Initializers["bc"] = tensor.FromFloat32([]int{4}, []float32{0.1, 0.2, 0.05, 0.3})
	g.Initializers["W"] = tensor.FromFloat32([]int{3, 4}, seq(12, 2.3))
	g.Initializers["B"] = tensor.FromFloat32([]int{3}, []float32{0.1, -0.1, 0})
	ints := func(name string, v ...int64) *graph.Attr {
		return &graph.Attr{Name: name, Type: graph.AttrInts, Ints: v}
	}
	node := func(op string, in, out []string, attrs ...*graph.Attr) {
		n := &graph.Node{Name: op + "_" + out[0], OpType: op, Inputs: in, Outputs: out, Attrs: map[string]*graph.Attr{}}
		for _, a := range attrs {
			n.Attrs[a.Name] = a
		}
		g.Nodes = append(g.Nodes, n)
	}
	g.Inputs = []graph.ValueInfo{{Name: "x", ElemType: 1, Shape: []graph.Dim{{Value: 1}, {Value: 3}, {Value: 32}, {Value: 32}}}}
	node("Conv", []string{"x", "wc", "bc"}, []string{"conv"}, ints("kernel_shape", 3, 3), ints("strides", 2, 2), ints("pads", 1, 1, 1, 1))
	node("Relu", []string{"conv"}, []string{"features"})
	node("GlobalAveragePool", []string{"features"}, []string{"pooled"})
	node("Flatten", []string{"pooled"}, []string{"flat"})
	node("Gemm", []string{"flat", "W", "B"}, []string{"logits"}, &graph.Attr{Name: "transB", Type: graph.AttrInt, I: 1})
	g.Outputs = []graph.ValueInfo{{Name: "logits", ElemType: 1}}
	return g
}

func toyModel() (*gradcam.Model, error) { return gradcam.FromGraph(toyGraph(), gradcam.Options{}) }

// mobileNet loads the shared MobileNetV2 once for the whole test binary.
var mobileNet = struct {
	once sync.Once
	m    *gradcam.Model
	err  error
}{}

func mobileNetPath(t testing.TB) string {
	return shared.Path(t, "models", "mobilenet_v2_1.0_224.onnx")
}

func loadMobileNet(t testing.TB) func() (*gradcam.Model, error) {
	path := mobileNetPath(t)
	return func() (*gradcam.Model, error) {
		mobileNet.once.Do(func() { mobileNet.m, mobileNet.err = gradcam.Load(path, gradcam.Options{}) })
		return mobileNet.m, mobileNet.err
	}
}

// quietLogger discards the server's logs unless -v is given.
func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newToyServer serves the toy model as "toy" (and MobileNetV2 as
// "mobilenet_v2" when mobile is set), models loaded.
func newToyServer(t *testing.T, cfg Config, mobile bool) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddModel("toy", toyModel); err != nil {
		t.Fatal(err)
	}
	if mobile {
		if err := s.AddModel("mobilenet_v2", loadMobileNet(t)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.LoadModels(); err != nil {
		t.Fatal(err)
	}
	return s
}

// testPhoto is a 64x48 picture with a bright square: wider than tall, so
// that the toy model's centre crop leaves borders unseen.
func testPhoto() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			c := color.NRGBA{uint8(4 * x), uint8(5 * y), uint8(128 + x - y), 255}
			if x >= 20 && x < 36 && y >= 12 && y < 28 {
				c = color.NRGBA{250, 240, 30, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readShared(t testing.TB, elem ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(shared.Path(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// multipartBody builds a multipart/form-data body with the image as a
// file part and the fields.
func multipartBody(t testing.TB, img []byte, fields url.Values) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	if img != nil {
		fw, err := mw.CreateFormFile("image", "photo.png")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(img)
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

// do runs one request against h and returns the recorder.
func do(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// postExplain posts img as the raw body with the query parameters.
func postExplain(h http.Handler, img []byte, q url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/v1/explain?"+q.Encode(), bytes.NewReader(img))
	r.Header.Set("Content-Type", "image/png")
	return do(h, r)
}

// decodeJSON decodes a recorded JSON answer.
func decodeJSON[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %.300s", ct, w.Body.String())
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decoding %.300s: %v", w.Body.String(), err)
	}
	return v
}

// decodePicture decodes a base64 PNG picture, checking its stated size.
func decodePicture(t testing.TB, p *Picture) *image.NRGBA {
	t.Helper()
	if p == nil {
		t.Fatal("no picture")
	}
	data, err := base64.StdEncoding.DecodeString(p.PNG)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != p.Width || b.Dy() != p.Height {
		t.Fatalf("picture is %v, stated %dx%d", b, p.Width, p.Height)
	}
	out := image.NewNRGBA(img.Bounds())
	for y := 0; y < p.Height; y++ {
		for x := 0; x < p.Width; x++ {
			out.Set(x, y, img.At(x, y))
		}
	}
	return out
}

// modelsDir makes a models directory holding a symbolic link to the
// shared MobileNetV2, plus files that must not be served.
func modelsDir(t *testing.T) string {
	t.Helper()
	src := mobileNetPath(t)
	dir := t.TempDir()
	if err := os.Symlink(src, filepath.Join(dir, "mobilenet_v2_1.0_224.onnx")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a model"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub.onnx"), 0o755)
	return dir
}
