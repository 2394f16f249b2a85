package cam

import (
	"fmt"
	"slices"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// Layout names where the channels of a rank-4 tensor are.
type Layout int

// The two image layouts.
const (
	// NCHW is batch, channels, height, width (PyTorch, ONNX's own ops).
	NCHW Layout = iota
	// NHWC is batch, height, width, channels (Keras and TFLite models
	// converted with tf2onnx).
	NHWC
)

// String returns "NCHW" or "NHWC".
func (l Layout) String() string {
	if l == NHWC {
		return "NHWC"
	}
	return "NCHW"
}

// dims splits a rank-4 shape into batch, channels, height and width.
func (l Layout) dims(shape []int) (n, c, h, w int) {
	if l == NHWC {
		return shape[0], shape[3], shape[1], shape[2]
	}
	return shape[0], shape[1], shape[2], shape[3]
}

// graphInfo is what the explainer knows about the model's graph.
type graphInfo struct {
	g         *graph.Graph
	init      func(name string) *tensor.Tensor // the model's initializers (engine.Model.Constant)
	producers map[string]*graph.Node
	consumers map[string][]*graph.Node
}

func newGraphInfo(m *engine.Model) *graphInfo {
	g := m.Graph()
	return &graphInfo{g: g, init: m.Constant, producers: g.Producers(), consumers: g.Consumers()}
}

// constant returns the value of an initializer or of a Constant node's
// output, or nil.
func (gi *graphInfo) constant(name string) *tensor.Tensor {
	if t := gi.init(name); t != nil {
		return t
	}
	if n := gi.producers[name]; n != nil && n.OpType == "Constant" {
		return n.AttrTensor("value")
	}
	return nil
}

// passThrough reports op types that keep the layout of their (first)
// input: elementwise activations and arithmetic.
func passThrough(op string) bool {
	switch op {
	case "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu",
		"Identity", "Dropout", "Add", "Sub", "Mul", "Div", "Max", "Min", "Neg", "Abs", "PRelu":
		return true
	}
	return false
}

// nchwOps are ONNX ops whose image inputs and outputs are NCHW by
// definition.
func nchwOp(op string) bool {
	switch op {
	case "Conv", "ConvTranspose", "BatchNormalization", "MaxPool", "AveragePool", "GlobalAveragePool",
		"GlobalMaxPool", "InstanceNormalization", "LRN", "LpPool", "GlobalLpPool":
		return true
	}
	return false
}

// reduceAxes returns the axes a Reduce* node reduces (normalised for
// rank 4), from its attribute or constant second input.
func (gi *graphInfo) reduceAxes(n *graph.Node) []int {
	var raw []int64
	if a := n.Attr("axes"); a != nil {
		raw = a.Ints
	} else if t := gi.constant(n.Input(1)); t != nil {
		raw = t.Int64s()
	}
	out := make([]int, 0, len(raw))
	for _, a := range raw {
		if a < 0 {
			a += 4
		}
		out = append(out, int(a))
	}
	slices.Sort(out)
	return out
}

// layoutFromConsumer infers the layout of tensor t from a node reading
// it; ok is false when the node says nothing.
func (gi *graphInfo) layoutFromConsumer(n *graph.Node, t string) (Layout, bool) {
	switch {
	case nchwOp(n.OpType):
		return NCHW, n.Input(0) == t
	case n.OpType == "Transpose":
		p := n.AttrInts("perm", nil)
		if slices.Equal(p, []int64{0, 3, 1, 2}) {
			return NHWC, true // NHWC → NCHW
		}
		if slices.Equal(p, []int64{0, 2, 3, 1}) {
			return NCHW, true // NCHW → NHWC
		}
	case len(n.OpType) > 6 && n.OpType[:6] == "Reduce":
		ax := gi.reduceAxes(n)
		if slices.Equal(ax, []int{1, 2}) {
			return NHWC, true
		}
		if slices.Equal(ax, []int{2, 3}) {
			return NCHW, true
		}
	}
	return 0, false
}

// layoutFromProducer infers the layout of tensor t from the node that
// computes it.
func (gi *graphInfo) layoutFromProducer(n *graph.Node) (Layout, bool) {
	switch {
	case nchwOp(n.OpType):
		return NCHW, true
	case n.OpType == "Transpose":
		p := n.AttrInts("perm", nil)
		if slices.Equal(p, []int64{0, 2, 3, 1}) {
			return NHWC, true
		}
		if slices.Equal(p, []int64{0, 3, 1, 2}) {
			return NCHW, true
		}
	}
	return 0, false
}

// tensorLayout decides whether a rank-4 activation is NCHW or NHWC. The
// rule, first match wins:
//
//  1. the ops that read it, looking through elementwise ops (Relu, Clip,
//     Add, Mul, ...): an NCHW op (Conv, BatchNormalization, pooling,
//     GlobalAveragePool) means NCHW; a Reduce* over axes [2,3] means NCHW
//     and over [1,2] NHWC; a Transpose with perm [0,3,1,2] means NHWC
//     and [0,2,3,1] NCHW;
//  2. the op that computes it, looking back through elementwise ops, by
//     the same rules;
//  3. the layout of the model's input (fallback).
func (gi *graphInfo) tensorLayout(t string, input Layout) Layout {
	seen := map[string]bool{}
	queue := []string{t}
	for len(queue) > 0 && len(seen) < 64 {
		cur := queue[0]
		queue = queue[1:]
		if seen[cur] {
			continue
		}
		seen[cur] = true
		for _, n := range gi.consumers[cur] {
			if l, ok := gi.layoutFromConsumer(n, cur); ok {
				return l
			}
			if passThrough(n.OpType) && n.Outputs[0] != "" {
				queue = append(queue, n.Outputs[0])
			}
		}
	}
	cur := t
	for range 64 {
		n := gi.producers[cur]
		if n == nil {
			break
		}
		if l, ok := gi.layoutFromProducer(n); ok {
			return l
		}
		if !passThrough(n.OpType) {
			break
		}
		next := ""
		for _, in := range n.Inputs {
			if in != "" && gi.constant(in) == nil {
				next = in
				break
			}
		}
		if next == "" {
			break
		}
		cur = next
	}
	return input
}

// inputLayout decides the layout of the model input: a dimension of 1, 3
// or 4 at axis 1 and not at axis 3 means NCHW, the reverse NHWC;
// otherwise the ops that read the input decide (as for tensorLayout),
// and NCHW when nothing does.
func (gi *graphInfo) inputLayout(name string, shape []int) Layout {
	small := func(d int) bool { return d == 1 || d == 3 || d == 4 }
	if len(shape) == 4 {
		switch {
		case small(shape[1]) && !small(shape[3]):
			return NCHW
		case small(shape[3]) && !small(shape[1]):
			return NHWC
		}
	}
	return gi.tensorLayout(name, NCHW)
}

// denseHead is a classifier head of global average pooling followed by a
// dense layer, with the dense weights as W[class][channel].
type denseHead struct {
	classes, channels int
	w                 []float32
}

// row returns W[c, :].
func (h *denseHead) row(c int) []float32 { return h.w[c*h.channels : (c+1)*h.channels] }

// findDenseHead follows the graph from the target tensor: global average
// pooling (GlobalAveragePool, or ReduceMean over the spatial axes), then
// any Flatten / Reshape / Squeeze / Identity / Dropout, then Gemm or
// MatMul with a constant weight (plus an optional constant Add), which
// must compute the logits. Each tensor on the way must have that one
// reader (Shape and Size nodes, which read only its shape, aside). It
// returns the dense weights or an error that says what the head is
// instead.
func (gi *graphInfo) findDenseHead(layer string, layout Layout, channels int, logits string) (*denseHead, error) {
	notGAP := func(format string, args ...any) error {
		return fmt.Errorf("cam: method \"cam\" needs a head of global average pooling and one dense layer after the target layer %q, but %s (Grad-CAM works on any head)", layer, fmt.Sprintf(format, args...))
	}
	single := func(t string) (*graph.Node, error) {
		// Shape and Size read only the (planned, constant) shape:
		// exporters' flatten sub-graphs do that.
		var cs []*graph.Node
		for _, n := range gi.consumers[t] {
			if n.OpType != "Shape" && n.OpType != "Size" {
				cs = append(cs, n)
			}
		}
		if len(cs) != 1 {
			names := make([]string, len(cs))
			for i, n := range cs {
				names[i] = n.String()
			}
			if len(cs) == 0 {
				return nil, notGAP("%q is read by no node", t)
			}
			return nil, notGAP("%q is read by %d nodes (%v)", t, len(cs), names)
		}
		return cs[0], nil
	}
	n, err := single(layer)
	if err != nil {
		return nil, err
	}
	spatial := []int{2, 3}
	if layout == NHWC {
		spatial = []int{1, 2}
	}
	switch {
	case n.OpType == "GlobalAveragePool" && layout == NCHW:
	case n.OpType == "ReduceMean" && slices.Equal(gi.reduceAxes(n), spatial):
	default:
		return nil, notGAP("it is read by %s, not by a global average pooling", n)
	}
	t := n.Outputs[0]
	for {
		n, err = single(t)
		if err != nil {
			return nil, err
		}
		switch n.OpType {
		case "Flatten", "Reshape", "Squeeze", "Identity", "Dropout":
			t = n.Outputs[0]
			continue
		}
		break
	}
	h := &denseHead{channels: channels}
	switch n.OpType {
	case "Gemm":
		b := gi.constant(n.Input(1))
		if n.Input(0) != t || b == nil || len(b.Shape) != 2 || n.AttrInt("transA", 0) != 0 {
			return nil, notGAP("the pooled features feed %s, which is not a dense layer with constant weights", n)
		}
		alpha := n.AttrFloat("alpha", 1)
		if n.AttrInt("transB", 0) != 0 {
			h.classes = b.Shape[0]
			if b.Shape[1] != channels {
				return nil, notGAP("%s has %d inputs, the layer %d channels", n, b.Shape[1], channels)
			}
			h.w = make([]float32, len(b.F))
			for i, v := range b.Float32s() {
				h.w[i] = alpha * v
			}
		} else {
			if b.Shape[0] != channels {
				return nil, notGAP("%s has %d inputs, the layer %d channels", n, b.Shape[0], channels)
			}
			h.classes = b.Shape[1]
			h.w = transpose(b.Float32s(), b.Shape[0], b.Shape[1], alpha)
		}
	case "MatMul":
		b := gi.constant(n.Input(1))
		if n.Input(0) != t || b == nil || len(b.Shape) != 2 || b.Shape[0] != channels {
			return nil, notGAP("the pooled features feed %s, which is not a dense layer with constant [%d, classes] weights", n, channels)
		}
		h.classes = b.Shape[1]
		h.w = transpose(b.Float32s(), b.Shape[0], b.Shape[1], 1)
	default:
		return nil, notGAP("the pooled features feed %s, not a dense layer (Gemm or MatMul)", n)
	}
	t = n.Outputs[0]
	for t != logits {
		n, err = single(t)
		if err != nil {
			return nil, err
		}
		switch {
		case n.OpType == "Add" && (gi.constant(n.Input(0)) != nil || gi.constant(n.Input(1)) != nil):
		case n.OpType == "Identity" || n.OpType == "Dropout":
		default:
			return nil, notGAP("the dense layer is followed by %s before the logits %q", n, logits)
		}
		t = n.Outputs[0]
	}
	return h, nil
}

// transpose returns alpha * b^T for the r x c matrix b.
func transpose(b []float32, r, c int, alpha float32) []float32 {
	out := make([]float32, r*c)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[j*r+i] = alpha * b[i*c+j]
		}
	}
	return out
}
