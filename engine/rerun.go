package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// Rerun recomputes only the part of the graph downstream of the replaced
// tensors, which must have been named Editable in the run that made res,
// and returns the fetched tensors. res is not changed, so Rerun may be
// called many times (for example once per ablated channel) and from
// several goroutines.
//
// A replacement may also hold k variants of its tensor one after another
// along the first (batch) dimension, k times the planned size there, to
// recompute k variants in one pass (k ablated channels at once). Every
// replacement must then have the same k; the tensors that the downstream
// part reads from elsewhere are repeated k times, and the fetched tensors
// downstream come back with k times their first dimension, variant j of
// image i at index j*n+i for a batch of n. The downstream graph must keep
// the first dimension as the batch, which Rerun checks by inferring its
// shapes; when it does not (a Reshape to a fixed batch size), Rerun fails
// and the variants must be run one at a time.
func (res *Result) Rerun(ctx context.Context, replace map[string]*tensor.Tensor, fetch []string) (map[string]*tensor.Tensor, error) {
	m := res.m
	if res.retained == nil {
		return nil, fmt.Errorf("engine: rerun needs a run with Editable tensors")
	}
	r := m.newRun(ctx, res.p, res.threads)
	var ids []int
	k := 0
	for name, t := range replace {
		id, ok := m.ids[name]
		if !ok {
			return nil, fmt.Errorf("engine: rerun: no tensor named %q", name)
		}
		if _, ok := res.retained[id]; !ok {
			return nil, fmt.Errorf("engine: rerun: %q was not named Editable", name)
		}
		kk, err := r.variants(id, t)
		if err != nil {
			return nil, err
		}
		if k != 0 && kk != k {
			return nil, fmt.Errorf("engine: rerun: replacements hold different numbers of variants (%d and %d)", k, kk)
		}
		k = kk
		ids = append(ids, id)
	}
	fids, err := m.lookup(fetch, "rerun fetch")
	if err != nil {
		return nil, err
	}
	for id, t := range res.retained {
		r.vals[id] = t
	}
	replaced := make([]bool, len(m.names))
	for name, t := range replace {
		id := m.ids[name]
		r.vals[id] = t
		replaced[id] = true
	}
	down := r.downstream(ids)
	// Only the downstream steps that lead to a fetched tensor.
	need := make([]bool, len(m.names))
	for _, id := range fids {
		need[id] = true
	}
	runStep := make([]bool, len(m.nodes))
	for i := len(r.p.steps) - 1; i >= 0; i-- {
		ni := r.p.steps[i]
		if !down[ni] {
			continue
		}
		for _, o := range m.nodeOut[ni] {
			if o >= 0 && need[o] && !replaced[o] {
				runStep[ni] = true
			}
		}
		if runStep[ni] {
			for _, id := range m.nodeIn[ni] {
				if id >= 0 {
					need[id] = true
				}
			}
		}
	}
	if k > 1 {
		if err := r.batchShapes(runStep, replace, k); err != nil {
			return nil, err
		}
	}
	keep := make([]bool, len(m.names))
	pinned := make([]bool, len(m.names))
	for _, id := range fids {
		keep[id], pinned[id] = true, true
	}
	for id := range replaced {
		pinned[id] = pinned[id] || replaced[id]
	}
	if err := r.exec(r.units(runStep, pinned), keep, replaced); err != nil {
		return nil, err
	}
	out := make(map[string]*tensor.Tensor, len(fids))
	for i, id := range fids {
		v := r.value(id)
		if v == nil {
			return nil, fmt.Errorf("engine: rerun: %q is not downstream of the replaced tensors and was not kept", fetch[i])
		}
		out[fetch[i]] = v
	}
	results := make([]*tensor.Tensor, 0, len(out))
	for _, t := range out {
		results = append(results, t)
	}
	r.recycle(results)
	return out, nil
}

// variants checks a replacement for tensor id in a rerun and returns how
// many variants it holds: 1 when it has the planned shape, k when its
// first dimension is k times the planned one.
func (r *run) variants(id int, t *tensor.Tensor) (int, error) {
	v := r.p.values[id]
	name := r.m.names[id]
	if v.Const != nil {
		return 0, fmt.Errorf("engine: replace: %q is a constant of the model", name)
	}
	if t != nil && t.DType == v.DType {
		if tensor.EqualShape(t.Shape, v.Shape) {
			return 1, nil
		}
		if len(t.Shape) == len(v.Shape) && len(v.Shape) > 0 && v.Shape[0] > 0 &&
			t.Shape[0]%v.Shape[0] == 0 && tensor.EqualShape(t.Shape[1:], v.Shape[1:]) && len(t.F) == tensor.Size(t.Shape) {
			return t.Shape[0] / v.Shape[0], nil
		}
	}
	got := "nil"
	if t != nil {
		got = fmt.Sprintf("%s%v", t.DType, t.Shape)
	}
	return 0, fmt.Errorf("engine: rerun: %q is %s%v, replacement is %s (the planned shape, or a multiple of it along the first dimension)", name, v.DType, v.Shape, got)
}

// batchShapes prepares a rerun of k variants: it infers the shape of every
// tensor the steps in runStep compute, checks that each is its planned
// shape with k times the first dimension, and repeats k times the
// non-constant tensors those steps read from outside.
func (r *run) batchShapes(runStep []bool, replace map[string]*tensor.Tensor, k int) error {
	m, pl := r.m, r.p
	r.shapes = make([][]int, len(m.names))
	for name, t := range replace {
		r.shapes[m.ids[name]] = t.Shape
	}
	in := make([]ops.Value, 0, 8)
	for _, ni := range pl.steps {
		if !runStep[ni] {
			continue
		}
		in = in[:0]
		for _, id := range m.nodeIn[ni] {
			if id < 0 {
				in = append(in, ops.Value{})
				continue
			}
			v := pl.values[id]
			if v.Const == nil && r.shapes[id] == nil {
				// Read from outside the recomputed part: repeat it.
				t := r.vals[id]
				if t == nil || len(v.Shape) == 0 {
					return fmt.Errorf("engine: rerun: %s reads %q, which was not kept", m.nodes[ni], m.names[id])
				}
				r.vals[id] = repeatBatch(t, k)
				r.shapes[id] = r.vals[id].Shape
			}
			if r.shapes[id] != nil {
				v = ops.Value{DType: v.DType, Shape: r.shapes[id]}
			}
			in = append(in, v)
		}
		outs, err := m.ops[ni].Infer(in)
		if err != nil {
			return fmt.Errorf("engine: rerun of %d variants: %s: %w", k, m.nodes[ni], err)
		}
		for j, o := range m.nodeOut[ni] {
			if o < 0 || j >= len(outs) {
				continue
			}
			want := slices.Clone(pl.values[o].Shape)
			if len(want) > 0 {
				want[0] *= k
			}
			if len(want) == 0 || !tensor.EqualShape(outs[j].Shape, want) {
				return fmt.Errorf("engine: rerun of %d variants: %s makes %q of shape %v, not %v: the graph does not keep the batch dimension there; rerun the variants one at a time",
					k, m.nodes[ni], m.names[o], outs[j].Shape, want)
			}
			r.shapes[o] = outs[j].Shape
		}
	}
	return nil
}

// repeatBatch returns t repeated k times along its first dimension.
func repeatBatch(t *tensor.Tensor, k int) *tensor.Tensor {
	shape := slices.Clone(t.Shape)
	shape[0] *= k
	out := tensor.New(t.DType, shape...)
	for j := range k {
		if t.DType == tensor.Int64 {
			copy(out.I[j*len(t.I):], t.I)
		} else {
			copy(out.F[j*len(t.F):], t.F)
		}
	}
	return out
}

// shape returns the shape of tensor id in this run.
func (r *run) shape(id int) []int {
	if r.shapes != nil && r.shapes[id] != nil {
		return r.shapes[id]
	}
	return r.p.values[id].Shape
}
