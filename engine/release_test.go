package engine_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/tensor"
)

// sameBits fails unless got and want hold the same float32 bits.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: value %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestReleaseWeights checks Model.ReleaseWeights on the small residual
// network: a forward releases the data of the weights its fused
// convolutions hold packed (not those folded with a BatchNormalization, of
// the depthwise convolution or of the dense layer), with the bits of a
// model that keeps them; Constant and a backward pass through the layers
// get them back bit for bit, and the gradients match too.
func TestReleaseWeights(t *testing.T) {
	g := resNet(rand.New(rand.NewPCG(21, 22)))
	orig := map[string][]float32{}
	for name, w := range g.Initializers {
		orig[name] = slices.Clone(w.F)
	}
	plain, err := engine.New(resNet(rand.New(rand.NewPCG(21, 22))))
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.New(g)
	if err != nil {
		t.Fatal(err)
	}
	m.ReleaseWeights = true
	ctx := context.Background()
	x := randT(rand.New(rand.NewPCG(23, 24)), 2, 4, 9, 11)
	run := func(m *engine.Model, p engine.Pass) *engine.Result {
		t.Helper()
		r, err := m.Run(ctx, x, p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	want := run(plain, engine.Pass{}).Values["logits"]
	for i := range 2 {
		got := run(m, engine.Pass{}).Values["logits"]
		sameBits(t, "logits", got.F, want.F)
		if i == 0 {
			for _, name := range []string{"w2", "w3", "w4"} {
				if g.Initializers[name].F != nil {
					t.Errorf("%s is still held after a forward", name)
				}
			}
			for _, name := range []string{"w1", "wd", "fw"} {
				sameBits(t, name+" (kept)", g.Initializers[name].F, orig[name])
			}
		}
	}
	sameBits(t, "Constant(w2)", m.Constant("w2").F, orig["w2"])
	sameBits(t, "w2 after Constant", g.Initializers["w2"].F, orig["w2"])

	back := engine.Pass{Backward: &engine.Backward{From: []string{"logits"}, Seed: seedClass(3), To: []string{"x", "a1"}}}
	wantG := run(plain, back)
	gotG := run(m, back)
	for _, name := range []string{"x", "a1"} {
		sameBits(t, "gradient of "+name, gotG.Grads[name].F, wantG.Grads[name].F)
	}
	for _, name := range []string{"w3", "w4"} {
		sameBits(t, name+" after a backward pass", g.Initializers[name].F, orig[name])
	}
	// Read once, the weights stay.
	run(m, engine.Pass{})
	for _, name := range []string{"w2", "w3", "w4"} {
		sameBits(t, name+" after another forward", g.Initializers[name].F, orig[name])
	}
}

// TestReleaseWeightsConcurrent runs forwards and backward passes of a
// model releasing its weights at once (run it with -race): every result
// must equal the plain model's.
func TestReleaseWeightsConcurrent(t *testing.T) {
	plain, err := engine.New(resNet(rand.New(rand.NewPCG(31, 32))))
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.New(resNet(rand.New(rand.NewPCG(31, 32))))
	if err != nil {
		t.Fatal(err)
	}
	m.ReleaseWeights = true
	ctx := context.Background()
	x := randT(rand.New(rand.NewPCG(33, 34)), 1, 4, 9, 11)
	back := engine.Pass{Backward: &engine.Backward{From: []string{"logits"}, Seed: seedClass(2), To: []string{"x"}}}
	wantF, err := plain.Run(ctx, x, engine.Pass{})
	if err != nil {
		t.Fatal(err)
	}
	wantB, err := plain.Run(ctx, x, back)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := engine.Pass{}
			if i%2 == 1 {
				p = back
			}
			r, err := m.Run(ctx, x, p)
			if err != nil {
				errs <- err.Error()
				return
			}
			got, want := r.Values["logits"], wantF.Values["logits"]
			if i%2 == 1 {
				got, want = r.Grads["x"], wantB.Grads["x"]
			}
			if tensor.MaxAbsDiff(got.F, want.F) != 0 {
				errs <- "a result differs from the plain model's"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
