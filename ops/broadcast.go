package ops

import (
	"fmt"

	"github.com/gradcam/gradcam/tensor"
)

// Broadcasting helpers shared by the elementwise operators (and usable by
// any other op file). Broadcasting follows numpy's rules, which ONNX calls
// multidirectional broadcasting (onnx/docs/Broadcasting.md): shapes are
// aligned at their last dimension, and a dimension of size 1 (or a missing
// leading one) stretches to the other operand's size.

// broadcastShapes returns the multidirectional broadcast of shapes.
func broadcastShapes(shapes ...[]int) ([]int, error) {
	var out []int
	for i, s := range shapes {
		if i == 0 {
			out = append([]int(nil), s...)
			continue
		}
		b, err := tensor.BroadcastShape(out, s)
		if err != nil {
			return nil, fmt.Errorf("shapes %v do not broadcast", shapes)
		}
		out = b
	}
	return out, nil
}

// broadcastsTo reports whether shape s broadcasts unidirectionally to
// target (ONNX's unidirectional broadcasting, used by PRelu's slope).
func broadcastsTo(s, target []int) bool {
	if len(s) > len(target) {
		return false
	}
	off := len(target) - len(s)
	for i, d := range s {
		if d != 1 && d != target[off+i] {
			return false
		}
	}
	return true
}

// bcastPlan walks a broadcast output of shape out in row-major order and
// tells, for every run of consecutive output elements, where each operand's
// matching elements are. Dimensions of size 1 are dropped and neighbouring
// dimensions in which every operand is either full or broadcast are merged,
// so a per-channel operand [1,C,1,1] against [N,C,H,W] becomes three
// dimensions [N, C, H*W] with an inner run of H*W over a fixed element.
type bcastPlan struct {
	out  []int // the broadcast shape
	n    int   // elements of out
	dims []int // merged iteration dimensions, at least one
	// strides[k][d] is operand k's element step along merged dimension d:
	// 0 where the operand is broadcast, and 0 or 1 in the last dimension.
	strides [][]int
	// inc[k] is strides[k][last]: how operand k advances within a run.
	inc []int
}

// newBcastPlan plans the walk over out for operands of the given shapes,
// each of which must broadcast to out.
func newBcastPlan(out []int, shapes ...[]int) *bcastPlan {
	p := &bcastPlan{out: out, n: tensor.Size(out), strides: make([][]int, len(shapes))}
	r := len(out)
	// own[k][d] is operand k's contiguous stride along output dimension d,
	// 0 where it is broadcast; isFull[k][d] says it is not broadcast there.
	own := make([][]int, len(shapes))
	isFull := make([][]bool, len(shapes))
	for k, s := range shapes {
		st := tensor.Strides(s)
		own[k] = make([]int, r)
		isFull[k] = make([]bool, r)
		for d := range r {
			j := d - (r - len(s))
			if j >= 0 && s[j] != 1 {
				own[k][d] = st[j]
				isFull[k][d] = true
			}
		}
	}
	full := make([]bool, len(shapes))
	prev := make([]bool, len(shapes))
	for d := range r {
		if out[d] == 1 {
			continue
		}
		same := len(p.dims) > 0
		for k := range shapes {
			full[k] = isFull[k][d]
			if full[k] != prev[k] {
				same = false
			}
		}
		if same {
			last := len(p.dims) - 1
			p.dims[last] *= out[d]
			for k := range shapes {
				p.strides[k][last] = own[k][d]
			}
		} else {
			p.dims = append(p.dims, out[d])
			for k := range shapes {
				p.strides[k] = append(p.strides[k], own[k][d])
			}
		}
		copy(prev, full)
	}
	if len(p.dims) == 0 {
		p.dims = []int{1}
		for k := range shapes {
			p.strides[k] = []int{0}
		}
	}
	p.inc = make([]int, len(shapes))
	for k := range shapes {
		p.inc[k] = p.strides[k][len(p.dims)-1]
	}
	return p
}

// walk calls fn for consecutive runs covering output elements [lo, hi):
// the run is output elements [o, o+n), and operand k's elements are
// off[k], off[k]+inc[k], ... fn must not keep off.
func (p *bcastPlan) walk(lo, hi int, fn func(o, n int, off []int)) {
	if lo >= hi {
		return
	}
	nd := len(p.dims)
	last := nd - 1
	idx := make([]int, nd)
	off := make([]int, len(p.strides))
	rem := lo
	for d := last; d >= 0; d-- {
		idx[d] = rem % p.dims[d]
		rem /= p.dims[d]
	}
	for k, st := range p.strides {
		for d := range nd {
			off[k] += idx[d] * st[d]
		}
	}
	for o := lo; o < hi; {
		n := min(hi-o, p.dims[last]-idx[last])
		fn(o, n, off)
		o += n
		idx[last] += n
		for k, st := range p.strides {
			off[k] += n * st[last]
		}
		for d := last; d > 0 && idx[d] == p.dims[d]; d-- {
			for k, st := range p.strides {
				off[k] += st[d-1] - idx[d]*st[d]
			}
			idx[d] = 0
			idx[d-1]++
		}
	}
}

// elemGrain is the least number of elements worth a goroutine in the
// elementwise loops.
const elemGrain = 1 << 14

// each runs walk over the whole output, split across ctx's goroutines. fn
// must be safe to call concurrently for disjoint output ranges.
func (p *bcastPlan) each(ctx *Ctx, fn func(o, n int, off []int)) {
	parallelFor(ctx, p.n, elemGrain, func(lo, hi int) { p.walk(lo, hi, fn) })
}

// reduceTo sums g (whose shape s broadcasts to) back to shape s: the
// gradient of a broadcast. It returns g itself when the shapes are equal.
func reduceTo(g *tensor.Tensor, s []int) *tensor.Tensor {
	if tensor.EqualShape(g.Shape, s) {
		return g
	}
	acc := make([]float64, tensor.Size(s))
	p := newBcastPlan(g.Shape, s)
	p.walk(0, p.n, func(o, n int, off []int) {
		src := g.F[o : o+n]
		if p.inc[0] == 0 {
			sum := 0.0
			for _, v := range src {
				sum += float64(v)
			}
			acc[off[0]] += sum
			return
		}
		dst := acc[off[0] : off[0]+n]
		for i, v := range src {
			dst[i] += float64(v)
		}
	})
	out := tensor.Zeros(s...)
	for i, v := range acc {
		out.F[i] = float32(v)
	}
	return out
}

// broadcastTo returns t stretched to shape out (a copy; t itself when the
// shapes are equal).
func broadcastTo(ctx *Ctx, t *tensor.Tensor, out []int) *tensor.Tensor {
	if tensor.EqualShape(t.Shape, out) {
		return t
	}
	r := tensor.New(t.DType, out...)
	p := newBcastPlan(out, t.Shape)
	p.each(ctx, func(o, n int, off []int) {
		if t.DType == tensor.Int64 {
			for i := range n {
				r.I[o+i] = t.I[off[0]+i*p.inc[0]]
			}
			return
		}
		dst := r.F[o : o+n]
		if p.inc[0] == 0 {
			v := t.F[off[0]]
			for i := range dst {
				dst[i] = v
			}
			return
		}
		copy(dst, t.F[off[0]:off[0]+n])
	})
	return r
}
