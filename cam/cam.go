// Package cam computes class activation maps — heatmaps of where in an
// image a classifier finds evidence for a class — with the methods of the
// CAM family, on any model that package engine runs.
//
// The methods and their numbers follow pytorch-grad-cam 1.5.5 (the most
// used implementation) exactly, post-processing included:
//
//	cam                  Zhou et al. 2016, "Learning Deep Features for Discriminative Localization"
//	gradcam              Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization"
//	gradcam++            Chattopadhay et al. 2018, "Grad-CAM++: Generalized Gradient-based Visual Explanations"
//	xgradcam             Fu et al. 2020, "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of CNNs"
//	hirescam             Draelos & Carin 2020, "Use HiResCAM instead of Grad-CAM for faithful explanations"
//	gradcam-elementwise  pytorch-grad-cam's element-wise Grad-CAM: sum_k ReLU(G_k A_k)
//	layercam             Jiang et al. 2021, "LayerCAM: Exploring Hierarchical Class Activation Maps for Localization"
//	scorecam             Wang et al. 2020, "Score-CAM: Score-Weighted Visual Explanations for CNNs"
//	ablationcam          Desai & Ramaswamy 2020, "Ablation-CAM: Visual Explanations for Deep Convolutional Network via Gradient-free Localization"
//	eigencam             Muhammad & Yeasin 2020, "Eigen-CAM: Class Activation Map using Principal Components"
//	eigengradcam         Eigen-CAM of G*A (pytorch-grad-cam)
//	fullgrad             Srinivas & Fleuret 2019, "Full-Gradient Representation for Neural Network Visualization"
//	guided-backprop      Springenberg et al. 2015, "Striving for Simplicity: The All Convolutional Net"
//	guided-gradcam       guided backprop times the Grad-CAM map (Selvaraju et al. 2017)
//
// With A the target layer's activation (channels k, positions ij) and G
// the gradient of the explained score with respect to A, a method gives a
// raw map at the layer's resolution, which is post-processed as the
// reference does: ReLU, per-image min-max normalisation
// ((m - min) / (max - min + 1e-7)), bilinear resize to the input size with
// half-pixel centres (OpenCV's INTER_LINEAR), ReLU, the mean over the
// target layers, and min-max normalisation again.
//
// Models may be NCHW (PyTorch) or NHWC (Keras/TFLite through tf2onnx).
// The input's layout follows from its shape (a 1, 3 or 4 at axis 1 and
// not at axis 3 means NCHW, the reverse NHWC) or else from the ops that
// read it; its spatial size is the size of every map. A target layer's
// channel axis follows from the ops that read it (looking through
// elementwise ops): Conv, pooling, BatchNormalization and
// GlobalAveragePool mean NCHW, a Reduce* over axes [1,2] or a Transpose
// with perm [0,3,1,2] mean NHWC; else from the op that computes it by the
// same rules; else the input's layout.
//
// Where this package knowingly differs from the reference: with
// aug_smooth the classes are fixed from the unaugmented image (the
// reference re-picks the top class of every augmented copy unless given
// targets); Ablation-CAM on a layer whose minimum is not 0 writes
// min - 1e7 into every ablated channel (the reference lowers the value by
// 1e7 more for each channel of a batch); an Eigen-CAM sign is chosen by a
// documented rule (see EigenCAM) where the reference takes LAPACK's; and
// activation and gradient are both taken at the named tensor (the
// reference's in-place ReLU after DenseNet's norm5 pairs ReLU(norm5) with
// the gradient at norm5).
//
// Use New once per model and Explain per batch of images:
//
//	ex := cam.New(model)
//	res, err := ex.Explain(ctx, x, cam.Options{Method: cam.GradCAM, Classes: []int{243}})
//	heat := res.Images[0].Explanations[0].Map // H*W values in [0, 1]
package cam

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/tensor"
)

// Method names an explanation method, as the command line takes it.
type Method string

// The methods.
const (
	CAM                Method = "cam"
	GradCAM            Method = "gradcam"
	GradCAMPlusPlus    Method = "gradcam++"
	XGradCAM           Method = "xgradcam"
	HiResCAM           Method = "hirescam"
	GradCAMElementWise Method = "gradcam-elementwise"
	LayerCAM           Method = "layercam"
	ScoreCAM           Method = "scorecam"
	AblationCAM        Method = "ablationcam"
	// EigenCAM's map is the first principal component of the activation;
	// its sign makes the component's channel loadings sum to a
	// non-negative value (high where channels are more active than their
	// mean), see the reference tests for the comparison up to sign.
	EigenCAM       Method = "eigencam"
	EigenGradCAM   Method = "eigengradcam"
	FullGrad       Method = "fullgrad"
	GuidedBackprop Method = "guided-backprop"
	GuidedGradCAM  Method = "guided-gradcam"
)

var methods = []Method{CAM, GradCAM, GradCAMPlusPlus, XGradCAM, HiResCAM, GradCAMElementWise, LayerCAM,
	ScoreCAM, AblationCAM, EigenCAM, EigenGradCAM, FullGrad, GuidedBackprop, GuidedGradCAM}

// Methods lists every method in a stable order.
func Methods() []Method { return slices.Clone(methods) }

// ParseMethod returns the method named s (case-insensitive), or an error
// listing the valid names.
func ParseMethod(s string) (Method, error) {
	m := Method(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(methods, m) {
		return m, nil
	}
	names := make([]string, len(methods))
	for i, m := range methods {
		names[i] = string(m)
	}
	return "", fmt.Errorf("cam: unknown method %q; valid methods: %s", s, strings.Join(names, ", "))
}

// usesGradients reports whether the method reads G at the target layers.
func (m Method) usesGradients() bool {
	switch m {
	case GradCAM, GradCAMPlusPlus, XGradCAM, HiResCAM, GradCAMElementWise, LayerCAM, EigenGradCAM, GuidedGradCAM:
		return true
	}
	return false
}

// usesLayers reports whether the method works on target layers (FullGrad
// uses every biased layer, guided backprop none).
func (m Method) usesLayers() bool { return m != FullGrad && m != GuidedBackprop }

// Score says which number of the model output is explained.
type Score int

const (
	// Logit explains the raw output (pre-softmax) of the class, as
	// pytorch-grad-cam's ClassifierOutputTarget does. The default.
	Logit Score = iota
	// Probability explains the softmax probability of the class
	// (ClassifierOutputSoftmaxTarget).
	Probability
)

// String returns "logit" or "probability".
func (s Score) String() string {
	if s == Probability {
		return "probability"
	}
	return "logit"
}

// Options says what Explain computes.
type Options struct {
	// Method is the explanation method; empty means GradCAM.
	Method Method
	// Layers names the target layers (tensor or node names, see
	// engine.Model.ResolveLayer); several are fused by the mean of their
	// maps. Empty means the automatic target (engine.Model.AutoTarget).
	// FullGrad and guided backprop ignore it.
	Layers []string
	// Classes lists classes to explain, one map each. At most one of
	// Classes, TopK and Weights may be set; none means the top-1 class of
	// each image.
	Classes []int
	// TopK explains each image's k highest-scoring classes, one map each.
	TopK int
	// Weights explains a weighted sum of class scores in one map
	// (multi-label): class index → weight.
	Weights map[int]float32
	// Score is the explained number: the logit (default) or the softmax
	// probability. Method "cam" reads the dense weights of the classes
	// whatever Score says.
	Score Score
	// AugSmooth averages the final maps over the reference's test-time
	// augmentations: the input and its horizontal flip, each multiplied by
	// 0.9, 1 and 1.1 (6 runs), each map flipped back. As in the reference
	// the mean is not normalised again. The classes are fixed from the
	// unaugmented input. Not for guided-backprop.
	AugSmooth bool
	// EigenSmooth replaces the sum over channels of the weighted
	// activations by their first principal component (the reference's
	// eigen_smooth). Not for guided-backprop.
	EigenSmooth bool
	// BatchSize is the number of masked images Score-CAM runs at once;
	// 0 means 16, or the model's batch size when its input declares a
	// fixed one (exporters often fix it to 1). 16 is the reference's.
	// With many batches and several threads, two batches run at a time,
	// one thread each, which takes twice the memory of one.
	BatchSize int
}

// Target is what one map explains: the sum over Classes of Weights[i]
// times the score of class Classes[i].
type Target struct {
	Classes []int
	// Weights has one weight per class; nil means 1 each.
	Weights []float32
}

// String formats the target as "243" or "0.5*243+0.5*281".
func (t Target) String() string {
	if t.Weights == nil && len(t.Classes) == 1 {
		return fmt.Sprint(t.Classes[0])
	}
	parts := make([]string, len(t.Classes))
	for i, c := range t.Classes {
		parts[i] = fmt.Sprintf("%g*%d", t.weight(i), c)
	}
	return strings.Join(parts, "+")
}

func (t Target) weight(i int) float32 {
	if t.Weights == nil {
		return 1
	}
	return t.Weights[i]
}

// Result is what Explain computed for a batch of images.
type Result struct {
	Method Method
	// Layers are the resolved target tensors (nil for FullGrad and guided
	// backprop).
	Layers []string
	// Height and Width are the input's spatial size, the size of every
	// Map.
	Height, Width int
	// Images has one entry per image of the batch.
	Images []Image
}

// Image is the explanation of one image.
type Image struct {
	// Top5 lists the five highest-scoring classes (fewer if the model has
	// fewer).
	Top5 []Prediction
	// Explanations has one entry per explained target, in the order of
	// Options.Classes, of decreasing score for TopK, or one.
	Explanations []Explanation
}

// Prediction is one class of the model's output.
type Prediction struct {
	Class int
	Logit float32
	// Prob is the softmax probability over all classes.
	Prob float32
}

// Explanation is the map of one target on one image.
type Explanation struct {
	Target Target
	// Score is the explained score (logit or probability, as
	// Options.Score says) on the unaugmented image.
	Score float32
	// Map is the final heatmap, Height*Width values in [0, 1], row-major.
	// Nil for guided backprop.
	Map []float32
	// Guided is Height*Width*C (HWC, C the input's channels) for the
	// guided methods: the guided-backprop input gradient, or for
	// guided-gradcam its product with Map. Not normalised.
	Guided []float32
	// GuidedImage is Guided made into 8-bit pixels by Deprocess.
	GuidedImage []uint8
	// Layers has one entry per target layer (nil for FullGrad and guided
	// backprop), from the unaugmented image.
	Layers []LayerMap
}

// LayerMap is a method's output at one target layer, before the
// post-processing.
type LayerMap struct {
	Layer string
	// Height and Width are the layer's spatial size.
	Height, Width int
	// Raw is the map before ReLU, normalisation and resizing
	// (Height*Width).
	Raw []float32
	// Weights holds one weight per channel for the methods that weigh
	// channels (cam, gradcam, gradcam++, xgradcam, scorecam, ablationcam);
	// nil otherwise.
	Weights []float32
}

// Explainer computes explanations on one model. It holds no state that
// Explain changes, so one Explainer may serve many goroutines at once.
type Explainer struct {
	m      *engine.Model
	gi     *graphInfo
	input  string
	logits string // the pre-softmax output
}

// New returns an Explainer for m. The explained scores are read from the
// model's first output; when that output is computed by a Softmax node,
// the Softmax's input is taken as the logits.
func New(m *engine.Model) *Explainer {
	e := &Explainer{m: m, gi: newGraphInfo(m)}
	if in := m.Inputs(); len(in) > 0 {
		e.input = in[0].Name
	}
	if outs := m.OutputNames(); len(outs) > 0 {
		e.logits = outs[0]
		if n := e.gi.producers[e.logits]; n != nil && n.OpType == "Softmax" {
			e.logits = n.Input(0)
		}
	}
	return e
}

// Input describes the model's image input: its layout and its declared
// channels, height and width (0 where the model leaves a size open). Feed
// Explain tensors of that layout.
func (e *Explainer) Input() (l Layout, channels, height, width int) {
	in := e.m.Inputs()
	if len(in) == 0 || len(in[0].Shape) != 4 {
		return NCHW, 0, 0, 0
	}
	shape := make([]int, 4)
	for i, d := range in[0].Shape {
		shape[i] = int(max(d.Value, 0))
	}
	l = e.gi.inputLayout(e.input, shape)
	_, channels, height, width = l.dims(shape)
	return l, channels, height, width
}

// layerInfo is a resolved target layer.
type layerInfo struct {
	name       string
	layout     Layout
	c, h, w, p int
}

// job is one call of Explain, after validation.
type job struct {
	e       *Explainer
	opt     Options
	method  Method
	inLay   Layout
	n, cin  int // batch, input channels
	H, W    int
	classes int
	layers  []layerInfo
	heads   []*denseHead // for CAM, per layer
}

// Explain explains the batch x (rank 4, in the model's input layout; see
// Input) with the given options: one Image per image of the batch, each
// with one Explanation per target.
//
// It fails, with a message that says what to give instead, on an unknown
// method (listing the valid ones), an unknown layer (listing candidate
// layers), a class out of range (naming the number of classes), method
// "cam" on a head that is not global average pooling + one dense layer,
// and when ctx is done (Score-CAM and Ablation-CAM check it between their
// many forward passes).
func (e *Explainer) Explain(ctx context.Context, x *tensor.Tensor, opt Options) (*Result, error) {
	j, err := e.prepare(x, opt)
	if err != nil {
		return nil, err
	}
	o, err := j.run(ctx, x, nil)
	if err != nil {
		return nil, err
	}
	if opt.AugSmooth {
		if err := j.augSmooth(ctx, x, o); err != nil {
			return nil, err
		}
	}
	return o.res, nil
}

func (e *Explainer) prepare(x *tensor.Tensor, opt Options) (*job, error) {
	if e.input == "" || e.logits == "" {
		return nil, fmt.Errorf("cam: the model needs an input and an output")
	}
	if len(e.m.Inputs()) != 1 {
		return nil, fmt.Errorf("cam: the model has %d inputs; only single-input models are supported", len(e.m.Inputs()))
	}
	method := GradCAM
	if opt.Method != "" {
		var err error
		if method, err = ParseMethod(string(opt.Method)); err != nil {
			return nil, err
		}
	}
	if x == nil || x.DType != tensor.Float32 || len(x.Shape) != 4 {
		shape := "nil"
		if x != nil {
			shape = fmt.Sprintf("%s%v", x.DType, x.Shape)
		}
		return nil, fmt.Errorf("cam: the input must be a float32 batch of images of rank 4, got %s", shape)
	}
	if method == GuidedBackprop && (opt.AugSmooth || opt.EigenSmooth) {
		return nil, fmt.Errorf("cam: aug_smooth and eigen_smooth do not apply to guided-backprop")
	}
	if opt.BatchSize < 0 {
		return nil, fmt.Errorf("cam: negative batch size %d", opt.BatchSize)
	}
	j := &job{e: e, opt: opt, method: method}
	j.inLay = e.gi.inputLayout(e.input, x.Shape)
	j.n, j.cin, j.H, j.W = j.inLay.dims(x.Shape)
	shapes, err := e.m.Shapes(x.Shape)
	if err != nil {
		return nil, err
	}
	ls := shapes[e.logits]
	if len(ls) == 0 || ls[0] != j.n {
		return nil, fmt.Errorf("cam: the output %q has shape %v, not [batch, classes]", e.logits, ls)
	}
	j.classes = tensor.Size(ls) / j.n
	if err := j.checkTargets(); err != nil {
		return nil, err
	}
	if method.usesLayers() {
		names := opt.Layers
		if len(names) == 0 {
			names = []string{""}
		}
		for _, name := range names {
			t, err := e.m.ResolveLayer(name)
			if err != nil {
				return nil, err
			}
			s := shapes[t]
			if len(s) != 4 {
				return nil, fmt.Errorf("cam: target layer %q has shape %v; CAM methods need a rank-4 feature map", t, s)
			}
			lay := e.gi.tensorLayout(t, j.inLay)
			_, c, h, w := lay.dims(s)
			j.layers = append(j.layers, layerInfo{name: t, layout: lay, c: c, h: h, w: w, p: h * w})
		}
	}
	if method == CAM {
		for _, l := range j.layers {
			h, err := e.gi.findDenseHead(l.name, l.layout, l.c, e.logits)
			if err != nil {
				return nil, err
			}
			if h.classes != j.classes {
				return nil, fmt.Errorf("cam: the dense head after %q has %d classes, the output %d", l.name, h.classes, j.classes)
			}
			j.heads = append(j.heads, h)
		}
	}
	return j, nil
}

func (j *job) checkTargets() error {
	o := j.opt
	set := 0
	if len(o.Classes) > 0 {
		set++
	}
	if o.TopK != 0 {
		set++
	}
	if len(o.Weights) > 0 {
		set++
	}
	if set > 1 {
		return fmt.Errorf("cam: give at most one of classes, top-k and class weights")
	}
	check := func(c int) error {
		if c < 0 || c >= j.classes {
			return fmt.Errorf("cam: class %d is out of range: the model has %d classes (0..%d)", c, j.classes, j.classes-1)
		}
		return nil
	}
	for _, c := range o.Classes {
		if err := check(c); err != nil {
			return err
		}
	}
	for c := range o.Weights {
		if err := check(c); err != nil {
			return err
		}
	}
	if o.TopK < 0 || o.TopK > j.classes {
		return fmt.Errorf("cam: top-k %d is out of range: the model has %d classes", o.TopK, j.classes)
	}
	return nil
}

// targetsFor returns the targets of one image given its logits.
func (j *job) targetsFor(row []float32) []Target {
	o := j.opt
	switch {
	case len(o.Classes) > 0:
		ts := make([]Target, len(o.Classes))
		for i, c := range o.Classes {
			ts[i] = Target{Classes: []int{c}}
		}
		return ts
	case len(o.Weights) > 0:
		t := Target{}
		for c := range o.Weights {
			t.Classes = append(t.Classes, c)
		}
		sort.Ints(t.Classes)
		for _, c := range t.Classes {
			t.Weights = append(t.Weights, o.Weights[c])
		}
		return []Target{t}
	}
	k := max(o.TopK, 1)
	ts := make([]Target, k)
	for i, c := range topK(row, k) {
		ts[i] = Target{Classes: []int{c}}
	}
	return ts
}

// topK returns the indices of the k largest values, largest first (lower
// index first among equal values, NaN after every number). A few are
// picked in one pass, keeping the best so far in order; more are sorted.
func topK(v []float32, k int) []int {
	k = min(k, len(v))
	if k <= 0 {
		return nil
	}
	if k > 16 {
		idx := make([]int, len(v))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			switch {
			case ranksAbove(v[a], v[b]):
				return -1
			case ranksAbove(v[b], v[a]):
				return 1
			}
			return 0
		})
		return idx[:k]
	}
	idx := make([]int, 0, k)
	for i, x := range v {
		if len(idx) == k && !ranksAbove(x, v[idx[k-1]]) {
			continue
		}
		p := len(idx)
		if p < k {
			idx = append(idx, i)
		}
		for p > 0 && ranksAbove(x, v[idx[p-1]]) {
			p--
		}
		copy(idx[p+1:], idx[p:len(idx)-1])
		idx[p] = i
	}
	return idx
}

// ranksAbove reports whether a comes before b in topK's order: the larger
// first, a number before NaN.
func ranksAbove(a, b float32) bool {
	return a > b || (b != b && a == a)
}

// softmax returns the softmax of v in float64.
func softmax(v []float32) []float64 {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = math.Max(mx, float64(x))
	}
	out := make([]float64, len(v))
	var s float64
	for i, x := range v {
		out[i] = math.Exp(float64(x) - mx)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// score returns the target's score from one row of logits.
func (t Target) score(row []float32, kind Score) float64 {
	var p []float64
	if kind == Probability {
		p = softmax(row)
	}
	var s float64
	for i, c := range t.Classes {
		v := float64(row[c])
		if p != nil {
			v = p[c]
		}
		s += float64(t.weight(i)) * v
	}
	return s
}

// seed writes d score / d logits for one row into g.
func (t Target) seed(row, g []float32, kind Score) {
	if kind == Logit {
		for i, c := range t.Classes {
			g[c] += t.weight(i)
		}
		return
	}
	// d p_c / d z_j = p_c (δ_cj - p_j).
	p := softmax(row)
	acc := make([]float64, len(row))
	for i, c := range t.Classes {
		w := float64(t.weight(i)) * p[c]
		for jx := range acc {
			acc[jx] -= w * p[jx]
		}
		acc[c] += w
	}
	for jx, v := range acc {
		g[jx] += float32(v)
	}
}

// top5 lists the five best classes of a row of logits.
func top5(row []float32) []Prediction {
	p := softmax(row)
	idx := topK(row, 5)
	out := make([]Prediction, len(idx))
	for i, c := range idx {
		out[i] = Prediction{Class: c, Logit: row[c], Prob: float32(p[c])}
	}
	return out
}
