package gradcam_test

import (
	"context"
	"testing"

	"github.com/gradcam/gradcam"
	"github.com/gradcam/gradcam/imaging"
	"github.com/gradcam/gradcam/internal/shared"
)

// TestPredictPhoto runs MobileNetV2 on the dog-and-cat photo end to end:
// decode, the preprocessing named in the model's metadata, forward, top-5.
func TestPredictPhoto(t *testing.T) {
	m, err := gradcam.Load(shared.Path(t, "models", "mobilenet_v2_1.0_224.onnx"), gradcam.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.PreprocessName != "mobilenet-slim" || m.Classes != 1000 {
		t.Errorf("preprocess %q, %d classes", m.PreprocessName, m.Classes)
	}
	img, _, err := imaging.DecodeFile(shared.Path(t, "images", "both.png"), nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := m.Prepare(img)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := m.Predict(context.Background(), in.Tensor, 5)
	if err != nil {
		t.Fatal(err)
	}
	top := preds[0]
	t.Logf("top-5: %+v", top)
	if top[0].Label != "bull mastiff" || top[0].Class != 243 {
		t.Errorf("top-1 %+v, want bull mastiff (243)", top[0])
	}
	sum := float32(0)
	for _, p := range top {
		sum += p.Prob
	}
	if sum <= 0.5 || sum > 1.0001 || top[0].Prob < top[1].Prob {
		t.Errorf("probabilities %+v", top)
	}
}
