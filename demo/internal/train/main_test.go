package main

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradcam/gradcam/demo"
	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/tensor"
)

// trained returns a network whose normalisation parameters are not the
// trivial γ = 1, β = 0, so that the tests below exercise them.
func trained(t *testing.T) *net {
	t.Helper()
	n := newNet(rand.New(rand.NewPCG(initSeed, 0)))
	r := rand.New(rand.NewPCG(5, 6))
	for k := range convs {
		for i := range n.params[bnName(k, "scale")].F {
			n.params[bnName(k, "scale")].F[i] = float32(0.5 + r.Float64())
			n.params[bnName(k, "bias")].F[i] = float32(r.NormFloat64() * 0.3)
		}
	}
	return n
}

func run(t *testing.T, m *engine.Model, x *tensor.Tensor, fetch ...string) map[string]*tensor.Tensor {
	t.Helper()
	res, err := m.Run(context.Background(), x, engine.Pass{Fetch: fetch})
	if err != nil {
		t.Fatal(err)
	}
	return res.Values
}

// TestFoldedEqualsNormalised checks the exported graph: with the running
// statistics set to one batch's, the folded convolutions give the logits
// that batch normalisation gives on that batch.
func TestFoldedEqualsNormalised(t *testing.T) {
	n := trained(t)
	const b = 8
	x := batchOf(preprocess(), demo.Generate(21, b))
	mt, err := engine.New(n.trainGraph(b))
	if err != nil {
		t.Fatal(err)
	}
	fetch := []string{"logits"}
	for k := range convs {
		fetch = append(fetch, bnName(k, "mean"), bnName(k, "var"))
	}
	v := run(t, mt, x, fetch...)
	n.trackStats(v, 1) // momentum 1: the batch's own statistics
	me, err := engine.New(n.exportGraph())
	if err != nil {
		t.Fatal(err)
	}
	got, want := run(t, me, x)["logits"], v["logits"]
	scale := 0.0
	for _, w := range want.F {
		scale = max(scale, math.Abs(float64(w)))
	}
	if d := tensor.MaxAbsDiff(got.F, want.F); d > 1e-3*max(scale, 1) {
		t.Errorf("folded logits differ by %g (largest logit %g)", d, scale)
	}
	// The batch statistics themselves, against a direct computation on the
	// first convolution's output.
	c := run(t, mt, x, "conv1")["conv1"]
	ch, hw := c.Shape[1], c.Shape[2]*c.Shape[3]
	for o := range ch {
		var s, s2 float64
		for i := range b {
			for _, a := range c.F[(i*ch+o)*hw : (i*ch+o+1)*hw] {
				s += float64(a)
				s2 += float64(a) * float64(a)
			}
		}
		cnt := float64(b * hw)
		mean, vr := s/cnt, s2/cnt-(s/cnt)*(s/cnt)
		if math.Abs(mean-float64(n.mean[0][o])) > 1e-4 || math.Abs(vr-float64(n.vr[0][o])) > 1e-3*max(vr, 1e-2) {
			t.Errorf("channel %d: mean %g var %g, want %g %g", o, n.mean[0][o], n.vr[0][o], mean, vr)
		}
	}
}

// TestGradient compares the engine's parameter gradients of the training
// loss with central differences along random directions, one parameter
// tensor at a time.
func TestGradient(t *testing.T) {
	n := trained(t)
	const b = 8
	g := n.trainGraph(b)
	s := demo.Generate(22, b)
	x, y := batchOf(preprocess(), s), classesOf(s)
	m, err := engine.New(g)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(context.Background(), x, engine.Pass{Backward: &engine.Backward{
		From: []string{"logits"},
		Seed: func(v []*tensor.Tensor) ([]*tensor.Tensor, error) {
			d, _, _ := crossEntropy(v[0], y)
			return []*tensor.Tensor{d}, nil
		},
		To: n.order,
	}})
	if err != nil {
		t.Fatal(err)
	}
	loss := func() float64 {
		m, err := engine.New(g) // a new model sees the moved weights
		if err != nil {
			t.Fatal(err)
		}
		_, l, _ := crossEntropy(run(t, m, x)["logits"], y)
		return l
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, name := range n.order {
		p := n.params[name]
		// A random unit direction, and a step that moves each weight by
		// about 0.1% of the weights' root mean square: large against the
		// float32 rounding of the loss, small against the curvature and
		// the ReLU kinks.
		d := make([]float64, len(p.F))
		dn := 0.0
		for i := range d {
			d[i] = r.NormFloat64()
			dn += d[i] * d[i]
		}
		want, norm := 0.0, 0.0
		for i := range d {
			d[i] /= math.Sqrt(dn)
			want += d[i] * float64(res.Grads[name].F[i])
			norm += float64(p.F[i]) * float64(p.F[i])
		}
		h := 1e-3 * max(math.Sqrt(norm), 1)
		move := func(s float64) {
			for i := range d {
				p.F[i] += float32(s * h * d[i])
			}
		}
		orig := append([]float32(nil), p.F...)
		move(1)
		lp := loss()
		copy(p.F, orig)
		move(-1)
		lm := loss()
		copy(p.F, orig)
		got := (lp - lm) / (2 * h)
		if !(math.Abs(got-want) <= 0.03*math.Abs(want)+1e-4) {
			t.Errorf("%s: directional derivative %g, finite difference %g", name, want, got)
		}
	}
}

func TestCrossEntropy(t *testing.T) {
	z := tensor.FromFloat32([]int{2, 3}, []float32{0, 0, 0, 1, 2, 3})
	g, loss, acc := crossEntropy(z, []int{1, 2})
	// Row 1: uniform, loss ln 3; row 2: loss ln(e+e²+e³) - 3.
	want := (math.Log(3) + math.Log(math.E+math.Exp(2)+math.Exp(3)) - 3) / 2
	if math.Abs(loss-want) > 1e-6 {
		t.Errorf("loss %g, want %g", loss, want)
	}
	if acc != 0.5 {
		t.Errorf("accuracy %g, want 0.5 (row 1 ties go to class 0)", acc)
	}
	// Each row of the gradient sums to 0; the true class's is p - 1, / 2.
	if d := float64(g.F[1]) - (1.0/3-1)/2; math.Abs(d) > 1e-6 {
		t.Errorf("gradient %v", g.F)
	}
	for i := range 2 {
		s := g.F[3*i] + g.F[3*i+1] + g.F[3*i+2]
		if math.Abs(float64(s)) > 1e-6 {
			t.Errorf("row %d of the gradient sums to %g", i, s)
		}
	}
}
