package ops

// Pad (ONNX Pad): pads and value attributes before opset 11 (paddings in
// opset 1); since then inputs pads, constant_value (optional) and, since
// opset 18, axes (optional). Modes constant, reflect, edge and wrap (opset
// 19), as numpy.pad defines them; negative pads crop.

import (
	"fmt"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("Pad", newPad)
}

type padMode uint8

const (
	padConstant padMode = iota
	padReflect
	padEdge
	padWrap
)

type padOp struct {
	mode     padMode
	attrs    bool    // opset < 11: pads and value are attributes
	pads     []int64 // attribute pads
	value    float32 // attribute value
	modeName string
}

func newPad(n *graph.Node, opset int64) (Op, error) {
	op := &padOp{modeName: n.AttrString("mode", "constant")}
	switch op.modeName {
	case "constant":
		op.mode = padConstant
	case "reflect":
		op.mode = padReflect
	case "edge":
		op.mode = padEdge
	case "wrap":
		op.mode = padWrap
	default:
		return nil, fmt.Errorf("Pad: unsupported mode %q", op.modeName)
	}
	if opset < 11 {
		op.attrs = true
		op.pads = n.AttrInts("pads", nil)
		if op.pads == nil {
			op.pads = n.AttrInts("paddings", nil) // opset 1
		}
		if op.pads == nil {
			return nil, fmt.Errorf("Pad: pads attribute is required before opset 11")
		}
		op.value = n.AttrFloat("value", 0)
	}
	return op, nil
}

// padGeom is a padding resolved against an input shape: the output shape
// and, per dimension, the input coordinate each output coordinate reads
// (-1 where a constant is written).
type padGeom struct {
	out   []int
	begin []int // pads before each dimension
	maps  [][]int
}

// geometry resolves pads (begins then ends, for the listed axes or all)
// against shape s.
func (op *padOp) geometry(s []int, pads, axes []int64) (*padGeom, error) {
	r := len(s)
	var ax []int
	if axes == nil {
		ax = make([]int, r)
		for i := range ax {
			ax[i] = i
		}
	} else {
		var err error
		if ax, err = dataAxes(axes, r); err != nil {
			return nil, fmt.Errorf("Pad: %w", err)
		}
	}
	if len(pads) != 2*len(ax) {
		return nil, fmt.Errorf("Pad: %d pads for %d axes", len(pads), len(ax))
	}
	begin, end := make([]int, r), make([]int, r)
	for i, a := range ax {
		begin[a], end[a] = int(pads[i]), int(pads[len(ax)+i])
	}
	g := &padGeom{out: make([]int, r), begin: begin, maps: make([][]int, r)}
	for d, n := range s {
		o := n + begin[d] + end[d]
		if o < 0 {
			return nil, fmt.Errorf("Pad: pads %v crop dimension %d of %v below zero", pads, d, s)
		}
		if n == 0 && o > 0 && op.mode != padConstant {
			return nil, fmt.Errorf("Pad: %s mode cannot pad the empty dimension %d of %v", op.modeName, d, s)
		}
		g.out[d] = o
		m := make([]int, o)
		for j := range m {
			m[j] = op.source(j-begin[d], n)
		}
		g.maps[d] = m
	}
	return g, nil
}

// source maps coordinate c, possibly outside [0, n), to the input
// coordinate it copies, or -1 for the constant.
func (op *padOp) source(c, n int) int {
	if c >= 0 && c < n {
		return c
	}
	switch op.mode {
	case padEdge:
		return min(max(c, 0), n-1)
	case padReflect:
		// Mirror about the first and last elements without repeating them:
		// a periodic pattern of period 2(n-1).
		if n == 1 {
			return 0
		}
		p := 2 * (n - 1)
		c %= p
		if c < 0 {
			c += p
		}
		if c >= n {
			c = p - c
		}
		return c
	case padWrap:
		c %= n
		if c < 0 {
			c += n
		}
		return c
	}
	return -1
}

// params reads pads, axes and the constant from attributes or inputs.
func (op *padOp) params(in []*tensor.Tensor) (pads, axes []int64, err error) {
	if op.attrs {
		return op.pads, nil, checkArity("Pad", len(in), 1, 1)
	}
	if err := checkArity("Pad", len(in), 2, 4); err != nil {
		return nil, nil, err
	}
	if !tensorGiven(in, 1) {
		return nil, nil, fmt.Errorf("Pad: pads input is required")
	}
	if tensorGiven(in, 3) {
		axes = in[3].Int64s()
	}
	return in[1].Int64s(), axes, nil
}

func (op *padOp) Infer(in []Value) ([]Value, error) {
	var pads, axes []int64
	if op.attrs {
		if err := checkArity("Pad", len(in), 1, 1); err != nil {
			return nil, err
		}
		pads = op.pads
	} else {
		if err := checkArity("Pad", len(in), 2, 4); err != nil {
			return nil, err
		}
		var err error
		if pads, err = constInput(in, 1, "Pad: pads"); err != nil {
			return nil, err
		}
		if valueGiven(in, 3) {
			if axes, err = constInput(in, 3, "Pad: axes"); err != nil {
				return nil, err
			}
		}
	}
	g, err := op.geometry(in[0].Shape, pads, axes)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: in[0].DType, Shape: g.out}}, nil
}

func (op *padOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	pads, axes, err := op.params(in)
	if err != nil {
		return nil, err
	}
	x := in[0]
	g, err := op.geometry(x.Shape, pads, axes)
	if err != nil {
		return nil, err
	}
	out := tensor.New(x.DType, g.out...)
	var cv *tensor.Tensor
	if !op.attrs && tensorGiven(in, 2) && in[2].Len() > 0 { // empty means the default, 0
		cv = in[2]
		if cv.Len() != 1 {
			return nil, fmt.Errorf("Pad: constant_value holds %d values, want 1", cv.Len())
		}
	}
	if x.DType == tensor.Int64 {
		v := int64(op.value)
		if cv != nil {
			v = cv.Int64s()[0]
		}
		padForward(ctx, out.I, x.I, x.Shape, g, v)
	} else {
		v := op.value
		if cv != nil {
			v = cv.Float32s()[0]
		}
		padForward(ctx, out.F, x.F, x.Shape, g, v)
	}
	return []*tensor.Tensor{out}, nil
}

// padRow finds, for the output row at multi-index idx (all dimensions but
// the last), the offset of the input row it reads, or -1 when the row lies
// in the constant border.
func padRow(g *padGeom, st, idx []int) int {
	base := 0
	for k, i := range idx {
		m := g.maps[k][i]
		if m < 0 {
			return -1
		}
		base += m * st[k]
	}
	return base
}

// forRows calls fn for the output rows [lo, hi) with their multi-indices.
func forRows(out []int, lo, hi int, fn func(row int, idx []int)) {
	r := len(out)
	idx := make([]int, r-1)
	rem := lo
	for k := r - 2; k >= 0; k-- {
		idx[k] = rem % out[k]
		rem /= out[k]
	}
	for row := lo; row < hi; row++ {
		fn(row, idx)
		for k := r - 2; k >= 0; k-- {
			idx[k]++
			if idx[k] < out[k] {
				break
			}
			idx[k] = 0
		}
	}
}

func padForward[T moveElem](ctx *Ctx, dst, src []T, s []int, g *padGeom, value T) {
	if len(s) == 0 {
		copy(dst, src)
		return
	}
	r := len(s)
	inner := g.out[r-1]
	rows := tensor.Size(g.out[:r-1])
	if inner == 0 || rows == 0 {
		return
	}
	st := tensor.Strides(s)
	last := g.maps[r-1]
	// The run of the last dimension that copies the input row unchanged.
	b := g.begin[r-1]
	lo := min(max(b, 0), inner)
	hi := max(min(b+s[r-1], inner), lo)
	parallelFor(ctx, rows, max(1, moveGrain/inner), func(r0, r1 int) {
		forRows(g.out, r0, r1, func(row int, idx []int) {
			d := dst[row*inner : (row+1)*inner]
			base := padRow(g, st, idx)
			if base < 0 {
				for j := range d {
					d[j] = value
				}
				return
			}
			for j := 0; j < lo; j++ {
				d[j] = pick(src, base, last[j], value)
			}
			copy(d[lo:hi], src[base+lo-b:base+hi-b])
			for j := hi; j < inner; j++ {
				d[j] = pick(src, base, last[j], value)
			}
		})
	})
}

func pick[T moveElem](src []T, base, m int, value T) T {
	if m < 0 {
		return value
	}
	return src[base+m]
}

// Backward adds each output gradient element into the input element it
// was copied from; in constant mode the elements written with the
// constant make up the gradient of constant_value.
func (op *padOp) Backward(_ *Ctx, in, _, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	x := in[0]
	wantX := wants(need, 0) && floatData(x)
	wantV := !op.attrs && wants(need, 2) && tensorGiven(in, 2) && floatData(in[2]) && in[2].Len() == 1
	if !wantX && !wantV {
		return grads, nil
	}
	pads, axes, err := op.params(in)
	if err != nil {
		return nil, err
	}
	g, err := op.geometry(x.Shape, pads, axes)
	if err != nil {
		return nil, err
	}
	gx := tensor.Zeros(x.Shape...)
	var gv float64
	if gout := gradOut[0]; gout != nil {
		if len(x.Shape) == 0 {
			copy(gx.F, gout.F)
		} else if r := len(x.Shape); g.out[r-1] > 0 {
			inner := g.out[r-1]
			st := tensor.Strides(x.Shape)
			last := g.maps[r-1]
			forRows(g.out, 0, tensor.Size(g.out[:r-1]), func(row int, idx []int) {
				src := gout.F[row*inner : (row+1)*inner]
				base := padRow(g, st, idx)
				if base < 0 {
					for _, v := range src {
						gv += float64(v)
					}
					return
				}
				for j, v := range src {
					if m := last[j]; m >= 0 {
						gx.F[base+m] += v
					} else {
						gv += float64(v)
					}
				}
			})
		}
	}
	if wantX {
		grads[0] = gx
	}
	if wantV {
		grads[2] = tensor.FromFloat32(in[2].Shape, []float32{float32(gv)})
	}
	return grads, nil
}
