package cam

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/gradcam/gradcam/internal/shared"
	"github.com/gradcam/gradcam/tensor"
)

// The pretrained MobileNets of shared/models have a GlobalAveragePool →
// Flatten → Gemm head, where Grad-CAM equals CAM (alpha_k = W[c,k]/(h*w)).

var denseHeadModels = []string{"mobilenet_v1_0.25_128", "mobilenet_v1_1.0_224", "mobilenet_v2_1.0_224"}

// golden is the part of models/golden/<model>.both.json we read.
type golden struct {
	InputShape    []int  `json:"input_shape"`
	FeatureTensor string `json:"feature_tensor"`
	Top5          []struct {
		Index int     `json:"index"`
		Logit float64 `json:"logit"`
	} `json:"top5"`
	CAM map[string]struct {
		Map [][]float64 `json:"map_normalized"`
	} `json:"cam"`
}

// loadGolden reads a model's golden input tensor and description.
func loadGolden(t *testing.T, name string) (*tensor.Tensor, *golden) {
	t.Helper()
	var g golden
	js, err := os.ReadFile(shared.Path(t, "models", "golden", name+".both.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &g); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(shared.Path(t, "models", "golden", name+".both.input.f32"))
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.Float32, g.InputShape...)
	if len(raw) != 4*x.Len() {
		t.Fatalf("%s: %d bytes for shape %v", name, len(raw), g.InputShape)
	}
	for i := range x.F {
		x.F[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return x, &g
}

func TestCAMEqualsGradCAMOnDenseHeads(t *testing.T) {
	for _, name := range denseHeadModels {
		t.Run(name, func(t *testing.T) {
			m := loadModel(t, shared.Path(t, "models", name+".onnx"))
			x, g := loadGolden(t, name)
			ex := New(m)
			classes := []int{g.Top5[0].Index}
			for c := range g.CAM {
				n, _ := strconv.Atoi(c)
				classes = append(classes, n)
			}
			want, err := m.ResolveLayer(g.FeatureTensor)
			if err != nil {
				t.Fatal(err)
			}
			opt := Options{Classes: classes}
			opt.Method = CAM
			camRes, err := ex.Explain(context.Background(), x, opt)
			if err != nil {
				t.Fatal(err)
			}
			if camRes.Layers[0] != want {
				t.Errorf("automatic target layer %q, golden %q", camRes.Layers[0], want)
			}
			opt.Method = GradCAM
			gradRes, err := ex.Explain(context.Background(), x, opt)
			if err != nil {
				t.Fatal(err)
			}
			if p := camRes.Images[0].Top5[0]; p.Class != g.Top5[0].Index || math.Abs(float64(p.Logit)-g.Top5[0].Logit) > 1e-3 {
				t.Errorf("top-1 %d (logit %g), golden %d (%g)", p.Class, p.Logit, g.Top5[0].Index, g.Top5[0].Logit)
			}
			for i, c := range classes {
				a, b := camRes.Images[0].Explanations[i], gradRes.Images[0].Explanations[i]
				d := tensor.MaxAbsDiff(a.Map, b.Map)
				t.Logf("class %d: |cam - gradcam| = %.3g", c, d)
				if d > 1e-5 {
					t.Errorf("class %d: cam and gradcam maps differ by %.3g", c, d)
				}
				// Grad-CAM's weights are the dense weights over h*w.
				l := a.Layers[0]
				hw := float32(l.Height * l.Width)
				var wd float64
				for k, w := range a.Layers[0].Weights {
					wd = math.Max(wd, math.Abs(float64(w/hw-b.Layers[0].Weights[k])))
				}
				if wd > 1e-6 {
					t.Errorf("class %d: gradcam weights differ from W[c,k]/(h*w) by %.3g", c, wd)
				}
				gm, ok := g.CAM[strconv.Itoa(c)]
				if !ok {
					continue
				}
				// The golden CAM is ReLU(raw) / max, rounded to 4 digits.
				raw := append([]float32(nil), l.Raw...)
				relu(raw)
				mx := float32(0)
				for _, v := range raw {
					mx = max(mx, v)
				}
				var gd float64
				for y, row := range gm.Map {
					for xx, v := range row {
						gd = math.Max(gd, math.Abs(float64(raw[y*l.Width+xx]/mx)-v))
					}
				}
				t.Logf("class %d: CAM vs golden normalised map: %.3g", c, gd)
				if gd > 2e-4 {
					t.Errorf("class %d: CAM differs from the golden map by %.3g", c, gd)
				}
			}
		})
	}
}

// box is a rectangle in input pixels, inclusive.
type box struct{ x0, y0, x1, y1 int }

func (b box) contains(x, y int) bool { return x >= b.x0 && x <= b.x1 && y >= b.y0 && y <= b.y1 }

// TestPhotoGradCAM explains the dog-and-cat photo with the pretrained
// MobileNetV2. The golden input is both.png (224x224) centrally cropped to
// 87.5% (196x196 from (14,14)) and resized to 224x224, so photo
// coordinates map to input coordinates by u = (p - 14) * 8/7. In the
// photo the bulldog's head and chest span x 75..165, y 10..115 and the
// tabby lies across x 40..205, y 140..220; in input coordinates:
var (
	dogBox = box{x0: 70, y0: 0, x1: 172, y1: 115}
	catBox = box{x0: 30, y0: 144, x1: 218, y1: 223}
)

func TestPhotoGradCAM(t *testing.T) {
	name := "mobilenet_v2_1.0_224"
	m := loadModel(t, shared.Path(t, "models", name+".onnx"))
	x, _ := loadGolden(t, name)
	res, err := New(m).Explain(context.Background(), x, Options{Method: GradCAM, Classes: []int{243, 281}})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		label string
		in    box
	}{{"bull mastiff", dogBox}, {"tabby", catBox}} {
		e := res.Images[0].Explanations[i]
		best := 0
		for p, v := range e.Map {
			if v > e.Map[best] {
				best = p
			}
		}
		px, py := best%res.Width, best/res.Width
		var in, out float64
		var nin, nout int
		for p, v := range e.Map {
			if tc.in.contains(p%res.Width, p/res.Width) {
				in += float64(v)
				nin++
			} else {
				out += float64(v)
				nout++
			}
		}
		in, out = in/float64(nin), out/float64(nout)
		t.Logf("%s (%v): peak at (%d, %d); mean %.3f inside %+v, %.3f outside", tc.label, e.Target, px, py, in, tc.in, out)
		if !tc.in.contains(px, py) {
			t.Errorf("%s: the peak (%d, %d) is outside %+v", tc.label, px, py, tc.in)
		}
		if in < 2*out {
			t.Errorf("%s: mean %.3f inside the box is not twice the %.3f outside", tc.label, in, out)
		}
	}
}

// TestScoreCAMFixedBatch runs Score-CAM with the default batch size on a
// model whose input fixes the batch to 1: the masked images must go one at
// a time instead of failing on a batch of 16.
func TestScoreCAMFixedBatch(t *testing.T) {
	const name = "mobilenet_v1_0.25_128"
	m := loadModel(t, shared.Path(t, "models", name+".onnx"))
	if d := m.Inputs()[0].Shape[0].Value; d != 1 {
		t.Fatalf("%s declares batch %d, want a fixed 1", name, d)
	}
	x, _ := loadGolden(t, name)
	res, err := New(m).Explain(context.Background(), x, Options{Method: ScoreCAM})
	if err != nil {
		t.Fatal(err)
	}
	mp := res.Images[0].Explanations[0].Map
	lo, hi := mp[0], mp[0]
	for _, v := range mp {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo != 0 || hi < 0.99 {
		t.Errorf("map range [%g, %g], want [0, 1]", lo, hi)
	}
}
