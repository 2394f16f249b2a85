// Package gradcam shows where a convolutional image classifier looks when
// it decides. It loads a model exported to ONNX, classifies photos and
// explains a class with a heatmap over the photo: Grad-CAM and the rest of
// the CAM family.
//
// This package ties the pieces together for the common case:
//
//	m, err := gradcam.Load("resnet50.onnx", gradcam.Options{})
//	img, _, err := imaging.DecodeFile("dog.jpg", nil)
//	in, err := m.Prepare(img)
//	res, err := m.Explain(ctx, in, cam.Options{Method: cam.GradCAM})
//	pic, err := m.Overlay(in, res.Images[0].Explanations[0].Map, imaging.OverlayOptions{})
//
// The pieces are usable alone: package onnx reads model files into a
// graph.Graph, engine runs it forward and backward, cam computes the
// explanations and imaging turns photos into tensors and maps into
// pictures.
package gradcam

import (
	"context"
	"fmt"
	"image"
	"math"
	"sort"
	"strings"

	"github.com/gradcam/gradcam/cam"
	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/imaging"
	"github.com/gradcam/gradcam/labels"
	"github.com/gradcam/gradcam/onnx"
	"github.com/gradcam/gradcam/tensor"
)

// Options controls Load.
type Options struct {
	// Labels is a file of class names, one per line. Empty means the
	// model's metadata ("labels" as a list, one per line), else the
	// built-in ImageNet names for 1000-class models.
	Labels string
	// Preprocess names a preprocessing preset (see imaging.Preset). Empty
	// means the one the model's metadata names, else a default for the
	// model's input layout.
	Preprocess string
}

// Model is a classifier ready to classify and explain images. It is safe
// for concurrent use.
type Model struct {
	// Name is the model's file name without directory.
	Name string
	// Engine runs the graph.
	Engine *engine.Model
	// Explainer computes explanations.
	Explainer *cam.Explainer
	// Labels names the classes (may be shorter than the number of classes).
	Labels labels.List
	// Preprocess turns photos into input tensors.
	Preprocess imaging.Preprocess
	// PreprocessName is the preset Preprocess came from.
	PreprocessName string
	// Classes is the number of classes the model scores.
	Classes int
}

// Load reads an ONNX classifier.
func Load(path string, o Options) (*Model, error) {
	g, err := onnx.Load(path)
	if err != nil {
		return nil, err
	}
	name := path
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	m, err := FromGraph(g, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Nothing else holds the graph read from the file: the engine may keep
	// the weights it packs in that form only.
	m.Engine.ReleaseWeights = true
	m.Name = name
	return m, nil
}

// FromGraph prepares a model graph. Options.Labels, when set, is read
// from the file system.
func FromGraph(g *graph.Graph, o Options) (*Model, error) {
	e, err := engine.New(g)
	if err != nil {
		return nil, err
	}
	in := e.Inputs()
	if len(in) != 1 {
		return nil, fmt.Errorf("a classifier has one input; this model has %d", len(in))
	}
	shape := e.InputShape(1)
	if len(shape) != 4 {
		return nil, fmt.Errorf("input %q has shape %v: an image classifier takes a rank-4 tensor (NCHW or NHWC)", in[0].Name, shape)
	}
	m := &Model{Name: g.Name, Engine: e, Explainer: cam.New(e)}
	if err := m.setPreprocess(g, shape, o.Preprocess); err != nil {
		return nil, err
	}
	shapes, err := e.Shapes(m.inputShape(1))
	if err != nil {
		return nil, err
	}
	out := shapes[e.OutputNames()[0]]
	if len(out) < 2 {
		return nil, fmt.Errorf("output %q has shape %v: a classifier gives [batch, classes]", e.OutputNames()[0], out)
	}
	m.Classes = out[len(out)-1]
	switch {
	case o.Labels != "":
		if m.Labels, err = labels.ReadFile(o.Labels); err != nil {
			return nil, err
		}
	case strings.Count(g.Metadata["labels"], "\n") >= 1:
		if m.Labels, err = labels.Read(strings.NewReader(g.Metadata["labels"])); err != nil {
			return nil, fmt.Errorf("metadata labels: %w", err)
		}
	default:
		m.Labels = labels.ForClasses(m.Classes)
	}
	if len(m.Labels) > 0 && len(m.Labels) != m.Classes {
		return nil, fmt.Errorf("%d labels for %d classes", len(m.Labels), m.Classes)
	}
	return m, nil
}

// setPreprocess picks the preprocessing recipe: the named preset, else the
// model's metadata, else a default for the input layout (torchvision for
// NCHW, keras-caffe for NHWC), sized to the model's input.
func (m *Model) setPreprocess(g *graph.Graph, shape []int, preset string) error {
	layout := imaging.NCHW
	h, w := shape[2], shape[3]
	if shape[3] == 3 && shape[1] != 3 {
		layout = imaging.NHWC
		h, w = shape[1], shape[2]
	}
	name := preset
	if name == "" {
		name = presetFromMetadata(g.Metadata)
	}
	if name == "" {
		name = "torchvision"
		if layout == imaging.NHWC {
			name = "keras-caffe"
		}
	}
	p, err := imaging.Preset(name)
	if err != nil {
		return err
	}
	if h <= 0 || w <= 0 {
		// Dynamic spatial size: keep the preset's.
		h, w = p.Height, p.Width
	}
	if p.Resize == imaging.ResizeShorter && p.ShorterSide > 0 && p.Width > 0 {
		// Keep the preset's ratio of resize to crop (256/224).
		p.ShorterSide = int(math.Round(float64(p.ShorterSide) * float64(min(h, w)) / float64(p.Width)))
	}
	p.Width, p.Height, p.Layout = w, h, layout
	m.Preprocess, m.PreprocessName = p, name
	return nil
}

// presetFromMetadata reads the preset a model's metadata_props name: a
// "gradcam_preprocess" key holding a preset name, or a "preprocessing" key
// holding a name or a description recognised by its numbers.
func presetFromMetadata(md map[string]string) string {
	if p := strings.TrimSpace(md["gradcam_preprocess"]); p != "" {
		return p
	}
	desc := strings.TrimSpace(md["preprocessing"])
	if desc == "" {
		return ""
	}
	if _, err := imaging.Preset(desc); err == nil {
		return desc
	}
	switch {
	case strings.Contains(desc, "87.5%") && strings.Contains(desc, "127.5"):
		return "mobilenet-slim"
	case strings.Contains(desc, "0.485") && strings.Contains(desc, "0.229"):
		return "torchvision"
	case strings.Contains(desc, "103.939"):
		return "keras-caffe"
	case strings.Contains(desc, "127.5"):
		return "tf"
	}
	return ""
}

func (m *Model) inputShape(batch int) []int {
	p := m.Preprocess
	if p.Layout == imaging.NHWC {
		return []int{batch, p.Height, p.Width, 3}
	}
	return []int{batch, 3, p.Height, p.Width}
}

// Input is a photo made ready for the model.
type Input struct {
	// Photo is the decoded, upright photo.
	Photo image.Image
	// Tensor is the model input, batch of one.
	Tensor *tensor.Tensor
	// Geometry maps the input back onto the photo.
	Geometry imaging.Geometry
}

// Prepare preprocesses a photo with the model's recipe.
func (m *Model) Prepare(photo image.Image) (*Input, error) {
	t, geo, err := m.Preprocess.Apply(photo)
	if err != nil {
		return nil, err
	}
	return &Input{Photo: photo, Tensor: t, Geometry: geo}, nil
}

// Prediction is one class with its score.
type Prediction struct {
	Class int     `json:"class"`
	Label string  `json:"label"`
	Logit float32 `json:"logit"`
	Prob  float32 `json:"probability"`
}

// Predict returns the k most probable classes of each image of the batch x.
func (m *Model) Predict(ctx context.Context, x *tensor.Tensor, k int) ([][]Prediction, error) {
	res, err := m.Engine.Run(ctx, x, engine.Pass{})
	if err != nil {
		return nil, err
	}
	logits := res.Values[m.Engine.OutputNames()[0]]
	n := logits.Shape[0]
	c := logits.Len() / n
	out := make([][]Prediction, n)
	for i := range n {
		out[i] = m.TopK(logits.F[i*c:(i+1)*c], k)
	}
	return out, nil
}

// TopK returns the k highest of one image's scores with softmax
// probabilities and labels.
func (m *Model) TopK(logits []float32, k int) []Prediction {
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	k = max(0, min(k, len(idx)))
	mx := float64(logits[idx[0]])
	sum := 0.0
	for _, v := range logits {
		sum += math.Exp(float64(v) - mx)
	}
	out := make([]Prediction, k)
	for i, c := range idx[:k] {
		out[i] = Prediction{Class: c, Label: m.Label(c), Logit: logits[c], Prob: float32(math.Exp(float64(logits[c])-mx) / sum)}
	}
	return out
}

// Label returns the short name of a class.
func (m *Model) Label(class int) string { return m.Labels.Short(class) }

// Explain computes explanations for the batch x; see cam.Explainer.
func (m *Model) Explain(ctx context.Context, x *tensor.Tensor, o cam.Options) (*cam.Result, error) {
	return m.Explainer.Explain(ctx, x, o)
}

// Overlay draws a map at input resolution over the input's photo at the
// photo's full resolution.
func (m *Model) Overlay(in *Input, heat []float32, o imaging.OverlayOptions) (*image.RGBA, error) {
	return imaging.Overlay(in.Photo, heat, in.Geometry.InputHeight, in.Geometry.InputWidth, &in.Geometry, o)
}
