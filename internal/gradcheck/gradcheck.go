// Package gradcheck tests an operator's backward pass against central finite
// differences of its forward pass.
//
// The scalar under test is L = sum_j <R_j, out_j> with fixed random R_j,
// accumulated in float64. The analytic gradient is Backward with gradOut =
// R; the numeric one is (L(x+h) - L(x-h)) / 2h per input element.
package gradcheck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// Options tunes a check. Zero values take the defaults.
type Options struct {
	Step     float64 // finite-difference step h (default 1e-2)
	RelTol   float64 // relative tolerance (default 2e-2)
	AbsTol   float64 // absolute tolerance, scaled by 1+max|grad| (default 2e-3)
	MaxElems int     // elements probed per input, chosen at random (default 300)
	Seed     uint64
}

// Rand returns a float32 tensor of the given shape with values uniform in
// [lo, hi), from a seeded generator.
func Rand(r *rand.Rand, lo, hi float32, shape ...int) *tensor.Tensor {
	t := tensor.Zeros(shape...)
	for i := range t.F {
		t.F[i] = lo + (hi-lo)*r.Float32()
	}
	return t
}

// Check fails tb when op's Backward disagrees with finite differences for
// any float32 input i with need[i].
func Check(tb testing.TB, op ops.Differentiable, in []*tensor.Tensor, need []bool, o Options) {
	tb.Helper()
	if err := check(op, in, need, o); err != nil {
		tb.Error(err)
	}
}

func loss(op ops.Op, in []*tensor.Tensor, r []*tensor.Tensor) (float64, error) {
	out, err := op.Forward(nil, in)
	if err != nil {
		return 0, err
	}
	s := 0.0
	for j, o := range out {
		if r[j] == nil {
			continue
		}
		for e, v := range o.F {
			s += float64(v) * float64(r[j].F[e])
		}
	}
	return s, nil
}

func check(op ops.Differentiable, in []*tensor.Tensor, need []bool, o Options) error {
	if o.Step == 0 {
		o.Step = 1e-2
	}
	if o.RelTol == 0 {
		o.RelTol = 2e-2
	}
	if o.AbsTol == 0 {
		o.AbsTol = 2e-3
	}
	if o.MaxElems == 0 {
		o.MaxElems = 300
	}
	rng := rand.New(rand.NewPCG(o.Seed, 77))
	out, err := op.Forward(nil, in)
	if err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	r := make([]*tensor.Tensor, len(out))
	for j, t := range out {
		if t == nil || t.DType != tensor.Float32 {
			continue
		}
		r[j] = Rand(rng, -1, 1, t.Shape...)
	}
	grads, err := op.Backward(nil, in, out, r, need)
	if err != nil {
		return fmt.Errorf("backward: %w", err)
	}
	for i, x := range in {
		if i >= len(need) || !need[i] || x == nil || x.DType != tensor.Float32 {
			continue
		}
		if i >= len(grads) || grads[i] == nil {
			return fmt.Errorf("input %d: no gradient returned", i)
		}
		g := grads[i]
		if !tensor.EqualShape(g.Shape, x.Shape) {
			return fmt.Errorf("input %d: gradient shape %v, input shape %v", i, g.Shape, x.Shape)
		}
		maxg := 0.0
		for _, v := range g.F {
			maxg = math.Max(maxg, math.Abs(float64(v)))
		}
		idx := rng.Perm(len(x.F))
		if len(idx) > o.MaxElems {
			idx = idx[:o.MaxElems]
		}
		// Work on a copy so the caller's tensor is untouched.
		xc := x.Clone()
		args := append([]*tensor.Tensor(nil), in...)
		args[i] = xc
		bad := 0
		var first string
		for _, e := range idx {
			orig := xc.F[e]
			h := o.Step * math.Max(1, math.Abs(float64(orig)))
			xc.F[e] = float32(float64(orig) + h)
			hp := float64(xc.F[e]) - float64(orig)
			lp, err := loss(op, args, r)
			if err != nil {
				return err
			}
			xc.F[e] = float32(float64(orig) - h)
			hm := float64(orig) - float64(xc.F[e])
			lm, err := loss(op, args, r)
			if err != nil {
				return err
			}
			xc.F[e] = orig
			num := (lp - lm) / (hp + hm)
			ana := float64(g.F[e])
			tol := o.AbsTol*(1+maxg) + o.RelTol*math.Max(math.Abs(num), math.Abs(ana))
			if math.Abs(num-ana) > tol || math.IsNaN(ana) {
				if bad == 0 {
					first = fmt.Sprintf("element %d: numeric %.6g, analytic %.6g", e, num, ana)
				}
				bad++
			}
		}
		if bad > 0 {
			return fmt.Errorf("input %d (shape %v): %d of %d probed elements disagree; first %s", i, x.Shape, bad, len(idx), first)
		}
	}
	return nil
}
