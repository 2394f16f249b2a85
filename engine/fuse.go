package engine

// Fusion of a convolution with the nodes that follow it.
//
// When a plan is made, every Conv with constant weights heads a chain: the
// Conv, then as many of BatchNormalization (inference form, constant
// parameters), Add (a residual of the same shape) and Relu or Clip (with
// constant bounds), in that order, as follow it, each the only reader of
// its predecessor's output. A run computes a chain, or its longest prefix
// whose intermediate tensors the pass does not need (see run.units), with
// one ops.FusedConv: the BatchNormalization folded into the weights, the
// bias, residual and clamp applied in the product's epilogue. The fused
// kernels are made once per model and reused by every plan.

import (
	"math"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// link is the role of a node in a chain.
type link uint8

const (
	linkConv link = iota
	linkBN
	linkAdd
	linkAct
)

// chain is a Conv and the nodes that may be fused after it.
type chain struct {
	nodes    []int  // node indices, the Conv first
	kinds    []link // role of each node
	residual int    // the Add's other input, or -1
	bn       *ops.BatchNormParams
	lo, hi   float32 // bounds of the activation
}

// fusedKey names a fused kernel: a chain head and how many of its nodes
// the kernel covers.
type fusedKey struct{ head, length int }

// findChains sets p.chains.
func (m *Model) findChains(p *plan) {
	p.chains = make([]*chain, len(m.nodes))
	readers := make([]int, len(m.names))
	readerOf := make([]int, len(m.names))
	for _, ni := range p.steps {
		for _, id := range m.nodeIn[ni] {
			if id >= 0 {
				readers[id]++
				readerOf[id] = ni
			}
		}
	}
	for _, id := range m.outIDs {
		readers[id]++ // a graph output is read by the caller
	}
	// next returns the only node reading the single output of node ni,
	// or -1.
	next := func(ni int) int {
		o := m.singleOutput(ni)
		if o < 0 || readers[o] != 1 {
			return -1
		}
		return readerOf[o]
	}
	isConst := func(id int) bool { return id >= 0 && p.values[id].Const != nil }
	// A node joins at most one chain: in a ResNet block the Add reads two
	// convolutions, and the first to claim it keeps it.
	claimed := make([]bool, len(m.nodes))
	next0 := next
	next = func(ni int) int {
		nx := next0(ni)
		if nx >= 0 && claimed[nx] {
			return -1
		}
		return nx
	}
	for _, ni := range p.steps {
		n := m.nodes[ni]
		in := m.nodeIn[ni]
		if n.OpType != "Conv" || !defaultDomain(n) || len(in) < 2 || in[0] < 0 || isConst(in[0]) ||
			p.values[in[0]].DType != tensor.Float32 || !isConst(in[1]) || m.singleOutput(ni) < 0 {
			continue
		}
		if len(in) > 2 && in[2] >= 0 && !isConst(in[2]) {
			continue
		}
		c := &chain{nodes: []int{ni}, kinds: []link{linkConv}, residual: -1}
		cur := ni
		if nx := next(cur); nx >= 0 && m.nodes[nx].OpType == "BatchNormalization" && defaultDomain(m.nodes[nx]) {
			bin := m.nodeIn[nx]
			args := make([]*tensor.Tensor, len(bin))
			ok := len(bin) == 5 && bin[0] == m.singleOutput(cur)
			for i := 1; ok && i < 5; i++ {
				ok = isConst(bin[i])
				if ok {
					args[i] = p.values[bin[i]].Const
				}
			}
			if ok {
				if bn, err := ops.BatchNormNode(m.nodes[nx], args); err == nil && len(bn.Scale) == p.values[in[1]].Shape[0] {
					c.nodes = append(c.nodes, nx)
					c.kinds = append(c.kinds, linkBN)
					c.bn = bn
					cur = nx
				}
			}
		}
		if nx := next(cur); nx >= 0 && m.nodes[nx].OpType == "Add" && defaultDomain(m.nodes[nx]) && m.singleOutput(nx) >= 0 {
			ain := m.nodeIn[nx]
			out := m.singleOutput(cur)
			if len(ain) == 2 && ain[0] >= 0 && ain[1] >= 0 && ain[0] != ain[1] {
				other := ain[0]
				if other == out {
					other = ain[1]
				}
				ov, cv := p.values[other], p.values[out]
				if ov.DType == tensor.Float32 && tensor.EqualShape(ov.Shape, cv.Shape) {
					c.nodes = append(c.nodes, nx)
					c.kinds = append(c.kinds, linkAdd)
					c.residual = other
					cur = nx
				}
			}
		}
		if nx := next(cur); nx >= 0 && m.singleOutput(nx) >= 0 {
			if lo, hi, ok := m.activation(p, nx, m.singleOutput(cur)); ok {
				c.nodes = append(c.nodes, nx)
				c.kinds = append(c.kinds, linkAct)
				c.lo, c.hi = lo, hi
			}
		}
		for _, x := range c.nodes[1:] {
			claimed[x] = true
		}
		p.chains[ni] = c
	}
}

func defaultDomain(n *graph.Node) bool { return n.Domain == "" || n.Domain == "ai.onnx" }

// singleOutput returns the id of a node's only output, or -1 when it has
// none or several.
func (m *Model) singleOutput(ni int) int {
	out := -1
	for _, o := range m.nodeOut[ni] {
		if o >= 0 {
			if out >= 0 {
				return -1
			}
			out = o
		}
	}
	return out
}

// activation reports whether node ni is a Relu or a Clip with constant
// bounds reading x, and its bounds.
func (m *Model) activation(p *plan, ni, x int) (lo, hi float32, ok bool) {
	n := m.nodes[ni]
	in := m.nodeIn[ni]
	if !defaultDomain(n) || len(in) < 1 || in[0] != x {
		return 0, 0, false
	}
	inf := float32(math.Inf(1))
	switch n.OpType {
	case "Relu":
		return 0, inf, len(in) == 1
	case "Clip":
		lo, hi = -inf, inf
		if m.opset < 11 {
			return n.AttrFloat("min", -math.MaxFloat32), n.AttrFloat("max", math.MaxFloat32), len(in) == 1
		}
		for i := 1; i < len(in) && i < 3; i++ {
			if in[i] < 0 {
				continue
			}
			c := p.values[in[i]].Const
			if c == nil || c.DType != tensor.Float32 || c.Len() != 1 {
				return 0, 0, false
			}
			if i == 1 {
				lo = c.F[0]
			} else {
				hi = c.F[0]
			}
		}
		return lo, hi, len(in) <= 3
	}
	return 0, 0, false
}

// fusedConv returns the kernel computing the first length nodes of c,
// making it once per model.
func (m *Model) fusedConv(p *plan, c *chain, length int) (*ops.FusedConv, error) {
	key := fusedKey{c.nodes[0], length}
	if f, ok := m.fused.Load(key); ok {
		return f.(*ops.FusedConv), nil
	}
	ni := c.nodes[0]
	in := m.nodeIn[ni]
	w := p.values[in[1]].Const
	if m.ReleaseWeights && w != nil {
		// A header of its own, its data read under the lock: another
		// run may release the tensor's data meanwhile.
		w = &tensor.Tensor{DType: w.DType, Shape: w.Shape, F: m.constantData(in[1], w)}
	}
	var b *tensor.Tensor
	if len(in) > 2 && in[2] >= 0 {
		b = p.values[in[2]].Const
	}
	opt := ops.FusedConvOptions{Pack: packWeights, Release: m.ReleaseWeights}
	for _, k := range c.kinds[:length] {
		switch k {
		case linkBN:
			opt.BatchNorm = c.bn
		case linkAct:
			opt.Clamp, opt.Min, opt.Max = true, c.lo, c.hi
		}
	}
	f, err := ops.NewFusedConv(m.nodes[ni], m.opset, w, b, opt)
	if err != nil {
		return nil, err
	}
	got, _ := m.fused.LoadOrStore(key, f)
	return got.(*ops.FusedConv), nil
}

// packWeights says whether fused convolutions pack their weights once for
// gemm.SgemmPackedA (only those of products wide enough for gemm to pack
// them on every call otherwise: ResNet50 at 224x224 packs its first three
// stages, 34 MiB, and saves the 6 ms per run that packing took, 8 % of a
// forward on one thread).
var packWeights = true
