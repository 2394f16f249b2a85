package onnx

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/shared"
	"github.com/gradcam/gradcam/tensor"
)

// The facts below were read from the files with python3-onnx 1.12.
type modelFacts struct {
	path        []string
	name        string
	producer    string
	nodes       int
	inits       int
	valueInfo   int
	ops         map[string]int
	input       []graph.Dim
	params      int
	gradcam     string // metadata_props gradcam_layer, "" when absent
	initShapes  map[string][]int
	initSums    map[string]float64
	firstNode   string
	firstAttrs  map[string][]int64
	lastNodeOps string
}

var sharedModels = []modelFacts{
	{
		path: []string{"models", "mobilenet_v1_0.25_128.onnx"}, name: "mobilenet_v1_0.25_128",
		producer: "steering/tools/weights/tflite_to_onnx.py", nodes: 57, inits: 58, valueInfo: 56,
		ops:    map[string]int{"Clip": 27, "Conv": 27, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1},
		input:  []graph.Dim{{Value: 1}, {Value: 3}, {Value: 128}, {Value: 128}},
		params: 467338, gradcam: "MobilenetV1/MobilenetV1/Conv2d_13_pointwise/Relu6",
		initShapes: map[string][]int{"classifier/weight": {1000, 256}, "classifier/bias": {1000},
			"MobilenetV1/MobilenetV1/Conv2d_0/Relu6/weight": {8, 3, 3, 3}, "const/relu6_max": {}},
		initSums: map[string]float64{"MobilenetV1/MobilenetV1/Conv2d_0/Relu6/weight": -1.8830708963796496,
			"classifier/weight": 1020.760237834882, "classifier/bias": 13.797519132727757, "const/relu6_max": 6},
		firstNode:   "MobilenetV1/MobilenetV1/Conv2d_0/Relu6/Conv",
		firstAttrs:  map[string][]int64{"dilations": {1, 1}, "strides": {2, 2}, "kernel_shape": {3, 3}},
		lastNodeOps: "Gemm",
	},
	{
		path: []string{"models", "mobilenet_v1_1.0_224.onnx"}, name: "mobilenet_v1_1.0_224",
		producer: "steering/tools/weights/tflite_to_onnx.py", nodes: 57, inits: 58, valueInfo: 56,
		ops:    map[string]int{"Clip": 27, "Conv": 27, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1},
		input:  []graph.Dim{{Value: 1}, {Value: 3}, {Value: 224}, {Value: 224}},
		params: 4221034, gradcam: "MobilenetV1/MobilenetV1/Conv2d_13_pointwise/Relu6",
		initShapes: map[string][]int{"classifier/weight": {1000, 1024},
			"MobilenetV1/MobilenetV1/Conv2d_0/Relu6/weight": {32, 3, 3, 3}},
		initSums: map[string]float64{"MobilenetV1/MobilenetV1/Conv2d_0/Relu6/weight": -1.113160815089941,
			"classifier/weight": 2188.359861176461, "classifier/bias": 7.54612853936851},
		firstNode:   "MobilenetV1/MobilenetV1/Conv2d_0/Relu6/Conv",
		lastNodeOps: "Gemm",
	},
	{
		path: []string{"models", "mobilenet_v2_1.0_224.onnx"}, name: "mobilenet_v2_1.0_224",
		producer: "steering/tools/weights/tflite_to_onnx.py", nodes: 100, inits: 108, valueInfo: 99,
		ops:    map[string]int{"Add": 10, "Clip": 35, "Conv": 52, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1},
		input:  []graph.Dim{{Value: 1}, {Value: 3}, {Value: 224}, {Value: 224}},
		params: 3487818, gradcam: "MobilenetV2/Conv_1/Relu6",
		initShapes: map[string][]int{"classifier/weight": {1000, 1280}, "MobilenetV2/Conv/Relu6/weight": {32, 3, 3, 3}},
		initSums: map[string]float64{"MobilenetV2/Conv/Relu6/weight": -16.50889778137207,
			"classifier/weight": 1196.4202979069669, "classifier/bias": 7.114398641861044},
		firstNode:   "MobilenetV2/Conv/Relu6/Conv",
		firstAttrs:  map[string][]int64{"pads": {0, 0, 1, 1}, "strides": {2, 2}},
		lastNodeOps: "Gemm",
	},
	{
		path: []string{"reference", "mobilenet_v2.onnx"}, name: "torch_jit", producer: "pytorch 1.13.0",
		nodes: 170, inits: 106,
		ops:    map[string]int{"Add": 10, "Clip": 35, "Constant": 70, "Conv": 52, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1},
		input:  []graph.Dim{{Value: -1, Param: "batch"}, {Value: 3}, {Value: 224}, {Value: 224}},
		params: 3487816,
		initShapes: map[string][]int{"classifier.1.weight": {1000, 1280}, "onnx::Conv_538": {32, 3, 3, 3},
			"onnx::Conv_691": {1280, 320, 1, 1}},
		initSums: map[string]float64{"classifier.1.weight": 1.045168899026689, "onnx::Conv_538": 5.1915420048026135,
			"onnx::Conv_691": 27.756630369977273, "onnx::Conv_692": -0.1263306273613125},
		firstNode:   "/features/features.0/features.0.0/Conv",
		firstAttrs:  map[string][]int64{"pads": {1, 1, 1, 1}, "strides": {2, 2}},
		lastNodeOps: "Gemm",
	},
	{
		path: []string{"reference", "resnet18.onnx"}, name: "torch_jit", producer: "pytorch 1.13.0",
		nodes: 49, inits: 42,
		ops:    map[string]int{"Add": 8, "Conv": 20, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1, "MaxPool": 1, "Relu": 17},
		input:  []graph.Dim{{Value: -1, Param: "batch"}, {Value: 3}, {Value: 224}, {Value: 224}},
		params: 11684712,
		initShapes: map[string][]int{"fc.weight": {1000, 512}, "onnx::Conv_193": {64, 3, 7, 7},
			"onnx::Conv_250": {512, 512, 3, 3}},
		initSums: map[string]float64{"fc.weight": -0.5275211166842304, "fc.bias": 1.237316088139778,
			"onnx::Conv_193": 3.8752177187689085, "onnx::Conv_250": 34.31521718364536, "onnx::Conv_251": -10.043400711379945},
		firstNode:   "/conv1/Conv",
		firstAttrs:  map[string][]int64{"pads": {3, 3, 3, 3}, "strides": {2, 2}, "kernel_shape": {7, 7}},
		lastNodeOps: "Gemm",
	},
}

func TestLoadSharedModels(t *testing.T) {
	for _, m := range sharedModels {
		t.Run(strings.Join(m.path, "/"), func(t *testing.T) {
			path := shared.Path(t, m.path...)
			g, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			checkModel(t, g, m)

			// The same bytes through Decode, and through Write and back.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			g2, err := Decode(data, "")
			if err != nil {
				t.Fatal(err)
			}
			if d := diffGraphs(g, g2); d != "" {
				t.Errorf("Decode and Load disagree: %s", d)
			}
			var buf bytes.Buffer
			if err := Write(&buf, g); err != nil {
				t.Fatal(err)
			}
			g3, err := Decode(buf.Bytes(), "")
			if err != nil {
				t.Fatal(err)
			}
			checkModel(t, g3, m)
			if d := diffGraphs(g, g3); d != "" {
				t.Errorf("the model written and read back differs: %s", d)
			}
		})
	}
}

// diffGraphs describes how two graphs differ, or returns "". Weights are
// compared bit for bit.
func diffGraphs(a, b *graph.Graph) string {
	if len(a.Initializers) != len(b.Initializers) {
		return fmt.Sprintf("%d and %d initializers", len(a.Initializers), len(b.Initializers))
	}
	for name, x := range a.Initializers {
		y := b.Initializers[name]
		if y == nil || x.DType != y.DType || !reflect.DeepEqual(x.Shape, y.Shape) ||
			!bytes.Equal(asBytes(x.F), asBytes(y.F)) || !bytes.Equal(asBytes(x.I), asBytes(y.I)) {
			return fmt.Sprintf("initializer %q: %v and %v", name, x, y)
		}
	}
	ac, bc := *a, *b
	ac.Initializers, bc.Initializers = nil, nil
	if !reflect.DeepEqual(&ac, &bc) {
		return "the graphs differ beyond their initializers"
	}
	return ""
}

func checkModel(t *testing.T, g *graph.Graph, m modelFacts) {
	t.Helper()
	if g.Name != m.name {
		t.Errorf("name %q, want %q", g.Name, m.name)
	}
	if g.Producer != m.producer {
		t.Errorf("producer %q, want %q", g.Producer, m.producer)
	}
	if g.Opset() != 13 || len(g.Opsets) != 1 {
		t.Errorf("opsets %v, want {\"\": 13}", g.Opsets)
	}
	if len(g.Nodes) != m.nodes || len(g.Initializers) != m.inits || len(g.ValueInfo) != m.valueInfo {
		t.Errorf("%d nodes, %d initializers, %d value infos; want %d, %d, %d",
			len(g.Nodes), len(g.Initializers), len(g.ValueInfo), m.nodes, m.inits, m.valueInfo)
	}
	ops := map[string]int{}
	for _, n := range g.Nodes {
		ops[n.OpType]++
	}
	if !reflect.DeepEqual(ops, m.ops) {
		t.Errorf("op types %v, want %v", ops, m.ops)
	}
	if len(g.Inputs) != 1 || g.Inputs[0].Name != "input" || g.Inputs[0].ElemType != 1 || !reflect.DeepEqual(g.Inputs[0].Shape, m.input) {
		t.Errorf("inputs %+v, want one float input %v", g.Inputs, m.input)
	}
	if len(g.Outputs) != 1 || g.Outputs[0].Name != "logits" || g.Outputs[0].ElemType != 1 ||
		len(g.Outputs[0].Shape) != 2 || g.Outputs[0].Shape[1] != (graph.Dim{Value: 1000}) {
		t.Errorf("outputs %+v, want logits [batch 1000]", g.Outputs)
	}
	if got := g.Metadata["gradcam_layer"]; got != m.gradcam {
		t.Errorf("metadata gradcam_layer %q, want %q", got, m.gradcam)
	}
	params := 0
	for name, w := range g.Initializers {
		if w.DType != tensor.Float32 || len(w.F) != w.Len() {
			t.Errorf("initializer %q: %s with %d values", name, w.DType, len(w.F))
		}
		params += w.Len()
	}
	if params != m.params {
		t.Errorf("%d parameters, want %d", params, m.params)
	}
	for name, shape := range m.initShapes {
		w := g.Initializers[name]
		if w == nil || !tensor.EqualShape(w.Shape, shape) {
			t.Errorf("initializer %q: %v, want shape %v", name, w, shape)
		}
	}
	for name, want := range m.initSums {
		w := g.Initializers[name]
		if w == nil {
			t.Errorf("no initializer %q", name)
			continue
		}
		sum := 0.0
		for _, v := range w.F {
			sum += float64(v)
		}
		if math.Abs(sum-want) > 1e-6*(1+math.Abs(want)) {
			t.Errorf("initializer %q sums to %v, want %v", name, sum, want)
		}
	}
	if n := g.Nodes[0]; n.Name != m.firstNode || n.OpType != "Conv" || n.Input(0) != "input" || len(n.Inputs) != 3 {
		t.Errorf("first node %s %v, want Conv %q on input", n, n.Inputs, m.firstNode)
	} else {
		for name, want := range m.firstAttrs {
			if a := n.Attr(name); a == nil || a.Type != graph.AttrInts || !reflect.DeepEqual(a.Ints, want) {
				t.Errorf("first node attribute %q = %+v, want ints %v", name, a, want)
			}
		}
		if a := n.Attr("group"); a == nil || a.Type != graph.AttrInt || a.I != 1 {
			t.Errorf("first node attribute group = %+v, want int 1", a)
		}
	}
	if n := g.Nodes[len(g.Nodes)-1]; n.OpType != m.lastNodeOps || n.AttrInt("transB", 0) != 1 {
		t.Errorf("last node %s, want %s with transB=1", n, m.lastNodeOps)
	}
	// Every Constant is a node with a tensor value (PyTorch's Clip bounds).
	for _, n := range g.Nodes {
		if n.OpType == "Constant" {
			a := n.Attr("value")
			if a == nil || a.Type != graph.AttrTensor || a.T == nil || a.T.DType != tensor.Float32 || a.T.Len() != 1 {
				t.Fatalf("%s: value %+v", n, a)
			}
		}
	}
	if err := g.TopoSort(); err != nil {
		t.Error(err)
	}
}

// BenchmarkLoadMobileNetV2 loads the 14 MB MobileNet V2.
func BenchmarkLoadMobileNetV2(b *testing.B) {
	path := shared.Path(b, "models", "mobilenet_v2_1.0_224.onnx")
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(path); err != nil {
			b.Fatal(err)
		}
	}
}
