package cam

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// Score-CAM's masked inputs are x⊙m, with m the corner-aligned bilinear
// upsampling of an h x w map a, min-max normalised. Upsampling is linear
// and its weights at every pixel sum to one, so m = Σ_q c_q B_q with B_q
// the upsampled unit map of position q and c_q = (a_q - min)/(max - min
// + eps). When the ops from the model's input to a tensor T are affine in
// the input (convolutions, batch normalisations, transposes, arithmetic
// with constants: T(x) = L(x) + T(0)),
//
//	T(x⊙m) = T(0) + Σ_q c_q (T(x⊙B_q) - T(0)),
//
// and T(x⊙B_q) - T(0) is zero outside the part of T that the support of
// B_q reaches: about (2 + kernel/spacing)² of the h*w terms at each
// value of T. So Score-CAM computes T(0) and the h*w T(x⊙B_q) of an image
// once, in h*w+1 runs of the stem alone, and gives each masked run T(x⊙m)
// (through the activation that reads T, when it is a Relu or a Clip, and
// the pooling after it) instead of the masked input: ResNet50's 7x7
// stride-2 convolution and its unfold are about 4% of a forward pass, its
// max pool 0.4%; the sums take a few axpy a value. Channels whose masks
// have the same coefficients share a run (a constant channel has all
// zeros). The scores differ from the plain computation's by rounding only
// (TestScoreCAMStem).

// scoreCAMStem enables the linear stem; scoreCAMStemMin is the least
// number of channels explained per basis map (h*w+1) for which it is
// taken, and stemMaxOverlap the most values of the parts per value of T
// (ResNet50: 4.7; kernels wide against the spacing of the activation map
// make it grow) for which it is kept. Variables for the tests.
var (
	scoreCAMStem    = true
	scoreCAMStemMin = 2
	stemMaxOverlap  = 16.0
)

// linearStem is the affine start of a model (see above).
type linearStem struct {
	out     string   // T, the last tensor of the affine ops from the input
	replace string   // what the runs replace: T, or the output of the ops below
	clamp   bool     // T is clamped to [lo, hi]: by the Relu or Clip that alone reads T
	lo, hi  float32  // clamp bounds
	pool    ops.Into // then pooled (per plane) by the MaxPool or AveragePool that alone reads it, or nil
}

// linearStem returns the affine start of the model from tensor input, or
// nil when the input does not go through a convolution before a
// nonlinear op (or a tensor of it is read twice or is a graph output).
func (gi *graphInfo) linearStem(input string) *linearStem {
	outs := map[string]bool{}
	for _, o := range gi.g.Outputs {
		outs[o.Name] = true
	}
	t, conv := input, false
	for {
		cons := gi.consumers[t]
		if len(cons) != 1 || outs[t] || !gi.affineIn(cons[0], t) {
			break
		}
		conv = conv || cons[0].OpType == "Conv"
		t = cons[0].Outputs[0]
	}
	if !conv {
		return nil
	}
	s := &linearStem{out: t, replace: t, lo: float32(math.Inf(-1)), hi: float32(math.Inf(1))}
	if cons := gi.consumers[t]; len(cons) == 1 && !outs[t] && len(cons[0].Outputs) == 1 {
		switch n := cons[0]; n.OpType {
		case "Relu":
			s.replace, s.clamp, s.lo = n.Outputs[0], true, 0
		case "Clip":
			if lo, hi, ok := gi.clipBounds(n); ok {
				s.replace, s.clamp, s.lo, s.hi = n.Outputs[0], true, lo, hi
			}
		}
	}
	// A pooling next (ResNet's max pool) shrinks what the runs write and
	// the engine reads fourfold.
	if cons := gi.consumers[s.replace]; len(cons) == 1 && !outs[s.replace] && len(cons[0].Outputs) == 1 {
		if n := cons[0]; n.OpType == "MaxPool" || n.OpType == "AveragePool" {
			if op, err := ops.New(n, gi.g.Opset()); err == nil {
				if into, ok := op.(ops.Into); ok {
					s.replace, s.pool = n.Outputs[0], into
				}
			}
		}
	}
	return s
}

// affineIn reports whether node n's output is an affine function of its
// input t, its other inputs being constants.
func (gi *graphInfo) affineIn(n *graph.Node, t string) bool {
	if len(n.Outputs) == 0 || n.Outputs[0] == "" {
		return false
	}
	for _, o := range n.Outputs[1:] {
		if o != "" {
			return false
		}
	}
	data := -1
	for i, in := range n.Inputs {
		switch {
		case in == t && data < 0:
			data = i
		case in == t:
			return false // t·t is not affine
		case in != "" && !gi.isConstant(in):
			return false
		}
	}
	switch n.OpType {
	case "Conv", "BatchNormalization", "Div":
		return data == 0 && (n.OpType != "BatchNormalization" || n.AttrInt("training_mode", 0) == 0)
	case "Transpose", "Identity", "Add", "Sub", "Mul":
		return data >= 0
	}
	return false
}

// isConstant reports whether name is an initializer or a Constant node's
// output, without reading released weights back (see engine.Model.Constant).
func (gi *graphInfo) isConstant(name string) bool {
	if _, ok := gi.g.Initializers[name]; ok {
		return true
	}
	n := gi.producers[name]
	return n != nil && n.OpType == "Constant"
}

// clipBounds returns the bounds of a Clip node: attributes before opset
// 11, constant inputs since (an omitted one is unbounded).
func (gi *graphInfo) clipBounds(n *graph.Node) (lo, hi float32, ok bool) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	if n.Attr("min") != nil || n.Attr("max") != nil {
		return n.AttrFloat("min", lo), n.AttrFloat("max", hi), true
	}
	for i, p := range []*float32{&lo, &hi} {
		name := n.Input(i + 1)
		if name == "" {
			continue
		}
		c := gi.constant(name)
		if c == nil || c.DType != tensor.Float32 || len(c.F) != 1 {
			return 0, 0, false
		}
		*p = c.F[0]
	}
	return lo, hi, true
}

// stemBasis holds T(0) and T(x⊙B_q) - T(0) of one image (see above).
type stemBasis struct {
	c, h, w int        // T's channels, height and width
	oh, ow  int        // the replaced tensor's height and width (pooled)
	t0      []float32  // T(0), c*h*w
	rects   []stemRect // per position q of the activation map
}

// stemRect is T(x⊙B_q) - T(0) in the rectangle of T's planes outside which
// it is zero: rows [y0, y1), columns [x0, x1), v holding c planes of them.
type stemRect struct {
	y0, y1, x0, x1 int
	v              []float32
}

// stemRuns computes the stemBasis of image src (one image of the input)
// for activation maps of p positions resized by rz: T(0) and the
// T(x⊙B_q) in runs of the stem alone, in batches of batch's size (batch's
// contents are overwritten). It returns nil when T is not a rank-4 float
// tensor.
func (j *job) stemRuns(ctx context.Context, st *linearStem, rz *resizer, src []float32, p int, batch *tensor.Tensor) (*stemBasis, error) {
	bs := batch.Shape[0]
	img := len(src)
	unit := make([]float32, p)
	mask := make([]float32, j.H*j.W)
	var b *stemBasis
	for first := 0; first <= p; first += bs {
		// Input first+s is the image masked by B_(first+s-1); input 0 by
		// the zero map.
		clear(batch.F)
		for s := range min(bs, p+1-first) {
			if q := first + s - 1; q >= 0 {
				unit[q] = 1
				rz.resize(mask, unit)
				unit[q] = 0
				j.maskImage(batch.F[s*img:(s+1)*img], src, mask)
			}
		}
		r, err := j.e.m.Run(ctx, batch, engine.Pass{Fetch: []string{st.out}})
		if err != nil {
			return nil, err
		}
		t := r.Values[st.out]
		if t == nil || t.DType != tensor.Float32 || len(t.Shape) != 4 || t.Shape[0] != bs {
			return nil, nil
		}
		if b == nil {
			b = &stemBasis{c: t.Shape[1], h: t.Shape[2], w: t.Shape[3], rects: make([]stemRect, p)}
			b.oh, b.ow = b.h, b.w
			if st.pool != nil {
				v, err := st.pool.Infer([]ops.Value{{DType: tensor.Float32, Shape: []int{1, 1, b.h, b.w}}})
				if err != nil || len(v) != 1 || len(v[0].Shape) != 4 {
					return nil, nil
				}
				b.oh, b.ow = v[0].Shape[2], v[0].Shape[3]
			}
		}
		size := b.c * b.h * b.w
		for s := range min(bs, p+1-first) {
			v := t.F[s*size : (s+1)*size]
			if first+s == 0 {
				b.t0 = append([]float32(nil), v...)
				continue
			}
			b.rects[first+s-1] = b.rect(v)
		}
	}
	return b, nil
}

// rect returns v - T(0) in the rectangle of its nonzero values.
func (b *stemBasis) rect(v []float32) stemRect {
	hw := b.h * b.w
	r := stemRect{y0: b.h, x0: b.w}
	for ch := range b.c {
		for y := range b.h {
			row, t0 := v[ch*hw+y*b.w:][:b.w], b.t0[ch*hw+y*b.w:][:b.w]
			for x, u := range row {
				if u-t0[x] != 0 {
					r.y0, r.y1 = min(r.y0, y), max(r.y1, y+1)
					r.x0, r.x1 = min(r.x0, x), max(r.x1, x+1)
				}
			}
		}
	}
	if r.y0 >= r.y1 {
		return stemRect{}
	}
	// Whole vectors of 8 a row for ops.AxpyRows: the rectangle widened
	// (its values there are zeros) to the right, else to the left.
	if cols := (r.x1 - r.x0 + 7) &^ 7; cols <= b.w {
		r.x1 = r.x0 + cols
		if r.x1 > b.w {
			r.x0, r.x1 = b.w-cols, b.w
		}
	}
	rows, cols := r.y1-r.y0, r.x1-r.x0
	r.v = make([]float32, b.c*rows*cols)
	for ch := range b.c {
		for y := r.y0; y < r.y1; y++ {
			d := r.v[(ch*rows+y-r.y0)*cols:][:cols]
			row, t0 := v[ch*hw+y*b.w+r.x0:][:cols], b.t0[ch*hw+y*b.w+r.x0:][:cols]
			for x := range d {
				d[x] = row[x] - t0[x]
			}
		}
	}
	return r
}

// overlap returns how many values the rectangles hold, per value of T.
func (b *stemBasis) overlap() float64 {
	n := 0
	for _, r := range b.rects {
		n += len(r.v)
	}
	return float64(n) / float64(b.c*b.h*b.w)
}

// compose writes into z (one image of the replaced tensor) plane ch of
// T(x⊙m) for m = Σ_q coef[q] B_q, through st's clamp and pooling; plane
// is scratch for one plane of T when st pools.
func (b *stemBasis) compose(st *linearStem, z, coef []float32, ch int, plane []float32) error {
	hw, ohw := b.h*b.w, b.oh*b.ow
	zp := z[ch*ohw : (ch+1)*ohw]
	if st.pool != nil {
		zp = plane
	}
	copy(zp, b.t0[ch*hw:(ch+1)*hw])
	for q, r := range b.rects {
		if a := coef[q]; a != 0 && r.v != nil {
			rows, cols := r.y1-r.y0, r.x1-r.x0
			ops.AxpyRows(zp[r.y0*b.w+r.x0:], b.w, r.v[ch*rows*cols:], cols, a, rows, cols)
		}
	}
	if st.clamp {
		ops.Clamp(zp, st.lo, st.hi)
	}
	if st.pool == nil {
		return nil
	}
	in := []*tensor.Tensor{tensor.FromFloat32([]int{1, 1, b.h, b.w}, zp)}
	if ok, err := st.pool.ForwardInto(stemSerial, in, z[ch*ohw:(ch+1)*ohw]); err != nil || !ok {
		return fmt.Errorf("cam: Score-CAM: pooling the stem: %v", err)
	}
	return nil
}

// stemSerial is the context of the pooling in compose, which runs on the
// threads composeBatch starts.
var stemSerial = &ops.Ctx{Threads: 1}

// stemCoef returns the coefficients c_q of Score-CAM's mask of map a (see
// above): (a_q - min)/(max - min + eps), min and max those of a resized by
// rz, as scoreCAMMask takes them (NaN coefficients for a map with a NaN).
// Within a cell of the source grid, the resized values along an output
// row are monotone in the interpolation weight (each step of p + f(q-p)
// rounds monotonically), so the extremes along a row are at the first or
// last column of a cell; along a column they are, up to rounding, at the
// first or last row. stemCoef takes them there (rz.extremes): 144 values
// for ResNet50's 7x7 to 224x224 instead of 50176.
func stemCoef(rz *resizer, a []float32) []float32 {
	coef := make([]float32, len(a))
	lo, hi, ok := rz.extremes(a)
	if !ok {
		for q := range coef {
			coef[q] = float32(math.NaN())
		}
		return coef
	}
	lo64, d := minMaxShift(lo, hi, scoreCAMEps)
	for q, v := range a {
		coef[q] = float32((float64(v) - lo64) / d)
	}
	return coef
}

// stemSlot is one masked input of a batch for the linear stem: its image
// and the coefficients of its mask.
type stemSlot struct {
	image int
	coef  []float32
}

// composeBatch writes the slots' T(x⊙m) into z, one image each, threads
// goroutines (0: the model's Threads) sharing the channels.
func (j *job) composeBatch(st *linearStem, bases map[int]*stemBasis, slots []stemSlot, z []float32, threads int) error {
	if len(slots) == 0 {
		return nil
	}
	b0 := bases[slots[0].image]
	size := b0.c * b0.oh * b0.ow
	for _, s := range slots {
		if b := bases[s.image]; b == nil || b.c*b.oh*b.ow != size {
			return fmt.Errorf("cam: Score-CAM: image %d has no stem basis", s.image)
		}
	}
	if threads <= 0 {
		threads = j.threads()
	}
	threads = min(threads, b0.c)
	errs := make([]error, threads)
	var wg sync.WaitGroup
	for t := range threads {
		c0, c1 := t*b0.c/threads, (t+1)*b0.c/threads
		wg.Go(func() {
			var plane []float32
			if st.pool != nil {
				plane = make([]float32, b0.h*b0.w)
			}
			// A channel's parts (ResNet50: 230 KB) stay in the cache
			// for all the slots.
			for ch := c0; ch < c1 && errs[t] == nil; ch++ {
				for k, s := range slots {
					if err := bases[s.image].compose(st, z[k*size:(k+1)*size], s.coef, ch, plane); err != nil {
						errs[t] = err
						break
					}
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
