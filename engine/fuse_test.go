package engine_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/shared"
	"github.com/gradcam/gradcam/tensor"
)

func floatAttr(name string, v float32) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrFloat, F: v}
}

// resNet is a small network with every fusable pattern: Conv →
// BatchNormalization → Relu; a residual block whose Add reads two
// convolutions (only one may take it); a depthwise Conv → Clip; a
// 1x1 Conv whose output is added to an earlier activation, without
// activation; then a classifier head.
func resNet(r *rand.Rand) *graph.Graph {
	b := newBuilder("x", -1, 4, 9, 11)
	pad1 := ints("pads", 1, 1, 1, 1)
	b.node("Conv", "conv1", []string{"x", b.init("w1", randT(r, 6, 4, 3, 3))}, []string{"c1"}, pad1)
	vr := randT(r, 6)
	for i := range vr.F {
		vr.F[i] = vr.F[i]*vr.F[i] + 0.5
	}
	b.node("BatchNormalization", "bn1", []string{"c1", b.init("s1", randT(r, 6)), b.init("b1", randT(r, 6)), b.init("m1", randT(r, 6)), b.init("v1", vr)},
		[]string{"n1"}, floatAttr("epsilon", 1e-3))
	b.node("Relu", "relu1", []string{"n1"}, []string{"a1"})
	b.node("Conv", "conv2", []string{"a1", b.init("w2", randT(r, 6, 6, 1, 1)), b.init("bb2", randT(r, 6))}, []string{"c2"})
	b.node("Conv", "conv3", []string{"a1", b.init("w3", randT(r, 6, 6, 3, 3)), b.init("bb3", randT(r, 6))}, []string{"c3"}, pad1)
	b.node("Add", "add1", []string{"c3", "c2"}, []string{"s1sum"})
	b.node("Relu", "relu2", []string{"s1sum"}, []string{"a2"})
	b.node("Conv", "dw", []string{"a2", b.init("wd", randT(r, 6, 1, 3, 3)), b.init("bd", randT(r, 6))}, []string{"cd"}, pad1, intAttr("group", 6))
	b.init("zero", tensor.FromFloat32(nil, []float32{0}))
	b.init("six", tensor.FromFloat32(nil, []float32{1.5}))
	b.node("Clip", "clip", []string{"cd", "zero", "six"}, []string{"a3"})
	b.node("Conv", "conv4", []string{"a3", b.init("w4", randT(r, 6, 6, 1, 1)), b.init("bb4", randT(r, 6))}, []string{"c4"})
	b.node("Add", "add2", []string{"a2", "c4"}, []string{"a4"})
	b.node("GlobalAveragePool", "gap", []string{"a4"}, []string{"p"})
	b.node("Flatten", "flat", []string{"p"}, []string{"f"})
	b.node("Gemm", "fc", []string{"f", b.init("fw", randT(r, 5, 6)), b.init("fb", randT(r, 5))}, []string{"logits"}, intAttr("transB", 1))
	return b.output("logits")
}

// closeTensors fails unless got and want have the same shape and values
// within tol relative to the largest magnitude.
func closeTensors(t *testing.T, what string, got, want *tensor.Tensor, tol float64) {
	t.Helper()
	if got == nil || want == nil {
		t.Fatalf("%s: missing tensor (got %v, want %v)", what, got != nil, want != nil)
	}
	if !tensor.EqualShape(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, want.Shape)
	}
	scale := math.Max(1, maxAbs(want.F))
	if d := tensor.MaxAbsDiff(got.F, want.F); d > tol*scale || math.IsNaN(d) {
		t.Errorf("%s: differs by %g (largest %g)", what, d, scale)
	}
}

// TestFusionMatchesNodeByNode runs passes that allow different amounts
// of fusion (none of the chain's tensors needed, some fetched, replaced,
// editable, or read by the backward pass) with fusion on and off, and
// compares every result.
func TestFusionMatchesNodeByNode(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	g := resNet(r)
	fused, err := engine.New(g)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := engine.New(g)
	if err != nil {
		t.Fatal(err)
	}
	engine.SetFusion(plain, false)
	x := randT(r, 2, 4, 9, 11)
	ctx := context.Background()
	a2 := randT(r, 2, 6, 9, 11)
	passes := []struct {
		name string
		pass engine.Pass
	}{
		{"outputs", engine.Pass{}},
		{"fetch inside chains", engine.Pass{Fetch: []string{"logits", "c1", "n1", "c3", "s1sum", "cd", "c4", "a4"}}},
		{"fetch chain outputs", engine.Pass{Fetch: []string{"logits", "a1", "a2", "a3"}}},
		{"replace inside a chain", engine.Pass{Fetch: []string{"logits", "a2"}, Replace: map[string]*tensor.Tensor{"s1sum": a2}}},
		{"replace a chain output", engine.Pass{Fetch: []string{"logits", "a4"}, Replace: map[string]*tensor.Tensor{"a2": a2}}},
		{"backward to a1 and x", engine.Pass{Fetch: []string{"logits", "a1"}, Backward: &engine.Backward{
			From: []string{"logits"}, Seed: seedClass(3), To: []string{"a1", "x", "c2"}}}},
		{"backward to the last block", engine.Pass{Fetch: []string{"logits"}, Backward: &engine.Backward{
			From: []string{"logits"}, Seed: seedClass(1), To: []string{"a4"}}}},
	}
	for _, p := range passes {
		t.Run(p.name, func(t *testing.T) {
			want, err := plain.Run(ctx, x, p.pass)
			if err != nil {
				t.Fatal(err)
			}
			for run := range 3 { // later runs reuse recycled buffers
				got, err := fused.Run(ctx, x, p.pass)
				if err != nil {
					t.Fatal(err)
				}
				// Folding the BatchNormalization rounds differently;
				// the differences grow through the random layers (the
				// clipped a3 is small beside the sums it clips).
				for name, w := range want.Values {
					closeTensors(t, "value "+name, got.Values[name], w, 1e-4)
				}
				for name, w := range want.Grads {
					closeTensors(t, "gradient "+name, got.Grads[name], w, 1e-4)
				}
				if len(got.Values) != len(want.Values) || len(got.Grads) != len(want.Grads) {
					t.Fatalf("run %d: %d values and %d gradients, want %d and %d", run, len(got.Values), len(got.Grads), len(want.Values), len(want.Grads))
				}
			}
		})
	}
	t.Run("rerun", func(t *testing.T) {
		pass := engine.Pass{Fetch: []string{"logits", "a2"}, Editable: []string{"a2"}}
		base, err := fused.Run(ctx, x, pass)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			got, err := base.Rerun(ctx, map[string]*tensor.Tensor{"a2": a2}, []string{"logits", "a4"})
			if err != nil {
				t.Fatal(err)
			}
			want, err := plain.Run(ctx, x, engine.Pass{Fetch: []string{"logits", "a4"}, Replace: map[string]*tensor.Tensor{"a2": a2}})
			if err != nil {
				t.Fatal(err)
			}
			closeTensors(t, "rerun logits", got["logits"], want.Values["logits"], 1e-4)
			closeTensors(t, "rerun a4", got["a4"], want.Values["a4"], 1e-4)
		}
	})
}

// TestRecycledBuffersStayOwned checks that what a run returns is not
// overwritten by later runs, which reuse the buffers of the tensors they
// free: results of a first input must survive runs on other inputs.
func TestRecycledBuffersStayOwned(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	m, err := engine.New(resNet(r))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fetch := []string{"logits", "a1", "a2", "a3", "a4"}
	x1 := randT(r, 1, 4, 9, 11)
	first, err := m.Run(ctx, x1, engine.Pass{Fetch: fetch, Editable: []string{"a3"}})
	if err != nil {
		t.Fatal(err)
	}
	saved := map[string]*tensor.Tensor{}
	for name, v := range first.Values {
		saved[name] = v.Clone()
	}
	retained := first.Retained("a3").Clone()
	for i := range 4 {
		if _, err := m.Run(ctx, randT(r, 1, 4, 9, 11), engine.Pass{Fetch: fetch[:1]}); err != nil {
			t.Fatal(err)
		}
		if _, err := first.Rerun(ctx, map[string]*tensor.Tensor{"a3": randT(r, 1, 6, 9, 11)}, []string{"logits"}); err != nil {
			t.Fatal(err)
		}
		for name, v := range first.Values {
			if d := tensor.MaxAbsDiff(v.F, saved[name].F); d != 0 {
				t.Fatalf("after %d more runs, %s of the first run changed by %g", i+1, name, d)
			}
		}
		if d := tensor.MaxAbsDiff(first.Retained("a3").F, retained.F); d != 0 {
			t.Fatalf("after %d more runs, the retained a3 changed by %g", i+1, d)
		}
	}
}

// TestSteadyStateAllocation checks that running MobileNetV2 again
// allocates a small fraction of what its activations take: the fused
// convolutions write into recycled buffers and reuse their scratch.
func TestSteadyStateAllocation(t *testing.T) {
	m := loadModel(t, shared.Path(t, "models", "mobilenet_v2_1.0_224.onnx"))
	x := tensor.Zeros(1, 3, 224, 224)
	for i := range x.F {
		x.F[i] = float32(math.Sin(float64(i)))
	}
	shapes, err := m.Shapes(x.Shape)
	if err != nil {
		t.Fatal(err)
	}
	var activations uint64
	for _, l := range mustLayers(t, m) {
		activations += uint64(tensor.Size(shapes[l.Output])) * 4
	}
	ctx := context.Background()
	for range 2 {
		if _, err := m.Run(ctx, x, engine.Pass{}); err != nil {
			t.Fatal(err)
		}
	}
	// A garbage collection empties the scratch pools (sync.Pool), and the
	// slower purego kernels leave time for one now and then: keep the
	// collector off while measuring, so that only what the runs allocate
	// counts, not what the runtime dropped.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	const runs = 3
	runtime.ReadMemStats(&before)
	for range runs {
		if _, err := m.Run(ctx, x, engine.Pass{}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perRun := (after.TotalAlloc - before.TotalAlloc) / runs
	t.Logf("allocated %d KiB per run; activations total %d KiB", perRun>>10, activations>>10)
	// The buffers come back from free lists that any thread can take
	// from (internal/bufpool); with sync.Pools a run allocated 0.4-3.6
	// MiB, as buffers left on another processor were missed.
	if perRun > activations/100 {
		t.Errorf("a run allocates %d bytes, more than 1%% of the %d bytes of activations", perRun, activations)
	}
}

func mustLayers(t *testing.T, m *engine.Model) []engine.Layer {
	t.Helper()
	l, err := m.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestRerunVariants checks a rerun of k variants stacked along the batch
// dimension against k single reruns, where the downstream part reads
// only the replaced tensor and where it also reads an earlier one (the
// residual a2, repeated), and that a graph with a fixed batch size in a
// Reshape is refused.
func TestRerunVariants(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	m, err := engine.New(resNet(r))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n, k = 2, 3
	x := randT(r, n, 4, 9, 11)
	for _, layer := range []string{"a2", "a3"} {
		t.Run(layer, func(t *testing.T) {
			base, err := m.Run(ctx, x, engine.Pass{Fetch: []string{"logits", layer}, Editable: []string{layer}})
			if err != nil {
				t.Fatal(err)
			}
			a := base.Values[layer]
			size := len(a.F)
			stack := tensor.Zeros(k*n, 6, 9, 11)
			singles := make([]*tensor.Tensor, k)
			for j := range k {
				v := a.Clone()
				for i := range v.F {
					if (i/99)%6 == j { // ablate channel j of every image
						v.F[i] = 0
					}
				}
				singles[j] = v
				copy(stack.F[j*size:], v.F)
			}
			got, err := base.Rerun(ctx, map[string]*tensor.Tensor{layer: stack}, []string{"logits", "a4"})
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{k * n, 5}; !tensor.EqualShape(got["logits"].Shape, want) {
				t.Fatalf("logits of shape %v, want %v", got["logits"].Shape, want)
			}
			for j, v := range singles {
				one, err := base.Rerun(ctx, map[string]*tensor.Tensor{layer: v}, []string{"logits", "a4"})
				if err != nil {
					t.Fatal(err)
				}
				for _, name := range []string{"logits", "a4"} {
					w := one[name]
					part := tensor.FromFloat32(w.Shape, got[name].F[j*len(w.F):(j+1)*len(w.F)])
					closeTensors(t, name, part, w, 1e-5)
				}
			}
		})
	}
	t.Run("fixed batch size", func(t *testing.T) {
		m, err := engine.New(camNet(r))
		if err != nil {
			t.Fatal(err)
		}
		base, err := m.Run(ctx, randT(r, 1, 3, 8, 8), engine.Pass{Fetch: []string{"logits"}, Editable: []string{"a"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := base.Rerun(ctx, map[string]*tensor.Tensor{"a": tensor.Zeros(3, 4, 8, 8)}, []string{"logits"}); err == nil {
			t.Errorf("rerun of 3 variants through a Reshape to batch 1: no error")
		}
		if _, err := base.Rerun(ctx, map[string]*tensor.Tensor{"a": tensor.Zeros(3, 4, 8, 7)}, []string{"logits"}); err == nil {
			t.Errorf("replacement of a wrong shape: no error")
		}
	})
}

// TestConcurrentRuns runs one model from several goroutines at once (as a
// server does) and checks each result against the same run alone: the
// recycled buffers and the shared worker crew must keep runs apart. The
// goroutines' runs bound their threads differently (Pass.Threads 0, 1,
// 2): the values must not change.
func TestConcurrentRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	m, err := engine.New(resNet(r))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const workers = 4
	xs := make([]*tensor.Tensor, workers)
	want := make([]*tensor.Tensor, workers)
	for i := range xs {
		xs[i] = randT(r, 1+i%2, 4, 9, 11)
		res, err := m.Run(ctx, xs[i], engine.Pass{Fetch: []string{"a4"}})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = res.Values["a4"].Clone()
	}
	errs := make(chan error, workers)
	for i := range workers {
		go func() {
			for range 20 {
				res, err := m.Run(ctx, xs[i], engine.Pass{Fetch: []string{"a4"}, Threads: i % 3})
				if err != nil {
					errs <- err
					return
				}
				if d := tensor.MaxAbsDiff(res.Values["a4"].F, want[i].F); d != 0 {
					errs <- fmt.Errorf("goroutine %d (Threads %d): a4 differs by %g from the run alone", i, i%3, d)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
