// Package demo is gradcam's self-contained demonstration: a synthetic data
// set of shapes on cluttered backgrounds (Generate), a small convolutional
// classifier trained on it by gradcam's own engine and embedded in the
// package (Model), and Run, which classifies and explains a few fresh
// pictures and writes figures: what `gradcam demo` does.
//
// The model is six 3x3 convolutions with ReLU (64x64 -> 32x32 -> 16x16), a
// global average pool and a dense layer. Its last feature map ("relu6",
// 16x16) is the automatic Grad-CAM target. It was trained by
// demo/internal/train (see there for the command, time and accuracy);
// regenerate it with
//
//	go generate ./demo
package demo

//go:generate go run ./internal/train -out model.onnx

import (
	_ "embed"
	"fmt"

	"github.com/gradcam/gradcam"
	"github.com/gradcam/gradcam/onnx"
)

//go:embed model.onnx
var modelONNX []byte

// TargetLayer is the tensor Grad-CAM explains by default on the embedded
// model: the last convolution's ReLU, 64 channels at 16x16.
const TargetLayer = "relu6"

// ModelFile returns the embedded model as an ONNX file's bytes. The slice
// is shared: do not modify it.
func ModelFile() []byte { return modelONNX }

// Model loads the embedded classifier. Its labels are Classes() and its
// preprocessing the "tf" preset (p/127.5 - 1) at Size x Size, NCHW, both
// read from the model's metadata. Each call returns a new model.
func Model() (*gradcam.Model, error) {
	g, err := onnx.Decode(modelONNX, "")
	if err != nil {
		return nil, fmt.Errorf("demo: embedded model: %w", err)
	}
	m, err := gradcam.FromGraph(g, gradcam.Options{})
	if err != nil {
		return nil, fmt.Errorf("demo: embedded model: %w", err)
	}
	m.Name = "demo-shapes (embedded)"
	return m, nil
}
