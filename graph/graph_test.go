package graph

import (
	"strings"
	"testing"

	"github.com/gradcam/gradcam/tensor"
)

func node(name string, in, out []string) *Node {
	return &Node{Name: name, OpType: "Relu", Inputs: in, Outputs: out}
}

func TestTopoSort(t *testing.T) {
	g := &Graph{
		Inputs:       []ValueInfo{{Name: "x"}},
		Initializers: map[string]*tensor.Tensor{"w": tensor.Zeros(1)},
		Nodes: []*Node{
			node("c", []string{"b", "w"}, []string{"y"}),
			node("a", []string{"x"}, []string{"a"}),
			node("b", []string{"a", ""}, []string{"b"}),
		},
	}
	if err := g.TopoSort(); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, n := range g.Nodes {
		order = append(order, n.Name)
	}
	if got := strings.Join(order, ""); got != "abc" {
		t.Errorf("order %s, want abc", got)
	}

	missing := &Graph{Inputs: []ValueInfo{{Name: "x"}}, Nodes: []*Node{node("a", []string{"nope"}, []string{"y"})}}
	if err := missing.TopoSort(); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing input: %v", err)
	}
	cycle := &Graph{Nodes: []*Node{node("a", []string{"q"}, []string{"p"}), node("b", []string{"p"}, []string{"q"})}}
	if err := cycle.TopoSort(); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
}

func TestAttrs(t *testing.T) {
	n := &Node{OpType: "Conv", Attrs: map[string]*Attr{
		"group": {Name: "group", Type: AttrInt, I: 4},
		"pads":  {Name: "pads", Type: AttrInts, Ints: []int64{1, 1, 0, 0}},
	}}
	if n.AttrInt("group", 1) != 4 || n.AttrInt("missing", 7) != 7 || len(n.AttrInts("pads", nil)) != 4 {
		t.Errorf("attribute getters")
	}
	if n.AttrString("auto_pad", "NOTSET") != "NOTSET" || n.Input(3) != "" {
		t.Errorf("defaults")
	}
	if s := n.String(); !strings.Contains(s, "Conv") {
		t.Errorf("String() = %q", s)
	}
	g := &Graph{Opsets: map[string]int64{"ai.onnx": 11}}
	if g.Opset() != 11 {
		t.Errorf("Opset() = %d", g.Opset())
	}
}
