package onnx

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// The seed corpora are in testdata/fuzz/FuzzDecode and
// testdata/fuzz/FuzzDecodeTensor; `go test -run TestFuzzSeeds -update-seeds`
// rewrites the hand-built ones (crashers found by fuzzing are kept beside
// them under the names go test gave them).
var updateSeeds = flag.Bool("update-seeds", false, "rewrite the hand-built fuzz seed corpus")

// FuzzDecode decodes arbitrary bytes as a model: it must return a graph or
// an error, never panic, and a graph it returns must survive Write and
// Decode unchanged.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Decode(data, "")
		if err != nil {
			return
		}
		checkDecoded(t, g)
		var buf bytes.Buffer
		if err := Write(&buf, g); err != nil {
			return // e.g. no default opset, or a GRAPH attribute
		}
		g2, err := Decode(buf.Bytes(), "")
		if err != nil {
			t.Fatalf("decoding what Write wrote: %v", err)
		}
		var buf2 bytes.Buffer
		if err := Write(&buf2, g2); err != nil {
			t.Fatalf("rewriting: %v", err)
		}
		if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
			t.Fatal("Write(Decode(Write(g))) differs from Write(g)")
		}
	})
}

// FuzzDecodeTensor decodes arbitrary bytes as a TensorProto.
func FuzzDecodeTensor(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := DecodeTensor(data)
		if err != nil {
			return
		}
		checkTensor(t, "tensor", x)
	})
}

func checkTensor(t *testing.T, name string, x *tensor.Tensor) {
	t.Helper()
	n := 1
	for _, d := range x.Shape {
		if d < 0 {
			t.Fatalf("%s: negative dim in %v", name, x.Shape)
		}
		n *= d
	}
	switch x.DType {
	case tensor.Float32:
		if len(x.F) != n || x.I != nil {
			t.Fatalf("%s: float32 %v with %d values", name, x.Shape, len(x.F))
		}
	case tensor.Int64:
		if len(x.I) != n || x.F != nil {
			t.Fatalf("%s: int64 %v with %d values", name, x.Shape, len(x.I))
		}
	default:
		t.Fatalf("%s: dtype %v", name, x.DType)
	}
}

func checkDecoded(t *testing.T, g *graph.Graph) {
	t.Helper()
	for name, x := range g.Initializers {
		checkTensor(t, name, x)
	}
	for _, n := range g.Nodes {
		if n.OpType == "" {
			t.Fatal("node without op type")
		}
		for name, a := range n.Attrs {
			if a.Name != name {
				t.Fatalf("attribute %q named %q", name, a.Name)
			}
			if a.Type == graph.AttrTensor {
				checkTensor(t, name, a.T)
			}
		}
	}
}

// seedModels are the hand-built seeds of FuzzDecode.
func seedModels(t *testing.T) map[string][]byte {
	seeds := map[string][]byte{}
	var buf bytes.Buffer
	if err := Write(&buf, sampleGraph()); err != nil {
		t.Fatal(err)
	}
	seeds["sample"] = bytes.Clone(buf.Bytes())

	tiny := &graph.Graph{
		Nodes:   []*graph.Node{{OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"y"}}},
		Inputs:  []graph.ValueInfo{{Name: "x", ElemType: 1, Shape: []graph.Dim{{Value: 2}}}},
		Outputs: []graph.ValueInfo{{Name: "y", ElemType: 1, Shape: []graph.Dim{{Value: 2}}}},
		Opsets:  map[string]int64{"": 13},
	}
	buf.Reset()
	if err := Write(&buf, tiny); err != nil {
		t.Fatal(err)
	}
	seeds["tiny"] = bytes.Clone(buf.Bytes())

	conv := &graph.Graph{
		Name: "conv",
		Nodes: []*graph.Node{
			{Name: "c", OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}, Attrs: map[string]*graph.Attr{
				"pads":  {Name: "pads", Type: graph.AttrInts, Ints: []int64{1, 1, 1, 1}},
				"group": {Name: "group", Type: graph.AttrInt, I: 1},
			}},
			{OpType: "Clip", Inputs: []string{"y", "lo", "hi"}, Outputs: []string{"z"}},
			{OpType: "Gemm", Inputs: []string{"z", "w"}, Outputs: []string{"out"}, Attrs: map[string]*graph.Attr{
				"transB": {Name: "transB", Type: graph.AttrInt, I: 1},
				"alpha":  {Name: "alpha", Type: graph.AttrFloat, F: 1},
			}},
		},
		Initializers: map[string]*tensor.Tensor{
			"w":  ft([]int{2, 1, 1, 1}, 0.5, -1),
			"b":  ft([]int{2}, 0, 1),
			"lo": ft([]int{}, 0),
			"hi": ft([]int{}, 6),
		},
		Inputs:   []graph.ValueInfo{{Name: "x", ElemType: 1, Shape: []graph.Dim{{Param: "batch", Value: -1}, {Value: 1}, {Value: 2}, {Value: 2}}}},
		Outputs:  []graph.ValueInfo{{Name: "out", ElemType: 1}},
		Opsets:   map[string]int64{"": 13},
		Metadata: map[string]string{"gradcam_layer": "z"},
	}
	buf.Reset()
	if err := Write(&buf, conv); err != nil {
		t.Fatal(err)
	}
	seeds["conv"] = bytes.Clone(buf.Bytes())

	// Encodings Write does not produce: typed data fields, packed
	// attribute lists, old untyped attributes, external data.
	seeds["typed_fields"] = model(pb(nil).
		msg(1, node("Conv", "c", pb(nil).str(1, "pads").bytes(8, packed(0, 1)), pb(nil).str(1, "group").int(3, 2),
			pb(nil).str(1, "scales").bytes(7, le32(f32bits(1, 2)...)), pb(nil).str(1, "g").int(20, 5).msg(6, nil))).
		msg(5, tp("f", typeFloat, 2).bytes(4, le32(f32bits(1, 2)...))).
		msg(5, tp("h", typeFloat16, 1).int(5, 0x3c00)).
		msg(5, tp("d", typeDouble, 1).fixed64(10, 0)).
		msg(5, tp("u", typeUint64, 1).int(11, 1)).
		msg(5, tp("i", typeInt8, 2).bytes(9, []byte{1, 0xff})).
		msg(11, valueInfo("x", 1, 1, 2)))
	seeds["external"] = extModel(ext("w", typeFloat, []int64{2}, "location", "weights.bin", "offset", "0", "length", "8"))
	return seeds
}

func seedTensors() map[string][]byte {
	return map[string][]byte{
		"float_raw":   tp("x", typeFloat, 2, 2).bytes(9, le32(f32bits(1, -2, 3.5, 0)...)),
		"float_data":  tp("x", typeFloat, 2).bytes(4, le32(f32bits(1, 2)...)),
		"float16":     tp("h", typeFloat16, 2).bytes(9, le16(0x3c00, 0x7c00)),
		"bfloat16":    tp("b", typeBfloat16, 2).bytes(5, packed(0x3f80, 0xc000)),
		"double":      tp("d", typeDouble, 1).bytes(10, le64(0)),
		"int64":       tp("i", typeInt64, 3).bytes(7, packed(-1, 0, 5)),
		"int32_raw":   tp("i", typeInt32, 1).bytes(9, le32(7)),
		"int8":        tp("i", typeInt8, 2).bytes(5, packed(-3, 3)),
		"uint64":      tp("u", typeUint64, 1).bytes(11, packed(9)),
		"bool":        tp("b", typeBool, 2).bytes(9, []byte{0, 1}),
		"scalar":      tp("s", typeFloat).bytes(9, le32(0)),
		"string":      tp("s", typeString, 1).str(6, "a"),
		"external":    ext("e", typeFloat, []int64{1}, "location", "x.bin"),
		"packed_dims": pb(nil).bytes(1, packed(1, 2)).int(2, typeUint8).bytes(9, []byte{1, 2}),
	}
}

// TestFuzzSeeds runs the fuzz targets on the hand-built seeds and checks
// that the committed corpus holds them (rewriting it with -update-seeds).
func TestFuzzSeeds(t *testing.T) {
	for target, seeds := range map[string]map[string][]byte{"FuzzDecode": seedModels(t), "FuzzDecodeTensor": seedTensors()} {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, data := range seeds {
			path := filepath.Join(dir, "seed_"+name)
			file := []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data))
			if *updateSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, file, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, file) {
				t.Errorf("%s is missing or stale (go test -run TestFuzzSeeds -update-seeds): %v", path, err)
			}
		}
	}
	// The seeds that should decode do.
	for name, data := range seedModels(t) {
		g, err := Decode(data, "")
		if name == "external" {
			if err == nil {
				t.Errorf("seed %s decoded without its data file", name)
			}
			continue
		}
		if err != nil {
			t.Errorf("seed %s: %v", name, err)
			continue
		}
		checkDecoded(t, g)
	}
	g, err := Decode(seedModels(t)["conv"], "")
	if err != nil || !reflect.DeepEqual(g.Initializers["w"], ft([]int{2, 1, 1, 1}, 0.5, -1)) {
		t.Errorf("conv seed: %v %v", g, err)
	}
}
