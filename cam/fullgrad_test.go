package cam

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/onnx"
	"github.com/gradcam/gradcam/tensor"
)

// benchModel loads one of the torchvision models exported into
// GRADCAM_MODELS_DIR by ../shared/tools/export_models.py, with the
// deterministic smooth input of gradcam bench, or skips.
func benchModel(b *testing.B, name string) (*Explainer, *tensor.Tensor) {
	b.Helper()
	d := os.Getenv("GRADCAM_MODELS_DIR")
	if d == "" {
		b.Skip("GRADCAM_MODELS_DIR is not set (see ../shared/tools/export_models.py)")
	}
	path := filepath.Join(d, name+".onnx")
	if _, err := os.Stat(path); err != nil {
		b.Skip(err)
	}
	g, err := onnx.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	m, err := engine.New(g)
	if err != nil {
		b.Fatal(err)
	}
	x := smoothInput(m.InputShape(1))
	return New(m), x
}

// smoothInput returns the deterministic input of gradcam bench (values
// of a standardised image's range varying smoothly over the picture), 224
// wide and high where shape leaves a size open.
func smoothInput(shape []int) *tensor.Tensor {
	shape = slices.Clone(shape)
	for i, d := range shape {
		if d < 0 {
			shape[i] = 224
		}
	}
	x := tensor.Zeros(shape...)
	for i := range x.F {
		x.F[i] = float32(2 * math.Sin(float64(i)*0.0123) * math.Cos(float64(i)*0.000717))
	}
	return x
}

func BenchmarkFullGradResNet50(b *testing.B) {
	ex, x := benchModel(b, "resnet50")
	ctx := context.Background()
	for b.Loop() {
		if _, err := ex.Explain(ctx, x, Options{Method: FullGrad}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBiasTerm compares FullGrad's one-pass bias term with its plain
// definition, channel by channel with minMax: the same bits are expected,
// planes that are constant, zero, negative zero or scaled by a negative
// or zero bias included.
func TestBiasTerm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	normal := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	negZero := float32(math.Copysign(0, -1))
	for _, tc := range []struct {
		name string
		bias []float32
		g    []float32 // len(bias) planes
	}{
		{"random", []float32{0.5, -1.25, 3, 1e-3}, normal(4 * 49)},
		{"one value", []float32{-2}, []float32{7}},
		{"constant plane", []float32{1, 2}, append(slices.Repeat([]float32{0.25}, 9), normal(9)...)},
		{"zero plane and zero bias", []float32{1, 0, 4}, append(append(make([]float32, 12), normal(12)...), normal(12)...)},
		{"negative zeros", []float32{1, -1}, []float32{negZero, 0, 1, negZero, negZero, 2, 0, negZero}},
		{"tiny range", []float32{1}, []float32{1, 1 + 1e-7, 1 - 1e-7, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			C := len(tc.bias)
			P := len(tc.g) / C
			want := make([]float64, P)
			for k, bk := range tc.bias {
				m := make([]float32, P)
				for p, v := range tc.g[k*P : (k+1)*P] {
					m[p] = float32(math.Abs(float64(bk * v)))
				}
				minMax(m, minMaxEps)
				for p, v := range m {
					want[p] += float64(v)
				}
			}
			got := make([]float64, P)
			biasTerm(got, make([]float32, P), tc.g, tc.bias)
			for p := range want {
				if math.Float64bits(got[p]) != math.Float64bits(want[p]) {
					t.Fatalf("position %d: %v, want %v (bits differ)", p, got[p], want[p])
				}
			}
		})
	}
}
