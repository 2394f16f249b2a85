package engine_test

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/internal/shared"
	"github.com/gradcam/gradcam/onnx"
	"github.com/gradcam/gradcam/tensor"
)

func readF32(t testing.TB, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func loadModel(t testing.TB, path string) *engine.Model {
	t.Helper()
	g, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.New(g)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// TestMobileNetGolden checks the three real MobileNets against the logits
// stored in ../shared/models/golden for the dog-and-cat photo.
func TestMobileNetGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		top1 int // top-1 class stated in ../shared/models/golden/*.json
	}{
		{"mobilenet_v2_1.0_224", 224, 243},
		{"mobilenet_v1_1.0_224", 224, -1},
		{"mobilenet_v1_0.25_128", 128, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadModel(t, shared.Path(t, "models", tc.name+".onnx"))
			in := readF32(t, shared.Path(t, "models", "golden", tc.name+".both.input.f32"))
			want := readF32(t, shared.Path(t, "models", "golden", tc.name+".both.logits.f32"))
			x := tensor.FromFloat32([]int{1, 3, tc.size, tc.size}, in)
			res, err := m.Run(context.Background(), x, engine.Pass{})
			if err != nil {
				t.Fatal(err)
			}
			got := res.Values[m.OutputNames()[0]]
			d := tensor.MaxAbsDiff(got.F, want)
			t.Logf("max abs logit diff %.3g", d)
			if d > 1e-4 {
				t.Errorf("max abs logit diff %g > 1e-4", d)
			}
			if tc.top1 >= 0 && argmax(got.F) != tc.top1 {
				t.Errorf("top-1 class %d, want %d", argmax(got.F), tc.top1)
			}
		})
	}
}

// exportedDir returns where .ci/run exports the larger torchvision models
// with ../shared/tools/export_models.py.
func exportedDir(t testing.TB) string {
	d := os.Getenv("GRADCAM_MODELS_DIR")
	if d == "" {
		t.Skip("GRADCAM_MODELS_DIR is not set: export resnet50, vgg16 and densenet121 with ../shared/tools/export_models.py and point it there (.ci/run does)")
	}
	return d
}

// TestExportedModels loads resnet50, vgg16 and densenet121, runs them
// forward and backward, and checks that the automatic target layer holds the
// same activation as the target layer that the exporter hooked (its
// "_feat" model returns it as a second output).
func TestExportedModels(t *testing.T) {
	if testing.Short() {
		t.Skip("large models: skipped in -short mode")
	}
	dir := exportedDir(t)
	for _, name := range []string{"resnet50", "densenet121", "vgg16"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".onnx")
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("%s missing: %v", path, err)
			}
			m := loadModel(t, path)
			layer, err := m.AutoTarget()
			if err != nil {
				t.Fatal(err)
			}
			x := tensor.Zeros(1, 3, 224, 224)
			for i := range x.F {
				x.F[i] = float32(math.Sin(float64(i) * 0.001))
			}
			out := m.OutputNames()[0]
			res, err := m.Run(context.Background(), x, engine.Pass{
				Fetch: []string{out, layer},
				Backward: &engine.Backward{
					From: []string{out},
					Seed: func(v []*tensor.Tensor) ([]*tensor.Tensor, error) {
						s := tensor.Zeros(v[0].Shape...)
						s.F[argmax(v[0].F)] = 1
						return []*tensor.Tensor{s}, nil
					},
					To: []string{layer, m.Inputs()[0].Name},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			act := res.Values[layer]
			g := res.Grads[layer]
			t.Logf("auto layer %q %v; |grad|max %.3g", layer, act.Shape, maxAbs(g.F))
			if maxAbs(g.F) == 0 || maxAbs(res.Grads[m.Inputs()[0].Name].F) == 0 {
				t.Errorf("zero gradient")
			}
			feat := loadModel(t, filepath.Join(dir, name+"_feat.onnx"))
			fres, err := feat.Run(context.Background(), x, engine.Pass{Fetch: []string{"target_act"}})
			if err != nil {
				t.Fatal(err)
			}
			want := fres.Values["target_act"]
			if !tensor.EqualShape(act.Shape, want.Shape) {
				t.Fatalf("auto layer shape %v, target %v", act.Shape, want.Shape)
			}
			if d := tensor.MaxAbsDiff(act.F, want.F); d > 1e-4*(1+maxAbs(want.F)) {
				t.Errorf("auto layer activation differs from the hooked target by %g", d)
			}
		})
	}
}

func maxAbs(x []float32) float64 {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}
