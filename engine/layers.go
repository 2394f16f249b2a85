package engine

import (
	"fmt"
	"strings"
)

// Layer is one row of a model's catalog, like a line of Keras'
// model.summary(): a node that runs (constant sub-graphs folded away), the
// tensor it produces and the number of weights it holds.
type Layer struct {
	// Name is the node's name (or its output's name when it has none).
	Name string
	// Op is the node's op type.
	Op string
	// Output is the name of the node's first output tensor.
	Output string
	// Shape is the output's shape for a batch of one.
	Shape []int
	// Params counts the elements of the node's constant inputs (weights).
	Params int
	// Target marks the layer that AutoTarget picks.
	Target bool
}

// Layers lists the model's layers in execution order for a batch of one,
// marking the automatic target layer.
func (m *Model) Layers() ([]Layer, error) {
	p, err := m.planFor(m.batchOneShapes())
	if err != nil {
		return nil, err
	}
	target, _ := m.AutoTarget()
	var out []Layer
	for _, ni := range p.steps {
		n := m.nodes[ni]
		l := Layer{Name: nodeLabel(n), Op: n.OpType}
		for _, o := range m.nodeOut[ni] {
			if o >= 0 {
				l.Output = m.names[o]
				l.Shape = p.values[o].Shape
				break
			}
		}
		for _, id := range m.nodeIn[ni] {
			if id >= 0 && p.values[id].Const != nil {
				l.Params += p.values[id].Const.Len()
			}
		}
		l.Target = l.Output == target
		out = append(out, l)
	}
	return out, nil
}

func (m *Model) batchOneShapes() [][]int {
	shapes := make([][]int, len(m.inputs))
	for i, vi := range m.inputs {
		s := make([]int, len(vi.Shape))
		for d, dim := range vi.Shape {
			switch {
			case dim.Value > 0:
				s[d] = int(dim.Value)
			case d == 0:
				s[d] = 1
			default:
				s[d] = 0 // unknown spatial size: the plan will fail with a clear error
			}
		}
		shapes[i] = s
	}
	return shapes
}

// spatial reports whether a shape is a feature map with more than one
// position: rank 4, with at least two of its three non-batch dimensions
// above 1. The rule holds for NCHW and NHWC alike: a C x 1 x 1 (or
// 1 x 1 x C) tensor has only one dimension above 1.
func spatial(shape []int) bool {
	if len(shape) != 4 {
		return false
	}
	n := 0
	for _, d := range shape[1:] {
		if d > 1 {
			n++
		}
	}
	return n >= 2
}

// AutoTarget returns the tensor that Grad-CAM explains when no layer is
// named: starting at the first graph output and walking back along each
// node's first non-constant input, the first tensor that is a feature map
// with more than one position (see spatial). That is the input of the
// classifier head, whatever the head is made of (global pooling, flatten,
// dense layers, or 1x1 convolutions on a 1x1 map as in MobileNetV3, which
// are passed over because their maps have a single position).
func (m *Model) AutoTarget() (string, error) {
	p, err := m.planFor(m.batchOneShapes())
	if err != nil {
		return "", err
	}
	id := m.outIDs[0]
	for steps := 0; steps <= len(m.nodes); steps++ {
		if spatial(p.values[id].Shape) {
			return m.names[id], nil
		}
		ni := m.prod[id]
		if ni < 0 {
			break
		}
		next := -1
		for _, in := range m.nodeIn[ni] {
			if in >= 0 && p.values[in].Const == nil {
				next = in
				break
			}
		}
		if next < 0 {
			break
		}
		id = next
	}
	return "", fmt.Errorf("engine: no feature map with more than one position feeds the output %q; name the target layer", m.names[m.outIDs[0]])
}

// ResolveLayer turns a user's layer name into a tensor name. It accepts a
// tensor name, a node name (meaning the node's first output) or "auto" / "".
// An unknown name gives an error listing candidates.
func (m *Model) ResolveLayer(name string) (string, error) {
	if name == "" || name == "auto" {
		return m.AutoTarget()
	}
	if id, ok := m.ids[name]; ok {
		if m.prod[id] >= 0 || m.isInput(id) {
			return name, nil
		}
	}
	for ni, n := range m.nodes {
		if n.Name == name {
			for _, o := range m.nodeOut[ni] {
				if o >= 0 {
					return m.names[o], nil
				}
			}
		}
	}
	// Suggest the spatial layers whose names contain the query, else the
	// last few spatial layers.
	layers, err := m.Layers()
	if err != nil {
		return "", fmt.Errorf("engine: no layer or tensor named %q", name)
	}
	var near, all []string
	q := strings.ToLower(name)
	for _, l := range layers {
		if !spatial(l.Shape) {
			continue
		}
		all = append(all, l.Output)
		if strings.Contains(strings.ToLower(l.Name), q) || strings.Contains(strings.ToLower(l.Output), q) {
			near = append(near, l.Output)
		}
	}
	cands := near
	if len(cands) == 0 {
		cands = all
		if len(cands) > 8 {
			cands = cands[len(cands)-8:]
		}
	}
	if len(cands) > 12 {
		cands = cands[len(cands)-12:]
	}
	return "", fmt.Errorf("no layer or tensor named %q; candidates: %s (see 'gradcam layers')", name, strings.Join(cands, ", "))
}
