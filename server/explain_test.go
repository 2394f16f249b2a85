package server

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gradcam/gradcam/cam"
	"github.com/gradcam/gradcam/imaging"
)

// TestExplainErrors sends every kind of bad request: each gets the
// right status and a JSON error saying what is wrong.
func TestExplainErrors(t *testing.T) {
	s := newToyServer(t, Config{MaxBodyBytes: 64 << 10}, false)
	h := s.Handler()
	img := encodePNG(t, testPhoto())
	allMethods := make([]string, 0, 14)
	for _, m := range cam.Methods() {
		allMethods = append(allMethods, string(m))
	}
	raw := func(body []byte, ctype string) func() (io.Reader, string) {
		return func() (io.Reader, string) { return bytes.NewReader(body), ctype }
	}
	png := raw(img, "image/png")
	form := func(img []byte, fields url.Values) func() (io.Reader, string) {
		return func() (io.Reader, string) { return multipartBody(t, img, fields) }
	}
	for _, tc := range []struct {
		name  string
		body  func() (io.Reader, string)
		query url.Values
		code  int
		msg   string
	}{
		{"bad image", raw([]byte("hello, this is not a picture"), "image/png"), nil, 400, "bad image: unknown image format"},
		{"truncated png", raw(img[:len(img)/2], "image/png"), nil, 400, "bad image: truncated png"},
		{"empty body", raw(nil, "image/png"), nil, 400, "no image"},
		{"no file part", form(nil, url.Values{"model": {"toy"}}), nil, 400, "no image"},
		{"form instead of image", raw([]byte("model=toy"), "application/x-www-form-urlencoded"), nil, 400, "bad image"},
		{"unknown model", png, url.Values{"model": {"resnet9000"}}, 404, `unknown model "resnet9000"; served models: toy`},
		{"path in model name", png, url.Values{"model": {"../toy"}}, 400, "holds a path"},
		{"absolute path as model", png, url.Values{"model": {"/work/shared/models/x.onnx"}}, 400, "holds a path"},
		{"path in model field", form(img, url.Values{"model": {`..\toy`}}), nil, 400, "holds a path"},
		{"unknown method", png, url.Values{"method": {"gradcam,gradcamm"}}, 400, `unknown method "gradcamm"`},
		{"unknown layer", png, url.Values{"layer": {"conv9"}}, 400, `layer "conv9": no layer or tensor named "conv9"`},
		{"layer without positions", png, url.Values{"layer": {"pooled"}}, 400, "more than one position"},
		{"class out of range", png, url.Values{"class": {"3"}}, 400, "class 3 is out of range: model toy has 3 classes (0..2)"},
		{"negative class", png, url.Values{"class": {"-1"}}, 400, "class -1 is out of range"},
		{"unknown class name", form(img, url.Values{"class": {"zebra"}}), nil, 400, `class "zebra": not a class number or a class name`},
		{"class and topk", png, url.Values{"class": {"1"}, "topk": {"2"}}, 400, "class or topk, not both"},
		{"topk out of range", png, url.Values{"topk": {"4"}}, 400, "topk 4 is out of range"},
		{"topk zero", png, url.Values{"topk": {"0"}}, 400, "topk"},
		{"too many pictures", png, url.Values{"methods": {strings.Join(allMethods, ",")}, "topk": {"3"}}, 400, "at most 32"},
		{"alpha zero", png, url.Values{"alpha": {"0"}}, 400, "alpha"},
		{"alpha above one", png, url.Values{"alpha": {"1.5"}}, 400, "alpha"},
		{"alpha not a number", png, url.Values{"alpha": {"half"}}, 400, "alpha"},
		{"unknown colormap", png, url.Values{"colormap": {"rainbow"}}, 400, `unknown colormap "rainbow"`},
		{"size too small", png, url.Values{"size": {"8"}}, 400, "size"},
		{"size too large", png, url.Values{"size": {"100000"}}, 400, "size"},
		{"bad score", png, url.Values{"score": {"softmax"}}, 400, "score"},
		{"bad output", png, url.Values{"output": {"ftp"}}, 400, "output"},
		{"bad pictures", png, url.Values{"pictures": {"overlay,movie"}}, 400, "pictures"},
		{"bad timeout", png, url.Values{"timeout": {"-1s"}}, 400, "timeout"},
		{"unknown parameter", png, url.Values{"clas": {"1"}}, 400, `unknown parameter "clas"`},
		{"unknown form field", form(img, url.Values{"colourmap": {"jet"}}), nil, 400, `unknown parameter "colourmap"`},
		{"two images", func() (io.Reader, string) {
			var b bytes.Buffer
			b.WriteString("--X\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n")
			b.Write(img)
			b.WriteString("\r\n--X\r\nContent-Disposition: form-data; name=\"image\"; filename=\"b.png\"\r\n\r\n")
			b.Write(img)
			b.WriteString("\r\n--X--\r\n")
			return &b, "multipart/form-data; boundary=X"
		}, nil, 400, "more than one image"},
		{"oversized body", raw(make([]byte, 100<<10), "image/png"), nil, 413, "above the limit of 65536 bytes"},
		{"oversized multipart", form(make([]byte, 100<<10), nil), nil, 413, "above the limit of 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype := tc.body()
			r := httptest.NewRequest("POST", "/v1/explain?"+tc.query.Encode(), body)
			r.Header.Set("Content-Type", ctype)
			w := do(h, r)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			if e := decodeJSON[ErrorResponse](t, w); !strings.Contains(e.Error, tc.msg) {
				t.Errorf("error %q, want it to contain %q", e.Error, tc.msg)
			}
		})
	}

	// A body without Content-Length (chunked) is cut at the limit too.
	r := httptest.NewRequest("POST", "/v1/explain", io.MultiReader(bytes.NewReader(img), bytes.NewReader(make([]byte, 100<<10))))
	r.ContentLength = -1
	if w := do(h, r); w.Code != 413 {
		t.Errorf("oversized chunked body: %d %s", w.Code, w.Body)
	}
	if s.pool.waiting.Load() != 0 || s.pool.busy.Load() != 0 || len(s.pool.admitted) != 0 {
		t.Errorf("pool not empty after the errors: %d waiting, %d busy, %d admitted", s.pool.waiting.Load(), s.pool.busy.Load(), len(s.pool.admitted))
	}
}

// TestPixelLimit refuses an image above the pixel limit from its header.
func TestPixelLimit(t *testing.T) {
	s := newToyServer(t, Config{MaxPixels: 64*48 - 1}, false)
	w := postExplain(s.Handler(), encodePNG(t, testPhoto()), nil)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413: %s", w.Code, w.Body)
	}
	if e := decodeJSON[ErrorResponse](t, w); !strings.Contains(e.Error, "64x48 = 3072 pixels, above the limit of 3071") {
		t.Errorf("error %q", e.Error)
	}
}

// TestExplainToy asks for several methods, classes and pictures, and
// checks the answer against the library and the pictures against each
// other: the heatmap drawn over the photo at opacity alpha is the
// overlay, and outside the part of the photo the model saw the overlay
// is the photo.
func TestExplainToy(t *testing.T) {
	s := newToyServer(t, Config{}, false)
	h := s.Handler()
	photo := testPhoto()
	img := encodePNG(t, photo)
	const alpha = 0.6
	fields := url.Values{"model": {"toy"}, "method": {"gradcam", "gradcam++"}, "topk": {"2"},
		"pictures": {"overlay,heatmap,photo"}, "size": {"128"}, "alpha": {"0.6"}, "colormap": {"viridis"}}
	body, ctype := multipartBody(t, img, fields)
	r := httptest.NewRequest("POST", "/v1/explain", body)
	r.Header.Set("Content-Type", ctype)
	w := do(h, r)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	resp := decodeJSON[ExplainResponse](t, w)

	// The predictions are the library's.
	m, _ := toyModel()
	in, err := m.Prepare(photo)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := m.Predict(context.Background(), in.Tensor, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Predictions) != 3 {
		t.Fatalf("%d predictions, want 3", len(resp.Predictions))
	}
	for i, p := range resp.Predictions {
		q := preds[0][i]
		if p.Class != q.Class || p.Label != q.Label || math.Abs(float64(p.Prob-q.Prob)) > 1e-6 {
			t.Errorf("prediction %d: %+v, library %+v", i, p, q)
		}
	}
	if resp.Image != (ImageInfo{Format: "png", Width: 64, Height: 48}) || resp.Width != 128 || resp.Height != 96 {
		t.Errorf("image %+v, pictures %dx%d", resp.Image, resp.Width, resp.Height)
	}
	wantClasses := []int{preds[0][0].Class, preds[0][1].Class}
	if !slices.Equal(resp.Classes, wantClasses) || len(resp.Explanations) != 4 {
		t.Fatalf("classes %v, want %v; %d explanations", resp.Classes, wantClasses, len(resp.Explanations))
	}
	ph := decodePicture(t, resp.Photo)
	// The part seen: the torchvision preset, sized for a 32x32 input,
	// resizes the shorter side to round(256*32/224) = 37, so 64x48 becomes
	// 49x37, and crops the centre 32x32 at offsets round(17/2) = 8 and
	// round(5/2) = 2 (half to even). That is x in [8, 40)*64/49 and y in
	// [2, 34)*48/37 of the photo; at 128x96, x in [20.9, 104.5) and y in
	// [5.2, 88.2): pixel centres of columns 21..103 and rows 5..87, 83x83.
	for i, ex := range resp.Explanations {
		wantMethod := []string{"gradcam", "gradcam", "gradcam++", "gradcam++"}[i]
		if ex.Method != wantMethod || ex.Class != resp.Classes[i%2] || ex.Label != toyLabels[ex.Class] || !slices.Equal(ex.Layers, []string{"features"}) {
			t.Errorf("explanation %d: %s %d %q %v", i, ex.Method, ex.Class, ex.Label, ex.Layers)
		}
		ov, hm := decodePicture(t, ex.Overlay), decodePicture(t, ex.Heatmap)
		var maxDiff, seen, unseen int
		for y := 0; y < 96; y++ {
			for x := 0; x < 128; x++ {
				o, p, q := ov.PixOffset(x, y), ph.PixOffset(x, y), hm.PixOffset(x, y)
				switch hm.Pix[q+3] {
				case 0:
					unseen++
					for c := 0; c < 3; c++ {
						maxDiff = max(maxDiff, absInt(int(ov.Pix[o+c])-int(ph.Pix[p+c])))
					}
				case 255:
					seen++
					for c := 0; c < 3; c++ {
						want := math.Round((1-alpha)*float64(ph.Pix[p+c]) + alpha*float64(hm.Pix[q+c]))
						maxDiff = max(maxDiff, absInt(int(ov.Pix[o+c])-int(want)))
					}
				default:
					t.Fatalf("heatmap alpha %d at %d,%d: want 0 or 255", hm.Pix[q+3], x, y)
				}
			}
		}
		if maxDiff > 1 || seen != 83*83 || unseen != 128*96-seen {
			t.Errorf("explanation %d: overlay differs by %d from photo+alpha*heatmap; %d unseen, %d seen pixels", i, maxDiff, unseen, seen)
		}
	}

	// The raw body gives the same answer as the multipart form.
	q := url.Values{}
	for k, v := range fields {
		q[k] = v
	}
	w2 := postExplain(h, img, q)
	resp2 := decodeJSON[ExplainResponse](t, w2)
	if len(resp2.Explanations) != 4 || resp2.Explanations[3].Overlay.PNG != resp.Explanations[3].Overlay.PNG {
		t.Error("the raw body and the multipart form give different pictures")
	}
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// TestExplainOptions covers the other parameters: class by name, output
// by URL, the default picture size, guided backprop's picture.
func TestExplainOptions(t *testing.T) {
	s := newToyServer(t, Config{}, false)
	h := s.Handler()
	img := encodePNG(t, testPhoto())

	resp := decodeJSON[ExplainResponse](t, postExplain(h, img, url.Values{"class": {"dog,bird"}, "score": {"probability"}}))
	if !slices.Equal(resp.Classes, []int{1, 2}) || resp.Explanations[0].Label != "dog" || resp.Explanations[1].Label != "bird" {
		t.Errorf("classes %v, explanations %+v", resp.Classes, resp.Explanations)
	}
	if resp.Width != 64 || resp.Height != 48 || resp.Photo != nil || resp.Explanations[0].Heatmap != nil {
		t.Errorf("defaults: %dx%d, photo %v", resp.Width, resp.Height, resp.Photo != nil)
	}
	if p := resp.Explanations[0].Score; !(p > 0 && p < 1) {
		t.Errorf("probability score %g", p)
	}

	resp = decodeJSON[ExplainResponse](t, postExplain(h, img, url.Values{"output": {"url"}, "pictures": {"overlay,photo"}}))
	for _, p := range []*Picture{resp.Photo, resp.Explanations[0].Overlay} {
		if p.PNG != "" || !strings.HasPrefix(p.URL, "/v1/results/") {
			t.Fatalf("picture %+v: want a URL only", p)
		}
		w := do(h, httptest.NewRequest("GET", p.URL, nil))
		if w.Code != 200 || w.Header().Get("Content-Type") != "image/png" {
			t.Fatalf("GET %s: %d %s", p.URL, w.Code, w.Header().Get("Content-Type"))
		}
		got, _, err := imaging.DecodeBytes(w.Body.Bytes(), nil)
		if err != nil || got.Bounds().Dx() != p.Width {
			t.Errorf("GET %s: %v, %v", p.URL, err, got)
		}
	}

	// curl --data-binary declares a form: the body is still the image.
	r := httptest.NewRequest("POST", "/v1/explain?class=cat", bytes.NewReader(img))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if w := do(h, r); w.Code != 200 || decodeJSON[ExplainResponse](t, w).Classes[0] != 0 {
		t.Errorf("raw body declared as a form: %d %.200s", w.Code, w.Body)
	}

	resp = decodeJSON[ExplainResponse](t, postExplain(h, img, url.Values{"method": {"guided-backprop"}}))
	if ex := resp.Explanations[0]; ex.Overlay == nil || ex.Overlay.Width != 32 || ex.Overlay.Height != 32 || ex.Layers != nil {
		t.Errorf("guided backprop: %+v", ex)
	}

	// A named layer is explained; with two they are fused.
	resp = decodeJSON[ExplainResponse](t, postExplain(h, img, url.Values{"layer": {"conv,features"}}))
	if !slices.Equal(resp.Explanations[0].Layers, []string{"conv", "features"}) {
		t.Errorf("layers %v", resp.Explanations[0].Layers)
	}
	// A node name resolves to its output.
	resp = decodeJSON[ExplainResponse](t, postExplain(h, img, url.Values{"layer": {"Conv_conv"}}))
	if !slices.Equal(resp.Explanations[0].Layers, []string{"conv"}) {
		t.Errorf("layers %v", resp.Explanations[0].Layers)
	}
}

// TestExplainMobileNet explains the shared photo of a dog and a cat with
// MobileNetV2: the dog first, the cat on request, the heatmap exactly
// the library's map coloured over the photo, and the two maps far apart.
func TestExplainMobileNet(t *testing.T) {
	s := newToyServer(t, Config{}, true)
	h := s.Handler()
	data := readShared(t, "images", "both.png")
	photo, _, err := imaging.DecodeBytes(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	side := max(photo.Bounds().Dx(), photo.Bounds().Dy())
	q := url.Values{"model": {"mobilenet_v2"}, "pictures": {"heatmap,overlay"}, "size": {strconv.Itoa(side)}}
	first := decodeJSON[ExplainResponse](t, postExplain(h, data, q))
	if p := first.Predictions[0]; p.Label != "bull mastiff" || p.Class != 243 || first.Classes[0] != 243 {
		t.Fatalf("top-1 %+v, explained %v: want bull mastiff (243)", p, first.Classes)
	}
	var tabby = -1
	for _, p := range first.Predictions {
		if p.Label == "tabby" {
			tabby = p.Class
		}
	}
	if tabby != 281 {
		t.Fatalf("tabby (281) not in the top-5 %+v", first.Predictions)
	}
	q.Set("class", "tabby")
	cat := decodeJSON[ExplainResponse](t, postExplain(h, data, q))
	if ex := cat.Explanations[0]; ex.Class != 281 || ex.Label != "tabby" || cat.Predictions[0].Class != 243 {
		t.Fatalf("explained %d %q", ex.Class, ex.Label)
	}

	// The library's map for 281, coloured at the photo's size.
	m, _ := loadMobileNet(t)()
	in, err := m.Prepare(photo)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Explain(context.Background(), in.Tensor, cam.Options{Classes: []int{281}})
	if err != nil {
		t.Fatal(err)
	}
	pm, err := in.Geometry.ToPhoto(res.Images[0].Explanations[0].Map, res.Height, res.Width)
	if err != nil {
		t.Fatal(err)
	}
	b := photo.Bounds()
	want, err := imaging.Colorize(pm, b.Dy(), b.Dx(), imaging.Jet)
	if err != nil {
		t.Fatal(err)
	}
	got := decodePicture(t, cat.Explanations[0].Heatmap)
	var diff, n int
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			if !in.Geometry.Seen(x, y) {
				continue
			}
			n++
			g, w := got.PixOffset(x, y), want.PixOffset(x, y)
			for c := 0; c < 3; c++ {
				diff = max(diff, absInt(int(got.Pix[g+c])-int(want.Pix[w+c])))
			}
		}
	}
	if diff != 0 || n == 0 {
		t.Errorf("heatmap differs from the library's by up to %d over %d pixels", diff, n)
	}
	a, c := decodePicture(t, first.Explanations[0].Overlay), decodePicture(t, cat.Explanations[0].Overlay)
	var sum float64
	for i := range a.Pix {
		sum += math.Abs(float64(a.Pix[i]) - float64(c.Pix[i]))
	}
	if mean := sum / float64(len(a.Pix)); mean < 5 {
		t.Errorf("the dog's and the cat's overlays differ by %.2f on average: want clearly different maps", mean)
	}
}
