// Package graph is gradcam's model representation: a directed acyclic graph
// of operator nodes connected by named tensors, with the model's weights,
// declared inputs and outputs, and metadata. It is independent of the file
// format it was read from (see package onnx) and of the engine that runs it.
package graph

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gradcam/gradcam/tensor"
)

// AttrType is the kind of value an Attr holds.
type AttrType uint8

// Attribute kinds, as in ONNX's AttributeProto.
const (
	AttrUndefined AttrType = iota
	AttrFloat
	AttrInt
	AttrString
	AttrTensor
	AttrGraph
	AttrFloats
	AttrInts
	AttrStrings
)

// Attr is one named attribute of a node.
type Attr struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       string
	T       *tensor.Tensor
	Floats  []float32
	Ints    []int64
	Strings []string
}

// Node is one operator application.
type Node struct {
	Name    string
	OpType  string
	Domain  string   // "" or "ai.onnx" for the default operator set
	Inputs  []string // "" marks an omitted optional input
	Outputs []string // "" marks an omitted optional output
	Attrs   map[string]*Attr
}

// Attr returns the named attribute or nil.
func (n *Node) Attr(name string) *Attr {
	if n.Attrs == nil {
		return nil
	}
	return n.Attrs[name]
}

// AttrInt returns an integer attribute, or def when it is absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a := n.Attr(name); a != nil {
		return a.I
	}
	return def
}

// AttrFloat returns a float attribute, or def when it is absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a := n.Attr(name); a != nil {
		return a.F
	}
	return def
}

// AttrString returns a string attribute, or def when it is absent.
func (n *Node) AttrString(name string, def string) string {
	if a := n.Attr(name); a != nil {
		return a.S
	}
	return def
}

// AttrInts returns an integer-list attribute, or def when it is absent.
func (n *Node) AttrInts(name string, def []int64) []int64 {
	if a := n.Attr(name); a != nil {
		return a.Ints
	}
	return def
}

// AttrFloats returns a float-list attribute, or def when it is absent.
func (n *Node) AttrFloats(name string, def []float32) []float32 {
	if a := n.Attr(name); a != nil {
		return a.Floats
	}
	return def
}

// AttrTensor returns a tensor attribute, or nil when it is absent.
func (n *Node) AttrTensor(name string) *tensor.Tensor {
	if a := n.Attr(name); a != nil {
		return a.T
	}
	return nil
}

// Input returns the i-th input name, or "" when the node has fewer inputs.
func (n *Node) Input(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// String names the node for error messages: its op type and name.
func (n *Node) String() string {
	if n.Name == "" {
		return fmt.Sprintf("%s node producing %q", n.OpType, strings.Join(n.Outputs, ","))
	}
	return fmt.Sprintf("%s node %q", n.OpType, n.Name)
}

// Dim is one dimension of a declared shape: a fixed size, or a symbolic
// name (Param) such as "batch" with Value -1.
type Dim struct {
	Value int64
	Param string
}

// ValueInfo declares a tensor's element type and shape.
type ValueInfo struct {
	Name string
	// ElemType is the ONNX TensorProto.DataType code (1 float, 7 int64, ...),
	// 0 when unknown.
	ElemType int32
	// Shape is nil when the rank is unknown.
	Shape []Dim
}

// Graph is a whole model.
type Graph struct {
	Name string
	// Nodes in file order; see TopoSort.
	Nodes []*Node
	// Initializers are the constant tensors (weights) by name.
	Initializers map[string]*tensor.Tensor
	// Inputs are the graph inputs that are not initializers.
	Inputs []ValueInfo
	// Outputs are the graph outputs.
	Outputs []ValueInfo
	// ValueInfo holds the declared types of intermediate tensors, by name.
	ValueInfo map[string]ValueInfo
	// Opsets maps operator-set domains ("" for the default) to versions.
	Opsets map[string]int64
	// Metadata holds the model's metadata_props.
	Metadata map[string]string
	// Producer names the program that wrote the model, with its version.
	Producer string
	// Doc is the model's doc string.
	Doc string
}

// Opset returns the version of the default ONNX operator set.
func (g *Graph) Opset() int64 {
	if v, ok := g.Opsets[""]; ok {
		return v
	}
	if v, ok := g.Opsets["ai.onnx"]; ok {
		return v
	}
	return 0
}

// Producers returns a map from tensor name to the node that produces it.
func (g *Graph) Producers() map[string]*Node {
	m := make(map[string]*Node, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				m[o] = n
			}
		}
	}
	return m
}

// Consumers returns a map from tensor name to the nodes that read it, in
// node order.
func (g *Graph) Consumers() map[string][]*Node {
	m := make(map[string][]*Node)
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" {
				m[in] = append(m[in], n)
			}
		}
	}
	return m
}

// TopoSort orders g.Nodes so that every node comes after the producers of
// its inputs, keeping file order where it already is valid. It fails on a
// cycle or on an input that nothing provides.
func (g *Graph) TopoSort() error {
	avail := make(map[string]bool)
	for name := range g.Initializers {
		avail[name] = true
	}
	for _, in := range g.Inputs {
		avail[in.Name] = true
	}
	avail[""] = true
	produced := g.Producers()
	done := make(map[*Node]bool, len(g.Nodes))
	order := make([]*Node, 0, len(g.Nodes))
	// Repeated passes in file order; exporters nearly always emit a valid
	// order, so this finishes in one pass.
	for len(order) < len(g.Nodes) {
		progress := false
		for _, n := range g.Nodes {
			if done[n] {
				continue
			}
			ready := true
			for _, in := range n.Inputs {
				if !avail[in] {
					ready = false
					break
				}
			}
			if !ready {
				continue
			}
			done[n] = true
			order = append(order, n)
			for _, o := range n.Outputs {
				avail[o] = true
			}
			progress = true
		}
		if !progress {
			var missing []string
			for _, n := range g.Nodes {
				if done[n] {
					continue
				}
				for _, in := range n.Inputs {
					if !avail[in] && produced[in] == nil {
						missing = append(missing, fmt.Sprintf("%s needs %q", n, in))
					}
				}
			}
			if len(missing) > 0 {
				sort.Strings(missing)
				return fmt.Errorf("graph: tensors that no node, input or initializer provides: %s", strings.Join(missing, "; "))
			}
			return fmt.Errorf("graph: the nodes form a cycle")
		}
	}
	g.Nodes = order
	return nil
}
