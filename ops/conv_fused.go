package ops

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/gradcam/gradcam/gemm"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// BatchNormParams are the constant inputs of an inference-mode
// BatchNormalization with one parameter per channel:
// y = (x - Mean) / sqrt(Var + Epsilon) * Scale + Bias.
type BatchNormParams struct {
	Scale, Bias, Mean, Var []float32
	Epsilon                float32
}

// BatchNormNode returns the parameters of a BatchNormalization node given
// its inputs (X may be nil; the four parameters must be constant), or an
// error when the node cannot be folded into a convolution: training mode,
// extra outputs, or parameters that are not one per channel.
func BatchNormNode(n *graph.Node, in []*tensor.Tensor) (*BatchNormParams, error) {
	if n.OpType != "BatchNormalization" {
		return nil, fmt.Errorf("%s is not a BatchNormalization", n)
	}
	if n.AttrInt("training_mode", 0) != 0 {
		return nil, errors.New("BatchNormalization in training mode")
	}
	for i, o := range n.Outputs {
		if i > 0 && o != "" {
			return nil, errors.New("BatchNormalization with training outputs")
		}
	}
	if len(in) < 5 {
		return nil, errors.New("BatchNormalization needs five inputs")
	}
	p := &BatchNormParams{Epsilon: n.AttrFloat("epsilon", 1e-5)}
	dst := []*[]float32{&p.Scale, &p.Bias, &p.Mean, &p.Var}
	c := -1
	for i, t := range in[1:5] {
		if t == nil || t.DType != tensor.Float32 || len(t.Shape) != 1 {
			return nil, fmt.Errorf("BatchNormalization parameter %d is not a float vector", i+1)
		}
		if c >= 0 && t.Shape[0] != c {
			return nil, errors.New("BatchNormalization parameters of different lengths")
		}
		c = t.Shape[0]
		*dst[i] = t.F
	}
	return p, nil
}

// foldBatchNorm returns the weights and bias of a convolution with m
// output channels (w holds m rows) followed by bn: row k scaled by
// a_k = Scale_k / sqrt(Var_k + Epsilon), bias (b_k - Mean_k)*a_k + Bias_k,
// computed in float64. b may be nil (zero).
func foldBatchNorm(w, b []float32, m int, bn *BatchNormParams) (wf, bf []float32) {
	per := len(w) / m
	wf = make([]float32, len(w))
	bf = make([]float32, m)
	for k := range m {
		a := float64(bn.Scale[k]) / math.Sqrt(float64(bn.Var[k])+float64(bn.Epsilon))
		for i, v := range w[k*per : (k+1)*per] {
			wf[k*per+i] = float32(float64(v) * a)
		}
		var bk float64
		if b != nil {
			bk = float64(b[k])
		}
		bf[k] = float32((bk-float64(bn.Mean[k]))*a + float64(bn.Bias[k]))
	}
	return wf, bf
}

// FusedConvOptions says what a FusedConv computes besides the convolution.
type FusedConvOptions struct {
	// BatchNorm, when set, is an inference-mode BatchNormalization that
	// follows the convolution; it is folded into the weights and bias.
	BatchNorm *BatchNormParams
	// Clamp bounds every output to [Min, Max] (Relu is Min 0, Max +Inf;
	// ReLU6 is Clip 0, 6). A NaN stays NaN.
	Clamp    bool
	Min, Max float32
	// Pack packs the weights once for gemm.SgemmPackedA, at the first
	// run whose products have more than packMinCols columns (with fewer,
	// gemm reads the weights in place and packing would not pay). It
	// costs a copy of those weights in memory.
	Pack bool
	// Release, with Pack, lets the kernel drop its unpacked weights once
	// it has packed them, so that the model holds them once: every
	// product then reads the packed copy, whatever its width, and Weights
	// unpacks them again (bit for bit) for whoever needs them. It does
	// not apply to depthwise convolutions or to those the Winograd path
	// may take for single images (their transform reads the weights;
	// released weights that a batch takes there are unpacked again).
	Release bool
}

// FusedConv is a Conv node with constant weights prepared for repeated
// runs: a following BatchNormalization folded into its weights and bias,
// the bias, a residual addend and a clamp applied in the epilogue of the
// matrix product (or of the depthwise kernel) instead of in separate
// passes over the output, and optionally the weights packed once. It is
// safe for concurrent use.
type FusedConv struct {
	op      *convOp
	wShape  []int
	bias    []float32 // nil when the node has no bias and no BatchNorm
	clamp   bool
	lo, hi  float32
	pack    bool
	release bool // drop w once packed (FusedConvOptions.Release)
	shared  bool // w is the data of the weights tensor (no BatchNorm folded)

	wMu sync.Mutex
	w   []float32 // nil while released

	once   sync.Once
	packed []*gemm.PackedA // per group, when pack applies

	winoOnce  sync.Once
	wino      *winoWeights // for the Winograd path (see winoOK, winoS2OK), when pack applies
	wino4Once sync.Once
	wino4     *winoWeights // likewise with the larger tile (see winoTile)
}

// NewFusedConv prepares the Conv node n (of the given opset) with constant
// weights w and bias b (nil when the node has none).
func NewFusedConv(n *graph.Node, opset int64, w, b *tensor.Tensor, o FusedConvOptions) (*FusedConv, error) {
	op, err := newConv(n, opset)
	if err != nil {
		return nil, err
	}
	cv := op.(*convOp)
	if w == nil || w.DType != tensor.Float32 || len(w.Shape) < 3 {
		return nil, errors.New("FusedConv needs float weights of rank 3 or more")
	}
	if b != nil && (b.DType != tensor.Float32 || len(b.Shape) != 1 || b.Shape[0] != w.Shape[0]) {
		return nil, fmt.Errorf("FusedConv: bias of shape %v for %d output channels", b.Shape, w.Shape[0])
	}
	f := &FusedConv{op: cv, wShape: append([]int(nil), w.Shape...), w: w.F, clamp: o.Clamp, lo: o.Min, hi: o.Max, pack: o.Pack, shared: true}
	if b != nil {
		f.bias = b.F
	}
	f.release = o.Pack && o.Release && !f.winoCandidate() // depthwise ones never pack
	if bn := o.BatchNorm; bn != nil {
		m := w.Shape[0]
		if len(bn.Scale) != m || len(bn.Bias) != m || len(bn.Mean) != m || len(bn.Var) != m {
			return nil, fmt.Errorf("FusedConv: BatchNormalization has %d channels, the convolution %d", len(bn.Scale), m)
		}
		f.w, f.bias = foldBatchNorm(w.F, f.bias, m, bn)
		f.shared = false
	}
	return f, nil
}

// OutShape returns the output shape for an input of shape x.
func (f *FusedConv) OutShape(x []int) ([]int, error) {
	s, err := f.shape(x)
	if err != nil {
		return nil, err
	}
	return s.outShape(), nil
}

func (f *FusedConv) shape(x []int) (*convShape, error) {
	var bs []int
	if f.bias != nil {
		bs = []int{len(f.bias)}
	}
	return f.op.shape(x, f.wShape, bs)
}

// packMinCols is the most columns of a product for which gemm may read
// the weights in place rather than packing them on every call (gemm's
// directMaxN); it packs them anyway when their row stride would make the
// rows evict each other from the cache (gemm.ReadsAInPlace), so those are
// packed once too.
const packMinCols = 256

// packSmall is the most weights a group (floats) that are packed once
// whatever the product's width: the copy costs little memory, and the
// packed slivers let the last columns of a narrow product (a 7x7 plane's
// 49th) take gemm's narrow kernels. MobileNetV2's forward, two threads,
// medians of 400 runs in five alternating rounds: 3.98-4.25 -> 3.94-4.06
// ms with every convolution packed; ResNet50's did not change, and its
// deep layers' weights stay unpacked.
const packSmall = 1 << 19

// packWeights packs each group's weights once.
func (f *FusedConv) packWeights(s *convShape) []*gemm.PackedA {
	if !f.pack || s.depthwise() {
		return nil
	}
	f.once.Do(func() {
		mg, kr := s.mg(), s.kRows()
		f.wMu.Lock()
		defer f.wMu.Unlock()
		f.packed = make([]*gemm.PackedA, s.group)
		for g := range s.group {
			f.packed[g] = gemm.PackA(false, mg, kr, f.w[g*mg*kr:(g+1)*mg*kr], kr)
		}
		if f.release {
			f.w = nil
		}
	})
	return f.packed
}

// winoCandidate reports whether the Winograd path may take this
// convolution for some input (it then keeps its unpacked weights).
func (f *FusedConv) winoCandidate() bool {
	cv := f.op
	k := f.wShape
	if !winoEnabled || len(k) != 4 || k[2] != 3 || k[3] != 3 || k[1] < winoMinC || cv.group != 1 {
		return false
	}
	for _, v := range cv.attrs.strides {
		// Strides of 1, or of 2 on the stride-2 path, whose larger
		// weights only batches take (see winoS2MaxWeights): those
		// are packed and released as the direct path wants them for
		// single images, and unpacked again for the first batch.
		if v != cv.attrs.strides[0] || v > 2 || v == 2 && (!winoS2Enabled || k[0]*k[1] > winoS2MaxWeights) {
			return false
		}
	}
	for _, v := range cv.attrs.dilations {
		if v != 1 {
			return false
		}
	}
	return true
}

// Released reports whether f has dropped its unpacked weights (see
// FusedConvOptions.Release) and shares them with the weights tensor it
// was made from, whose data the caller may then release too and get
// back from Weights.
func (f *FusedConv) Released() bool {
	f.wMu.Lock()
	defer f.wMu.Unlock()
	return f.w == nil && f.shared
}

// Weights returns the (BatchNorm-folded) weights, unpacking them from the
// packed copy when they were released; f keeps them from then on.
func (f *FusedConv) Weights() []float32 {
	f.wMu.Lock()
	defer f.wMu.Unlock()
	if f.w == nil {
		n := 1
		for _, d := range f.wShape {
			n *= d
		}
		w := make([]float32, n)
		g := len(f.packed)
		per := n / g
		for i, pa := range f.packed {
			_, k := pa.Dims()
			pa.Unpack(w[i*per:(i+1)*per], k)
		}
		f.w = w
	}
	return f.w
}

// heldWeights returns the unpacked weights, nil while released.
func (f *FusedConv) heldWeights() []float32 {
	f.wMu.Lock()
	defer f.wMu.Unlock()
	return f.w
}

// Forward computes y = clamp(conv(x) + bias + residual) into y, which has
// the output's size; its prior contents are not read unless it is the
// residual itself. residual is nil or has the output's size and may be y
// (the sum is then taken in place); y must not overlap x otherwise.
func (f *FusedConv) Forward(ctx *Ctx, x *tensor.Tensor, residual, y []float32) error {
	if x == nil || x.DType != tensor.Float32 {
		return errors.New("FusedConv needs a float input")
	}
	s, err := f.shape(x.Shape)
	if err != nil {
		return err
	}
	n := tensor.Size(s.outShape())
	if len(y) != n || (residual != nil && len(residual) != n) {
		return fmt.Errorf("FusedConv: output of %d elements, buffers of %d and %d", n, len(y), len(residual))
	}
	if len(x.F) != tensor.Size(x.Shape) {
		return fmt.Errorf("FusedConv: input of shape %v has %d elements", x.Shape, len(x.F))
	}
	ep := convEpilogue{bias: f.bias, residual: residual, clamp: f.clamp, lo: f.lo, hi: f.hi}
	if f.pack && (ctx == nil || !ctx.Precise) {
		// Winograd F(2x2, 3x3) or F(4x4, 3x3), or its stride-2 form,
		// with its own transformed weights instead of the packed ones.
		if winoOK(s) {
			convWinoForward(ctx, s, x.F, y, &ep, f.winoWeightsOf(ctx, s, winoTile(ctx, s)))
			return nil
		}
		if winoS2OK(s) {
			convWinoForward(ctx, s, x.F, y, &ep, f.winoWeightsOf(ctx, s, 2))
			return nil
		}
	}
	if p := s.g.outSize(); f.release || p > packMinCols || s.n > 1 && s.n*p > packMinCols || s.mg()*s.kRows() <= packSmall || !gemm.ReadsAInPlace(p, s.kRows(), s.kRows()) {
		ep.packed = f.packWeights(s)
	}
	// Released weights are packed, and every product then reads them so.
	convForward(ctx, s, x.F, f.heldWeights(), y, &ep)
	return nil
}
