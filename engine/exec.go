package engine

import (
	"fmt"
	"unsafe"

	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// buffer is an arena buffer in use by a run: refs counts the tensors that
// share it (an output and its reshaped aliases).
type buffer struct {
	data *[]float32
	refs int
}

// unit is one step of a run: a node run by its op (chain nil), or the
// first n nodes of a chain run as one fused convolution.
type unit struct {
	node  int
	chain *chain
	n     int
	reads []int // tensors read, for their lifetimes
	out   int   // the fused unit's output
}

// units lists what a run executes: the steps marked in runStep, in plan
// order, with each chain fused as far as the pass allows. A chain stops
// before the node reading a pinned tensor (fetched, kept for the
// backward pass or a rerun, or replaced: it must be materialised). A fused
// unit runs at the place of its last node, where its residual is known.
func (r *run) units(runStep []bool, pinned []bool) []unit {
	m, pl := r.m, r.p
	var out []unit
	deferred := make(map[int]unit) // last node → fused unit
	skip := make([]bool, len(m.nodes))
	for _, ni := range pl.steps {
		if !runStep[ni] {
			continue
		}
		if u, ok := deferred[ni]; ok {
			out = append(out, u)
			continue
		}
		if skip[ni] {
			continue
		}
		c := pl.chains[ni]
		if c == nil || r.noFuse {
			out = append(out, unit{node: ni, reads: m.nodeIn[ni]})
			continue
		}
		n := 1
		for n < len(c.nodes) {
			prev := m.singleOutput(c.nodes[n-1])
			if pinned[prev] || !runStep[c.nodes[n]] {
				break
			}
			n++
		}
		u := unit{node: ni, chain: c, n: n, out: m.singleOutput(c.nodes[n-1])}
		u.reads = []int{m.nodeIn[ni][0]}
		for _, k := range c.kinds[:n] {
			if k == linkAdd {
				u.reads = append(u.reads, c.residual)
			}
		}
		if n == 1 {
			out = append(out, u)
			continue
		}
		for _, x := range c.nodes[:n-1] {
			skip[x] = true
		}
		deferred[c.nodes[n-1]] = u
	}
	return out
}

// exec runs the units, freeing every tensor not in keep after its last
// reader and recycling its buffer when the engine made it.
func (r *run) exec(units []unit, keep, replaced []bool) error {
	m := r.m
	last := make([]int, len(m.names))
	for i := range last {
		last[i] = -1
	}
	for k, u := range units {
		for _, id := range u.reads {
			if id >= 0 {
				last[id] = k
			}
		}
	}
	args := make([]*tensor.Tensor, 0, 8)
	for k, u := range units {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if u.chain != nil {
			if err := r.fused(u, k, last, keep); err != nil {
				return err
			}
		} else {
			ni := u.node
			args = args[:0]
			for _, id := range m.nodeIn[ni] {
				args = append(args, r.value(id))
			}
			if err := r.node(ni, args, replaced); err != nil {
				return fmt.Errorf("engine: %s: %w", m.nodes[ni], err)
			}
		}
		for _, id := range u.reads {
			if id >= 0 && last[id] == k && !keep[id] {
				r.drop(id)
			}
		}
	}
	return nil
}

// node runs node ni, unfused, on args. An op that can write its one float
// output into a buffer (ops.Into) is given one from the arena.
func (r *run) node(ni int, args []*tensor.Tensor, replaced []bool) error {
	m := r.m
	outIDs := m.nodeOut[ni]
	if op, ok := m.ops[ni].(ops.Into); ok && len(outIDs) == 1 && outIDs[0] >= 0 && !replaced[outIDs[0]] &&
		r.p.values[outIDs[0]].DType == tensor.Float32 {
		o := outIDs[0]
		shape := r.shape(o)
		bi := r.newBuffer(tensor.Size(shape))
		y := *r.bufs[bi].data
		done, err := op.ForwardInto(r.opctx, args, y)
		if err != nil || !done {
			r.p.arena.Put(r.bufs[bi].data)
			r.bufs[bi] = buffer{}
			if err != nil {
				return err
			}
		} else {
			r.vals[o] = &tensor.Tensor{DType: tensor.Float32, Shape: append([]int(nil), shape...), F: y}
			r.bufOf[o] = int32(bi)
			return nil
		}
	}
	outs, err := m.ops[ni].Forward(r.opctx, args)
	if err != nil {
		return err
	}
	for j, o := range outIDs {
		if o >= 0 && !replaced[o] && j < len(outs) {
			r.vals[o] = outs[j]
			r.adopt(o, outs[j], m.nodeIn[ni])
		}
	}
	return nil
}

// fused runs fused unit number k.
func (r *run) fused(u unit, k int, last []int, keep []bool) error {
	m, pl := r.m, r.p
	c := u.chain
	f, err := m.fusedConv(pl, c, u.n)
	if err != nil {
		return fmt.Errorf("engine: %s: %w", m.nodes[c.nodes[0]], err)
	}
	xid := u.reads[0]
	x := r.value(xid)
	shape := r.shape(u.out)
	size := tensor.Size(shape)
	var res []float32
	bi := -1
	if len(u.reads) > 1 {
		rid := u.reads[1]
		rv := r.value(rid)
		if rv == nil || len(rv.F) != size {
			return fmt.Errorf("engine: %s: residual %q is missing", m.nodes[c.nodes[0]], m.names[rid])
		}
		res = rv.F
		// Take the residual's buffer over when this is its last reader.
		if b := r.bufOf[rid]; b >= 0 && r.bufs[b].refs == 1 && last[rid] == k && !keep[rid] &&
			rid != xid && b != r.bufOf[xid] && len(*r.bufs[b].data) == size {
			bi = int(b)
			r.bufOf[rid] = -1
			r.vals[rid] = nil
		}
	}
	if bi < 0 {
		bi = r.newBuffer(size)
	}
	y := *r.bufs[bi].data
	ctx := r.opctx
	for _, ni := range c.nodes[:u.n] {
		if r.inBW != nil && r.inBW[ni] {
			// The backward pass reads these values (ReLU gates).
			ctx = r.precise
			break
		}
	}
	if err := f.Forward(ctx, x, res, y); err != nil {
		return fmt.Errorf("engine: %s: %w", m.nodes[c.nodes[0]], err)
	}
	if m.ReleaseWeights && f.Released() {
		wid := m.nodeIn[c.nodes[0]][1]
		m.release(wid, pl.values[wid].Const, f)
	}
	r.vals[u.out] = &tensor.Tensor{DType: tensor.Float32, Shape: append([]int(nil), shape...), F: y}
	r.bufOf[u.out] = int32(bi)
	return nil
}

// newBuffer takes a buffer of n floats from the plan's arena.
func (r *run) newBuffer(n int) int {
	b := r.p.arena.Get(n)
	r.bufs = append(r.bufs, buffer{data: b, refs: 1})
	return len(r.bufs) - 1
}

// adopt records that output o of a node shares the buffer of one of its
// inputs (a reshape), so that the buffer outlives both.
func (r *run) adopt(o int, t *tensor.Tensor, inputs []int) {
	if t == nil || len(t.F) == 0 {
		return
	}
	for _, id := range inputs {
		if id < 0 || r.bufOf[id] < 0 {
			continue
		}
		b := r.bufOf[id]
		if overlaps(t.F, *r.bufs[b].data) {
			r.bufOf[o] = b
			r.bufs[b].refs++
			return
		}
	}
}

// drop forgets tensor id, recycling its buffer when no other tensor
// shares it.
func (r *run) drop(id int) {
	r.vals[id] = nil
	b := r.bufOf[id]
	if b < 0 {
		return
	}
	r.bufOf[id] = -1
	if r.bufs[b].refs--; r.bufs[b].refs == 0 {
		r.p.arena.Put(r.bufs[b].data)
		r.bufs[b].data = nil
	}
}

// recycle returns to the arena every buffer still held that shares no
// memory with the tensors the caller gets.
func (r *run) recycle(results []*tensor.Tensor) {
	for i := range r.bufs {
		b := &r.bufs[i]
		if b.data == nil || b.refs == 0 {
			continue
		}
		free := true
		for _, t := range results {
			if t != nil && overlaps(t.F, *b.data) {
				free = false
				break
			}
		}
		if free {
			r.p.arena.Put(b.data)
		}
		b.data, b.refs = nil, 0
	}
}

// overlaps reports whether two slices share memory.
func overlaps(a, b []float32) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	a0 := uintptr(unsafe.Pointer(&a[0]))
	b0 := uintptr(unsafe.Pointer(&b[0]))
	return a0 < b0+uintptr(len(b))*4 && b0 < a0+uintptr(len(a))*4
}
