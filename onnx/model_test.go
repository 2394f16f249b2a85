package onnx

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// sampleGraph is a small model using every attribute kind Write supports,
// both tensor types, scalars and empty tensors, symbolic dimensions,
// several opsets and metadata.
func sampleGraph() *graph.Graph {
	return &graph.Graph{
		Name: "sample",
		Nodes: []*graph.Node{
			{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w", ""}, Outputs: []string{"c"}, Attrs: map[string]*graph.Attr{
				"pads":      {Name: "pads", Type: graph.AttrInts, Ints: []int64{0, 0, 1, -1}},
				"group":     {Name: "group", Type: graph.AttrInt, I: -7},
				"auto_pad":  {Name: "auto_pad", Type: graph.AttrString, S: "NOTSET"},
				"alpha":     {Name: "alpha", Type: graph.AttrFloat, F: 0.25},
				"scales":    {Name: "scales", Type: graph.AttrFloats, Floats: []float32{1, float32(math.Inf(-1)), 1e-30}},
				"names":     {Name: "names", Type: graph.AttrStrings, Strings: []string{"a", "", "ünï"}},
				"no_ints":   {Name: "no_ints", Type: graph.AttrInts, Ints: nil},
				"no_floats": {Name: "no_floats", Type: graph.AttrFloats},
			}},
			{OpType: "Constant", Outputs: []string{"k"}, Attrs: map[string]*graph.Attr{
				"value": {Name: "value", Type: graph.AttrTensor, T: it([]int{2}, 3, -4)},
			}},
			{OpType: "Constant", Outputs: []string{"s"}, Attrs: map[string]*graph.Attr{
				"value": {Name: "value", Type: graph.AttrTensor, T: ft([]int{}, 2.5)},
			}},
			{Name: "custom", OpType: "Thing", Domain: "com.example", Inputs: []string{"c", "k", "s"}, Outputs: []string{"y", ""}},
		},
		Initializers: map[string]*tensor.Tensor{
			"w":     ft([]int{2, 1, 1, 2}, 1, -2, 3.5, float32(math.NaN())),
			"shape": it([]int{3}, 1, -1, math.MinInt64),
			"empty": {DType: tensor.Float32, Shape: []int{0, 4}, F: []float32{}},
			"one":   ft([]int{}, 1),
		},
		Inputs: []graph.ValueInfo{
			{Name: "x", ElemType: 1, Shape: []graph.Dim{{Value: -1, Param: "batch"}, {Value: 1}, {Value: -1}, {Value: 0}}},
			{Name: "unknown_rank", ElemType: 7},
			{Name: "scalar", ElemType: 1, Shape: []graph.Dim{}},
		},
		Outputs: []graph.ValueInfo{{Name: "y", ElemType: 1, Shape: []graph.Dim{{Value: -1, Param: "batch"}, {Value: 5}}}},
		ValueInfo: map[string]graph.ValueInfo{
			"c": {Name: "c", ElemType: 1, Shape: []graph.Dim{{Value: 1}, {Value: 2}}},
			"k": {Name: "k", ElemType: 7, Shape: []graph.Dim{{Value: 2}}},
		},
		Opsets:   map[string]int64{"": 13, "com.example": 1},
		Metadata: map[string]string{"gradcam_layer": "c", "empty": ""},
		Producer: "gradcam test 0.1",
		Doc:      "a sample\nmodel",
	}
}

func TestWriteRoundTrip(t *testing.T) {
	g := sampleGraph()
	var buf bytes.Buffer
	if err := Write(&buf, g); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(buf.Bytes(), "")
	if err != nil {
		t.Fatal(err)
	}
	// NaN != NaN for DeepEqual: compare the bits, then blank it.
	w := got.Initializers["w"]
	if !math.IsNaN(float64(w.F[3])) {
		t.Errorf("w[3] = %v, want NaN", w.F[3])
	}
	w.F[3], g.Initializers["w"].F[3] = 0, 0
	// Decode gives empty lists of attributes with no values.
	want := sampleGraph()
	want.Initializers["w"].F[3] = 0
	want.Nodes[0].Attrs["no_ints"].Ints = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, want)
		for i := range want.Nodes {
			if !reflect.DeepEqual(got.Nodes[i], want.Nodes[i]) {
				t.Errorf("node %d: got %+v, want %+v", i, got.Nodes[i], want.Nodes[i])
				for k, a := range want.Nodes[i].Attrs {
					if !reflect.DeepEqual(got.Nodes[i].Attrs[k], a) {
						t.Errorf("  attr %s: got %#v, want %#v", k, got.Nodes[i].Attrs[k], a)
					}
				}
			}
		}
	}
	// Writing is deterministic, and writing what was read gives the same bytes.
	var again bytes.Buffer
	if err := Write(&again, got); err != nil {
		t.Fatal(err)
	}
	var first bytes.Buffer
	if err := Write(&first, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), first.Bytes()) {
		t.Error("writing the decoded graph gives other bytes")
	}
	// Initializers listed as inputs are dropped from Inputs on reading.
	g2 := sampleGraph()
	g2.Inputs = append(g2.Inputs, graph.ValueInfo{Name: "w", ElemType: 1})
	buf.Reset()
	if err := Write(&buf, g2); err != nil {
		t.Fatal(err)
	}
	if got, err := Decode(buf.Bytes(), ""); err != nil || len(got.Inputs) != 3 {
		t.Errorf("inputs %v, %v; want the 3 non-initializer ones", got.Inputs, err)
	}
}

func TestWriteErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(g *graph.Graph)
		want string
	}{
		{"no opset", func(g *graph.Graph) { delete(g.Opsets, "") }, "opset"},
		{"graph attribute", func(g *graph.Graph) {
			g.Nodes[0].Attrs["body"] = &graph.Attr{Name: "body", Type: graph.AttrGraph}
		}, `attribute "body": attributes of type GRAPH cannot be written`},
		{"short tensor", func(g *graph.Graph) { g.Initializers["w"].F = g.Initializers["w"].F[:3] }, `initializer "w": shape [2 1 1 2] needs 4 values`},
		{"nil tensor", func(g *graph.Graph) { g.Initializers["z"] = nil }, `initializer "z": nil tensor`},
		{"bad dtype", func(g *graph.Graph) { g.Initializers["w"].DType = 9 }, "unknown dtype"},
		{"nil node", func(g *graph.Graph) { g.Nodes[1] = nil }, "graph.node[1] is nil"},
		{"no op type", func(g *graph.Graph) { g.Nodes[0].OpType = "" }, "no op type"},
		{"attribute name clash", func(g *graph.Graph) { g.Nodes[0].Attrs["pads"].Name = "other" }, `named "pads" in the node's map and "other"`},
		{"tensor attribute without tensor", func(g *graph.Graph) { g.Nodes[1].Attrs["value"].T = nil }, "nil tensor"},
	}
	for _, c := range cases {
		g := sampleGraph()
		c.edit(g)
		err := Write(&bytes.Buffer{}, g)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

// model wraps a graph body in a ModelProto with opset 13.
func model(graphBody pb) []byte {
	return pb(nil).int(1, 7).msg(7, graphBody).msg(8, pb(nil).int(2, 13))
}

func node(op, name string, attrs ...pb) pb {
	n := pb(nil).str(1, "x").str(2, "y").str(3, name).str(4, op)
	for _, a := range attrs {
		n = n.msg(5, a)
	}
	return n
}

func TestDecodeModelErrors(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want []string
	}{
		{"empty", nil, []string{"no graph"}},
		{"graph wire type", pb(nil).int(7, 1), []string{"field graph (7) has wire type varint"}},
		{"two graphs", pb(nil).msg(7, nil).msg(7, nil), []string{"graph appears twice"}},
		{"graph length past the end", append(pb(nil).int(1, 7), 0x3a, 0x80, 0x80, 0x04), []string{"exceeds"}},
		{"truncated graph", pb(nil).msg(7, pb(nil).msg(1, node("Relu", "r")))[:10], []string{"truncated"}},
		{"node length past the end", pb(nil).msg(7, pb{0x0a, 0x50}), []string{"graph.node[0]: truncated", "length 80 exceeds"}},
		{"value info length past the end", pb(nil).msg(7, pb{0x5a, 0x50}), []string{"graph.input[0]: truncated"}},
		{"node without op_type", model(pb(nil).msg(1, pb(nil).str(1, "x").str(3, "n1"))), []string{`graph.node[0] "n1"`, "no op_type"}},
		{"node field wire type", model(pb(nil).msg(1, pb(nil).str(4, "Relu").int(1, 3))), []string{"graph.node[0] (Relu)", "field input (1) has wire type varint"}},
		{"node op_type wire type", model(pb(nil).msg(1, pb(nil).fixed32(4, 3))), []string{"graph.node[0]", "field op_type (4)"}},
		{"attribute without name", model(pb(nil).msg(1, node("Conv", "c1", pb(nil).int(20, 2).int(3, 1)))),
			[]string{`graph.node[0] "c1" (Conv)`, "attribute[0]", "no name"}},
		{"attribute f wire type", model(pb(nil).msg(1, node("LeakyRelu", "l", pb(nil).str(1, "alpha").int(20, 1).int(2, 3)))),
			[]string{`"l" (LeakyRelu)`, `attribute[0] "alpha"`, "field f (2) has wire type varint, want fixed32"}},
		{"attribute type without value", model(pb(nil).msg(1, node("Conv", "c", pb(nil).str(1, "group").int(20, 2)))),
			[]string{`"c" (Conv)`, `attribute[0] "group"`, "type INT but no value"}},
		{"attribute unknown type", model(pb(nil).msg(1, node("Conv", "c", pb(nil).str(1, "g").int(20, 77)))),
			[]string{`attribute[0] "g"`, "unknown attribute type 77"}},
		{"attribute no type two values", model(pb(nil).msg(1, node("Conv", "c", pb(nil).str(1, "g").int(3, 1).fixed32(2, 0)))),
			[]string{`attribute[0] "g"`, "no type and several values"}},
		{"duplicate attribute", model(pb(nil).msg(1, node("Conv", "c", pb(nil).str(1, "g").int(20, 2).int(3, 1), pb(nil).str(1, "g").int(20, 2).int(3, 2)))),
			[]string{`"c" (Conv)`, `attribute "g" appears twice`}},
		{"bad attribute tensor", model(pb(nil).msg(1, node("Constant", "k", pb(nil).str(1, "value").int(20, 4).msg(5, tp("kt", typeFloat, 2).bytes(9, le32(1)))))),
			[]string{`"k" (Constant)`, `attribute[0] "value"`, `tensor "kt"`, "raw_data has 4 bytes"}},
		{"bad initializer", model(pb(nil).msg(5, tp("w1", typeFloat, 3).bytes(9, le32(1)))), []string{`graph.initializer[0] "w1"`, "raw_data has 4 bytes"}},
		{"string initializer", model(pb(nil).msg(5, tp("vocab", typeString, 1).str(6, "a"))), []string{`graph.initializer[0] "vocab"`, "STRING"}},
		{"unnamed initializer", model(pb(nil).msg(5, tp("", typeFloat, 1).bytes(9, le32(1)))), []string{"graph.initializer[0]", "no name"}},
		{"duplicate initializer", model(pb(nil).msg(5, tp("a", typeFloat).bytes(9, le32(1))).msg(5, tp("a", typeFloat).bytes(9, le32(1)))),
			[]string{`graph.initializer[1] "a"`, "appears twice"}},
		{"sparse initializer", model(pb(nil).msg(15, nil)), []string{"graph.sparse_initializer[0]", "not supported"}},
		{"negative dim_value", model(pb(nil).msg(11, valueInfo("in", 1, 3, -2))), []string{`graph.input[0] "in"`, "shape.dim[1]", "dim_value -2 is negative"}},
		{"bad elem_type wire", model(pb(nil).msg(12, pb(nil).str(1, "o").msg(2, pb(nil).msg(1, pb(nil).str(1, "x"))))),
			[]string{`graph.output[0] "o"`, "field elem_type (1) has wire type bytes"}},
		{"initializer wire type", model(pb(nil).int(5, 1)), []string{"graph: field initializer (5) has wire type varint"}},
		{"opset twice", pb(nil).msg(7, nil).msg(8, pb(nil).int(2, 13)).msg(8, pb(nil).str(1, "ai.onnx").int(2, 11)),
			[]string{"opset_import[1]", `domain "" is imported twice`}},
		{"opset wire type", pb(nil).msg(7, nil).msg(8, pb(nil).str(2, "13")), []string{"opset_import[0]", "field version (2)"}},
		{"metadata wire type", pb(nil).msg(7, nil).int(14, 1), []string{"metadata_props"}},
		{"producer wire type", pb(nil).int(2, 1).msg(7, nil), []string{"field producer_name (2)"}},
	}
	for _, c := range cases {
		_, err := Decode(c.data, "")
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
}

func TestDecodeModelDetails(t *testing.T) {
	g, err := Decode(pb(nil).
		str(2, "prod").str(6, "").
		msg(7, pb(nil).
			msg(1, node("Conv", "c",
				// IR v1 attributes: no type field.
				pb(nil).str(1, "group").int(3, 2),
				pb(nil).str(1, "pads").bytes(8, packed(1, 2, 3, 4)), // packed ints
				pb(nil).str(1, "scales").bytes(7, le32(f32bits(0.5, 2)...)),
				pb(nil).str(1, "body").int(20, 5).msg(6, pb(nil).str(2, "sub")), // a sub-graph
				pb(nil).str(1, "list").int(20, 9).msg(10, tp("t", typeFloat).bytes(9, le32(1))),
				pb(nil).str(1, "ref").int(20, 2).str(21, "outer").int(3, 0),
			)).
			str(10, "graph doc").
			msg(11, valueInfo("x", 1, 2)).
			msg(11, pb(nil).str(1, "seq").msg(2, pb(nil).msg(4, pb(nil).msg(1, pb(nil).msg(1, pb(nil).int(1, 1)))))).
			msg(11, pb(nil).str(1, "dims").msg(2, pb(nil).msg(1, pb(nil).int(1, 1).msg(2, pb(nil).msg(1, nil).msg(1, pb(nil).str(2, "n"))))))).
		msg(8, pb(nil).str(1, "ai.onnx").int(2, 12)).
		msg(8, pb(nil).str(1, "com.microsoft").int(2, 1)).
		msg(14, pb(nil).str(1, "k").str(2, "v")).
		msg(14, pb(nil).str(1, "k").str(2, "v2")).
		msg(20, pb(nil).str(1, "training_info is skipped")), "")
	if err != nil {
		t.Fatal(err)
	}
	if g.Producer != "prod" || g.Doc != "graph doc" || g.Metadata["k"] != "v2" {
		t.Errorf("producer %q doc %q metadata %v", g.Producer, g.Doc, g.Metadata)
	}
	if !reflect.DeepEqual(g.Opsets, map[string]int64{"": 12, "com.microsoft": 1}) || g.Opset() != 12 {
		t.Errorf("opsets %v", g.Opsets)
	}
	n := g.Nodes[0]
	if a := n.Attr("group"); a.Type != graph.AttrInt || a.I != 2 {
		t.Errorf("group %+v", a)
	}
	if a := n.Attr("pads"); a.Type != graph.AttrInts || !reflect.DeepEqual(a.Ints, []int64{1, 2, 3, 4}) {
		t.Errorf("pads %+v", a)
	}
	if a := n.Attr("scales"); a.Type != graph.AttrFloats || !reflect.DeepEqual(a.Floats, []float32{0.5, 2}) {
		t.Errorf("scales %+v", a)
	}
	if a := n.Attr("body"); a.Type != graph.AttrGraph || AttrTypeName(a.Type) != "GRAPH" {
		t.Errorf("body %+v", a)
	}
	if a := n.Attr("list"); AttrTypeName(a.Type) != "TENSORS" || a.T != nil {
		t.Errorf("list %+v", a)
	}
	if a := n.Attr("ref"); a.Type != graph.AttrInt || a.I != 0 {
		t.Errorf("ref %+v", a)
	}
	want := []graph.ValueInfo{
		{Name: "x", ElemType: 1, Shape: []graph.Dim{{Value: 2}}},
		{Name: "seq"},
		{Name: "dims", ElemType: 1, Shape: []graph.Dim{{Value: -1}, {Value: -1, Param: "n"}}},
	}
	if !reflect.DeepEqual(g.Inputs, want) {
		t.Errorf("inputs %+v, want %+v", g.Inputs, want)
	}
}

// TestTruncations decodes every prefix and every one-byte corruption of a
// small model: errors are fine, panics are not, and a prefix that cuts a
// message in two must fail.
func TestTruncations(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, sampleGraph()); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if _, err := Decode(data, ""); err != nil {
		t.Fatal(err)
	}
	// A prefix decodes exactly when it ends between two top-level fields,
	// after the graph.
	ok := map[int]bool{}
	for off, graphEnd := 0, -1; off < len(data); {
		num, typ, n := protowire.ConsumeTag(data[off:])
		m := protowire.ConsumeFieldValue(num, typ, data[off+n:])
		if n < 0 || m < 0 {
			t.Fatal("bad encoding")
		}
		off += n + m
		if num == 7 {
			graphEnd = off
		}
		if graphEnd > 0 {
			ok[off] = true
		}
	}
	for n := 0; n < len(data); n++ {
		_, err := Decode(data[:n:n], "")
		if (err == nil) != ok[n] {
			t.Errorf("prefix of %d bytes: error %v", n, err)
		}
	}
	for i := range data {
		for _, v := range []byte{0, 0x7f, 0x80, 0xff, data[i] ^ 0x01} {
			c := bytes.Clone(data)
			c[i] = v
			Decode(c, "")
		}
	}
}
