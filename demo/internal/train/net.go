package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gradcam/gradcam/demo"
	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/imaging"
	"github.com/gradcam/gradcam/tensor"
)

// bnEps is batch normalisation's ε.
const bnEps = 1e-5

// net holds the trainable parameters and the running statistics of the
// batch normalisation.
//
// Training uses batch normalisation (Ioffe & Szegedy 2015, "Batch
// Normalization: Accelerating Deep Network Training by Reducing Internal
// Covariate Shift") after every convolution, written with elementary ONNX
// operators so that the engine differentiates through the batch
// statistics: y = (x - mean) / sqrt(var + ε) * γ + β, mean and var over the
// batch and positions of each channel. Without it this GAP network does
// not learn the task: the background, most of every image, dominates the
// pooled features, and the logits collapse to a constant. The exported
// model has no normalisation layers: each is folded into its convolution
// with population statistics (exportGraph).
type net struct {
	params map[string]*tensor.Tensor
	order  []string    // parameter names in graph order
	mean   [][]float32 // per convolution, running per-channel mean
	vr     [][]float32 // per convolution, running per-channel variance
}

func convName(k int, what string) string { return fmt.Sprintf("conv%d.%s", k+1, what) }
func bnName(k int, what string) string   { return fmt.Sprintf("bn%d.%s", k+1, what) }

// newNet draws He-normal convolution weights (He et al. 2015, "Delving
// Deep into Rectifiers"), γ = 1, β = 0 and a small dense layer.
func newNet(r *rand.Rand) *net {
	n := &net{params: map[string]*tensor.Tensor{}}
	add := func(name string, t *tensor.Tensor) {
		n.params[name] = t
		n.order = append(n.order, name)
	}
	normal := func(std float64, shape ...int) *tensor.Tensor {
		t := tensor.New(tensor.Float32, shape...)
		for i := range t.F {
			t.F[i] = float32(r.NormFloat64() * std)
		}
		return t
	}
	cin := 3
	for k, c := range convs {
		add(convName(k, "weight"), normal(math.Sqrt(2/float64(cin*9)), c.out, cin, 3, 3))
		gamma := tensor.New(tensor.Float32, 1, c.out, 1, 1)
		for i := range gamma.F {
			gamma.F[i] = 1
		}
		add(bnName(k, "scale"), gamma)
		add(bnName(k, "bias"), tensor.New(tensor.Float32, 1, c.out, 1, 1))
		n.mean = append(n.mean, make([]float32, c.out))
		v := make([]float32, c.out)
		for i := range v {
			v[i] = 1
		}
		n.vr = append(n.vr, v)
		cin = c.out
	}
	nc := len(demo.Classes())
	add("fc.weight", normal(math.Sqrt(1/float64(cin)), nc, cin))
	add("fc.bias", tensor.New(tensor.Float32, nc))
	return n
}

// baseGraph returns a graph with the input, output and metadata.
func baseGraph() *graph.Graph {
	return &graph.Graph{
		Name:         "gradcam-demo-shapes",
		Initializers: map[string]*tensor.Tensor{},
		Inputs: []graph.ValueInfo{{Name: "input", ElemType: 1,
			Shape: []graph.Dim{{Value: -1, Param: "batch"}, {Value: 3}, {Value: demo.Size}, {Value: demo.Size}}}},
		Outputs: []graph.ValueInfo{{Name: "logits", ElemType: 1,
			Shape: []graph.Dim{{Value: -1, Param: "batch"}, {Value: int64(len(demo.Classes()))}}}},
		Opsets:   map[string]int64{"": 13},
		Producer: "gradcam demo/internal/train",
		Metadata: map[string]string{
			"labels":             strings.Join(demo.Classes(), "\n") + "\n",
			"gradcam_preprocess": "tf",
			"gradcam_layer":      targetLayer,
		},
	}
}

func ints(v ...int64) *graph.Attr { return &graph.Attr{Type: graph.AttrInts, Ints: v} }

func node(op string, in []string, out string, attrs map[string]*graph.Attr) *graph.Node {
	return &graph.Node{Name: out, OpType: op, Inputs: in, Outputs: []string{out}, Attrs: attrs}
}

func convAttrs(stride int) map[string]*graph.Attr {
	s := int64(stride)
	return map[string]*graph.Attr{"kernel_shape": ints(3, 3), "pads": ints(1, 1, 1, 1), "strides": ints(s, s)}
}

// head appends the global pool, flatten and dense layer after prev.
func (n *net) head(g *graph.Graph, prev string) {
	g.Initializers["fc.weight"] = n.params["fc.weight"]
	g.Initializers["fc.bias"] = n.params["fc.bias"]
	g.Nodes = append(g.Nodes,
		node("GlobalAveragePool", []string{prev}, "pool", nil),
		node("Flatten", []string{"pool"}, "flatten", map[string]*graph.Attr{"axis": {Type: graph.AttrInt, I: 1}}),
		node("Gemm", []string{"flatten", "fc.weight", "fc.bias"}, "logits", map[string]*graph.Attr{"transB": {Type: graph.AttrInt, I: 1}}))
}

// trainGraph is the network with batch normalisation from the statistics
// of batches of the given size. Its initializers are the parameters
// themselves, so the optimiser's updates reach the next model built from
// it. It fetches as bnK.mean and bnK.var the statistics of each batch.
//
// The normalisation is written to touch the large activation tensors
// as few times as possible: with per-channel mean m = E[x] and variance
// v = E[x²] - m² (clamped at 0), scale s = γ/sqrt(v+ε) and shift
// t = β - m s, y = x s + t. The engine differentiates through m and v.
func (n *net) trainGraph(batch int) *graph.Graph {
	g := baseGraph()
	g.Initializers["bn.eps"] = tensor.FromFloat32([]int{1}, []float32{bnEps})
	axes := map[string]*graph.Attr{"axes": ints(0, 2, 3), "keepdims": {Type: graph.AttrInt, I: 1}}
	prev, side := "input", demo.Size
	for k, c := range convs {
		side = (side-1)/c.stride + 1
		w := convName(k, "weight")
		g.Initializers[w] = n.params[w]
		gamma, beta := bnName(k, "scale"), bnName(k, "bias")
		g.Initializers[gamma], g.Initializers[beta] = n.params[gamma], n.params[beta]
		count := bnName(k, "count")
		g.Initializers[count] = tensor.FromFloat32([]int{1}, []float32{float32(batch * side * side)})
		conv := fmt.Sprintf("conv%d", k+1)
		b := func(s string) string { return bnName(k, s) }
		g.Nodes = append(g.Nodes,
			node("Conv", []string{prev, w}, conv, convAttrs(c.stride)),
			node("ReduceMean", []string{conv}, b("mean"), axes),
			node("ReduceSumSquare", []string{conv}, b("sumsq"), axes),
			node("Div", []string{b("sumsq"), count}, b("meansq"), nil),
			node("Mul", []string{b("mean"), b("mean")}, b("mean2"), nil),
			node("Sub", []string{b("meansq"), b("mean2")}, b("var0"), nil),
			node("Relu", []string{b("var0")}, b("var"), nil),
			node("Add", []string{b("var"), "bn.eps"}, b("vareps"), nil),
			node("Sqrt", []string{b("vareps")}, b("std"), nil),
			node("Div", []string{gamma, b("std")}, b("s"), nil),
			node("Mul", []string{b("mean"), b("s")}, b("ms"), nil),
			node("Sub", []string{beta, b("ms")}, b("t"), nil),
			node("Mul", []string{conv, b("s")}, b("xs"), nil),
			node("Add", []string{b("xs"), b("t")}, b("out"), nil),
			node("Relu", []string{b("out")}, fmt.Sprintf("relu%d", k+1), nil))
		prev = fmt.Sprintf("relu%d", k+1)
	}
	n.head(g, prev)
	return g
}

// exportGraph is the network for inference: each batch normalisation
// folded into its convolution with the running statistics,
// W' = W γ/sqrt(var+ε) per output channel and b' = β - mean γ/sqrt(var+ε),
// so that conv(x, W') + b' equals the normalised convolution.
func (n *net) exportGraph() *graph.Graph {
	g := baseGraph()
	prev := "input"
	for k, c := range convs {
		w := n.params[convName(k, "weight")]
		gamma, beta := n.params[bnName(k, "scale")].F, n.params[bnName(k, "bias")].F
		fw := w.Clone()
		fb := tensor.New(tensor.Float32, c.out)
		per := len(w.F) / c.out
		for o := range c.out {
			s := float64(gamma[o]) / math.Sqrt(float64(n.vr[k][o])+bnEps)
			for i := o * per; i < (o+1)*per; i++ {
				fw.F[i] = float32(float64(w.F[i]) * s)
			}
			fb.F[o] = float32(float64(beta[o]) - float64(n.mean[k][o])*s)
		}
		wn, bn := convName(k, "weight"), convName(k, "bias")
		g.Initializers[wn], g.Initializers[bn] = fw, fb
		conv, relu := fmt.Sprintf("conv%d", k+1), fmt.Sprintf("relu%d", k+1)
		g.Nodes = append(g.Nodes,
			node("Conv", []string{prev, wn, bn}, conv, convAttrs(c.stride)),
			node("Relu", []string{conv}, relu, nil))
		prev = relu
	}
	n.head(g, prev)
	return g
}

// trackStats folds a batch's statistics into the running ones with the
// given momentum.
func (n *net) trackStats(v map[string]*tensor.Tensor, momentum float32) {
	for k := range convs {
		bm, bv := v[bnName(k, "mean")].F, v[bnName(k, "var")].F
		for c := range n.mean[k] {
			n.mean[k][c] += momentum * (bm[c] - n.mean[k][c])
			n.vr[k][c] += momentum * (bv[c] - n.vr[k][c])
		}
	}
}

// preciseStats replaces the running statistics by population statistics
// estimated on batches fresh full-clutter images (a precise-BN pass, as in
// Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm"): the mean of the
// batch means, and the mean of the batch second moments minus its square.
func (n *net) preciseStats(pre imaging.Preprocess, batches, size int) error {
	m, err := engine.New(n.trainGraph(size))
	if err != nil {
		return err
	}
	var fetch []string
	for k := range convs {
		fetch = append(fetch, bnName(k, "mean"), bnName(k, "var"))
	}
	sum := make([][]float64, len(convs))
	sum2 := make([][]float64, len(convs))
	for k, c := range convs {
		sum[k], sum2[k] = make([]float64, c.out), make([]float64, c.out)
	}
	for b := range batches {
		x := batchOf(pre, demo.Generate(statsSeedBase+uint64(b), size))
		res, err := m.Run(context.Background(), x, engine.Pass{Fetch: fetch})
		if err != nil {
			return err
		}
		for k := range convs {
			bm, bv := res.Values[bnName(k, "mean")].F, res.Values[bnName(k, "var")].F
			for c := range bm {
				sum[k][c] += float64(bm[c])
				sum2[k][c] += float64(bv[c]) + float64(bm[c])*float64(bm[c])
			}
		}
	}
	for k := range convs {
		for c := range n.mean[k] {
			mu := sum[k][c] / float64(batches)
			n.mean[k][c] = float32(mu)
			n.vr[k][c] = float32(max(sum2[k][c]/float64(batches)-mu*mu, 0))
		}
	}
	return nil
}
