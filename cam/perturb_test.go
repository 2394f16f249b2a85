package cam

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/shared"
	"github.com/gradcam/gradcam/tensor"
)

// Channels of the masking network's target layer, by construction:
const (
	maskRandom   = 0 // positive weights and bias: positive and varying
	maskConstant = 1 // zero weights, bias 0.5: constant 0.5
	maskDead     = 2 // zero weights, bias -1: zero after the ReLU
	maskCopy     = 3 // the weights and bias of channel 0: the same values
	maskOther    = 4 // other positive weights
	maskDouble   = 5 // twice channel 0: the same mask but for the eps
)

// maskingGraph builds x [N,3,16,16] → Conv 4x4 stride 4, 6 channels (see
// the mask constants) = c → Relu = a [N,6,4,4] → a head to 5 classes:
// global average pooling, Flatten and Gemm, or with fixedBatch a Reshape
// to the fixed shape [2, 96] and Gemm, the input declaring N = 2 (a graph
// that runs only batches of 2).
func maskingGraph(fixedBatch bool) *graph.Graph {
	rng := rand.New(rand.NewPCG(1, 2))
	uniform := func(n int, lo, hi float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(lo + (hi-lo)*rng.Float64())
		}
		return v
	}
	const C, K = 6, 3 * 4 * 4
	w := make([]float32, C*K)
	b := make([]float32, C)
	copy(w[maskRandom*K:], uniform(K, 0, 1))
	b[maskRandom] = 0.1
	b[maskConstant] = 0.5
	b[maskDead] = -1
	copy(w[maskCopy*K:], w[maskRandom*K:(maskRandom+1)*K])
	b[maskCopy] = b[maskRandom]
	copy(w[maskOther*K:], uniform(K, 0, 1))
	b[maskOther] = 0.2
	for i, v := range w[maskRandom*K : (maskRandom+1)*K] {
		w[maskDouble*K+i] = 2 * v
	}
	b[maskDouble] = 2 * b[maskRandom]
	g := &graph.Graph{Initializers: map[string]*tensor.Tensor{}, Opsets: map[string]int64{"": 13}}
	node := func(op string, in, out []string, attrs ...*graph.Attr) {
		n := &graph.Node{Name: out[0], OpType: op, Inputs: in, Outputs: out, Attrs: map[string]*graph.Attr{}}
		for _, a := range attrs {
			n.Attrs[a.Name] = a
		}
		g.Nodes = append(g.Nodes, n)
	}
	ints := func(name string, v ...int64) *graph.Attr {
		return &graph.Attr{Name: name, Type: graph.AttrInts, Ints: v}
	}
	batch := graph.Dim{Value: -1, Param: "N"}
	if fixedBatch {
		batch = graph.Dim{Value: 2}
	}
	g.Inputs = []graph.ValueInfo{{Name: "x", ElemType: 1, Shape: []graph.Dim{batch, {Value: 3}, {Value: 16}, {Value: 16}}}}
	g.Initializers["w"] = tensor.FromFloat32([]int{C, 3, 4, 4}, w)
	g.Initializers["b"] = tensor.FromFloat32([]int{C}, b)
	node("Conv", []string{"x", "w", "b"}, []string{"c"}, ints("kernel_shape", 4, 4), ints("strides", 4, 4))
	node("Relu", []string{"c"}, []string{"a"})
	transB := &graph.Attr{Name: "transB", Type: graph.AttrInt, I: 1}
	if fixedBatch {
		g.Initializers["shape"] = tensor.FromInt64([]int{2}, []int64{2, C * 16})
		g.Initializers["W"] = tensor.FromFloat32([]int{5, C * 16}, uniform(5*C*16, -1, 1))
		g.Initializers["B"] = tensor.FromFloat32([]int{5}, uniform(5, -1, 1))
		node("Reshape", []string{"a", "shape"}, []string{"f"})
	} else {
		g.Initializers["W"] = tensor.FromFloat32([]int{5, C}, uniform(5*C, -1, 1))
		g.Initializers["B"] = tensor.FromFloat32([]int{5}, uniform(5, -1, 1))
		node("GlobalAveragePool", []string{"a"}, []string{"p"})
		node("Flatten", []string{"p"}, []string{"f"})
	}
	node("Gemm", []string{"f", "W", "B"}, []string{"logits"}, transB)
	g.Outputs = []graph.ValueInfo{{Name: "logits", ElemType: 1}}
	return g
}

// maskingModel returns the masking network and two positive images.
func maskingModel(t testing.TB, fixedBatch bool) (*engine.Model, *tensor.Tensor) {
	t.Helper()
	m, err := engine.New(maskingGraph(fixedBatch))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	x := tensor.New(tensor.Float32, 2, 3, 16, 16)
	for i := range x.F {
		x.F[i] = float32(0.05 + rng.Float64())
	}
	return m, x
}

// plainScores computes Score-CAM's masked scores the plain way: every
// image and channel masked in turn, in batches of bs in that order (the
// last one shorter), as the method was first written.
func plainScores(t *testing.T, j *job, x *tensor.Tensor, l layerInfo, acts [][]float32, targets [][]Target, channels []int, bs int) [][][]float64 {
	t.Helper()
	HW := j.H * j.W
	img := j.cin * HW
	rz := newResizer(l.h, l.w, j.H, j.W, true)
	nc := len(channels)
	scores := make([][][]float64, j.n)
	for i := range scores {
		scores[i] = make([][]float64, len(targets[i]))
		for tt := range scores[i] {
			scores[i][tt] = make([]float64, nc)
		}
	}
	mask := make([]float32, HW)
	for start := 0; start < j.n*nc; start += bs {
		b := min(bs, j.n*nc-start)
		shape := slices.Clone(x.Shape)
		shape[0] = b
		batch := tensor.New(tensor.Float32, shape...)
		for q := range b {
			i, k := (start+q)/nc, channels[(start+q)%nc]
			rz.resize(mask, acts[i][k*l.p:(k+1)*l.p])
			minMax(mask, scoreCAMEps)
			for p, m := range mask {
				for c := range j.cin {
					// NCHW: c*HW+p; NHWC: p*cin+c.
					at := c*HW + p
					if j.inLay == NHWC {
						at = p*j.cin + c
					}
					batch.F[q*img+at] = x.F[i*img+at] * m
				}
			}
		}
		r, err := j.e.m.Run(context.Background(), batch, engine.Pass{Fetch: []string{j.e.logits}})
		if err != nil {
			t.Fatal(err)
		}
		for q := range b {
			i, kk := (start+q)/nc, (start+q)%nc
			row := r.Values[j.e.logits].F[q*j.classes : (q+1)*j.classes]
			for tt, tg := range targets[i] {
				scores[i][tt][kk] = tg.score(row, j.opt.Score)
			}
		}
	}
	return scores
}

// sameScores reports the first (image, target, channel) whose scores
// differ in their bits, or ok.
func sameScores(got, want [][][]float64) (i, tt, k int, ok bool) {
	for i := range want {
		for tt := range want[i] {
			for k := range want[i][tt] {
				if math.Float64bits(got[i][tt][k]) != math.Float64bits(want[i][tt][k]) {
					return i, tt, k, false
				}
			}
		}
	}
	return 0, 0, 0, true
}

// scoresWithWorkers returns j.scoreCAMScores with the batches running
// workers at a time, whatever their number (1: on the model's threads; 2:
// on one thread each, the model's Threads set to 2 meanwhile).
func scoresWithWorkers(t *testing.T, j *job, m *engine.Model, workers int, x *tensor.Tensor, l layerInfo, acts [][]float32, targets [][]Target, channels []int) [][][]float64 {
	t.Helper()
	if workers > 1 {
		defer func(w, b, th int) { scoreCAMWorkers, scoreCAMWorkerBatches, m.Threads = w, b, th }(scoreCAMWorkers, scoreCAMWorkerBatches, m.Threads)
		scoreCAMWorkers, scoreCAMWorkerBatches, m.Threads = workers, 0, workers
		if got := scoreWorkers(workers, 1); got != workers {
			t.Fatalf("scoreWorkers(%d, 1) = %d with no least number of batches", workers, got)
		}
	}
	got, err := j.scoreCAMScores(context.Background(), x, l, acts, targets, channels)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestScoreWorkers checks how many batches of Score-CAM run at a time,
// and that a cancelled context stops them, on one thread each too.
func TestScoreWorkers(t *testing.T) {
	m, x := maskingModel(t, false)
	j, l, acts := scoreCAMSetup(t, m, x, Options{Layers: []string{"a"}, BatchSize: 1})
	channels := []int{0, 1, 2, 3, 4, 5}
	targets := [][]Target{{{Classes: []int{0}}}, {{Classes: []int{1}}}}
	defer func(w, b int) { scoreCAMWorkers, scoreCAMWorkerBatches = w, b }(scoreCAMWorkers, scoreCAMWorkerBatches)
	scoreCAMWorkerBatches = 0
	for _, workers := range []int{1, 2} {
		scoreCAMWorkers = workers
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := j.scoreCAMScores(ctx, x, l, acts, targets, channels); !errors.Is(err, context.Canceled) {
			t.Errorf("%d at a time, cancelled: error %v, want context.Canceled", workers, err)
		}
	}
	scoreCAMWorkers, scoreCAMWorkerBatches = 2, 4
	for _, tc := range []struct{ threads, batches, want int }{
		{1, 1000, 1},
		{2, 7, 1},
		{2, 8, 2},
		{2, 128, 2},
		{8, 31, 1},
		{8, 32, scoreCAMWorkers},
	} {
		if got := scoreWorkers(tc.threads, tc.batches); got != tc.want {
			t.Errorf("scoreWorkers(%d threads, %d batches) = %d, want %d", tc.threads, tc.batches, got, tc.want)
		}
	}
}

// distinctMasks lists the distinct masked inputs of the given channels,
// as scoreCAMScores finds them, and the run of every image and channel.
func distinctMasks(j *job, l layerInfo, acts [][]float32, channels []int) (runs []maskedRun, of [][]int) {
	rz := newResizer(l.h, l.w, j.H, j.W, true)
	set := newMaskRuns(rz, acts, l.p)
	mask := make([]float32, j.H*j.W)
	of = make([][]int, j.n)
	for i := range of {
		for _, k := range channels {
			scoreCAMMask(rz, mask, acts[i], k, l.p)
			r, _ := set.add(i, k, mask)
			of[i] = append(of[i], r)
		}
	}
	return set.runs, of
}

// scoreCAMSetup prepares a Score-CAM job and the activations of its
// first layer.
func scoreCAMSetup(t *testing.T, m *engine.Model, x *tensor.Tensor, opt Options) (*job, layerInfo, [][]float32) {
	t.Helper()
	opt.Method = ScoreCAM
	j, err := New(m).prepare(x, opt)
	if err != nil {
		t.Fatal(err)
	}
	l := j.layers[0]
	r, err := m.Run(context.Background(), x, engine.Pass{Fetch: []string{l.name}})
	if err != nil {
		t.Fatal(err)
	}
	return j, l, perImage(r.Values[l.name], l.layout)
}

// TestScoreCAMDistinctMasks checks which channels share a masked input on
// the masking network: per image, the copy of channel 0 shares its mask,
// the constant and the dead channel share the zero mask, and twice
// channel 0 has a mask of its own (min-max's eps is not scaled).
func TestScoreCAMDistinctMasks(t *testing.T) {
	m, x := maskingModel(t, false)
	j, l, acts := scoreCAMSetup(t, m, x, Options{Layers: []string{"a"}})
	// The construction holds on these images.
	for i, a := range acts {
		ch := func(k int) []float32 { return a[k*l.p : (k+1)*l.p] }
		if slices.Min(ch(maskRandom)) <= 0 || slices.Min(ch(maskRandom)) == slices.Max(ch(maskRandom)) {
			t.Fatalf("image %d: channel %d is %v, want positive and varying", i, maskRandom, ch(maskRandom))
		}
		if !slices.Equal(ch(maskCopy), ch(maskRandom)) || slices.Max(ch(maskConstant)) != slices.Min(ch(maskConstant)) || slices.Max(ch(maskDead)) != 0 {
			t.Fatalf("image %d: activation %v is not as built", i, a)
		}
	}
	all := []int{0, 1, 2, 3, 4, 5}
	for _, tc := range []struct {
		name     string
		channels []int
		distinct int // per image
		same     [][2]int
		differ   [][2]int // indices into channels
	}{
		{"all", all, 4, [][2]int{{maskRandom, maskCopy}, {maskConstant, maskDead}}, [][2]int{{maskRandom, maskDouble}, {maskRandom, maskOther}, {maskRandom, maskConstant}}},
		{"repeated", []int{4, 0, 4, 1, 4}, 3, [][2]int{{0, 2}, {0, 4}}, [][2]int{{0, 1}, {1, 3}}},
		{"no duplicates", []int{5, 4, 0, 1}, 4, nil, [][2]int{{0, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs, of := distinctMasks(j, l, acts, tc.channels)
			if len(runs) != j.n*tc.distinct {
				t.Errorf("%d masked inputs for %d images, want %d each", len(runs), j.n, tc.distinct)
			}
			for i := range of {
				for _, p := range tc.same {
					if of[i][p[0]] != of[i][p[1]] {
						t.Errorf("image %d: channels %d and %d run apart", i, tc.channels[p[0]], tc.channels[p[1]])
					}
				}
				for _, p := range tc.differ {
					if of[i][p[0]] == of[i][p[1]] {
						t.Errorf("image %d: channels %d and %d share a run", i, tc.channels[p[0]], tc.channels[p[1]])
					}
				}
				for kk, r := range of[i] {
					if runs[r].image != i {
						t.Errorf("image %d channel %d runs with image %d", i, tc.channels[kk], runs[r].image)
					}
				}
			}
		})
	}
}

// TestScoreCAMScoresMatchPlain compares Score-CAM's scores, computed with
// duplicate masks run once and full batches, bit for bit with the plain
// computation (every channel in turn, in batches of the same size), on
// networks with duplicate masks and on a real one (resnet18 with
// repeated channels, which shift the batches).
func TestScoreCAMScoresMatchPlain(t *testing.T) {
	masking, mx := maskingModel(t, false)
	// On the fixed batch of 2, a black second image has only the zero
	// mask: 5 distinct masked inputs, the last batch padded.
	fixedBatch, fx := maskingModel(t, true)
	clear(fx.F[len(fx.F)/2:])
	toyN, tx := toyModel(t, NCHW)
	toyH, thx := toyModel(t, NHWC)
	for _, tc := range []struct {
		name     string
		m        func(t *testing.T) (*engine.Model, *tensor.Tensor)
		layer    string
		channels []int // nil: all
		bs       []int // 0: the default
		runs     int   // distinct masked inputs, when checked
	}{
		{"masking", func(*testing.T) (*engine.Model, *tensor.Tensor) { return masking, mx }, "a", nil, []int{1, 3, 5, 16}, 0},
		{"masking repeated channels", func(*testing.T) (*engine.Model, *tensor.Tensor) { return masking, mx }, "a", []int{5, 1, 5, 2, 0, 3, 3, 4}, []int{2, 4}, 0},
		{"fixed batch", func(*testing.T) (*engine.Model, *tensor.Tensor) { return fixedBatch, fx }, "a", nil, []int{0}, 5},
		{"toy NCHW", func(*testing.T) (*engine.Model, *tensor.Tensor) { return toyN, tx }, "a", nil, []int{1, 3}, 0},
		{"toy NHWC", func(*testing.T) (*engine.Model, *tensor.Tensor) { return toyH, thx }, "a", nil, []int{1, 3}, 0},
		{"resnet18", func(t *testing.T) (*engine.Model, *tensor.Tensor) {
			m, ref := loadRef(t, refCases[0])
			return m, ref["input"]
		}, "", []int{0, 1, 1, 2, 3, 4, 4, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 0}, []int{16}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, x := tc.m(t)
			var layers []string
			if tc.layer != "" {
				layers = []string{tc.layer}
			}
			for _, bs := range tc.bs {
				j, l, acts := scoreCAMSetup(t, m, x, Options{Layers: layers, BatchSize: bs})
				channels := tc.channels
				if channels == nil {
					for k := range l.c {
						channels = append(channels, k)
					}
				}
				var targets [][]Target
				for i := range j.n {
					targets = append(targets, []Target{{Classes: []int{i}}, {Classes: []int{2, 1}, Weights: []float32{0.5, -1}}})
				}
				if tc.runs != 0 {
					if runs, _ := distinctMasks(j, l, acts, channels); len(runs) != tc.runs {
						t.Fatalf("%d distinct masked inputs, want %d", len(runs), tc.runs)
					}
				}
				bsPlain := bs
				if bsPlain == 0 {
					bsPlain = int(m.Inputs()[0].Shape[0].Value)
				}
				want := plainScores(t, j, x, l, acts, targets, channels, bsPlain)
				// One batch at a time, then two at a time on one thread
				// each (as when there are many batches).
				for _, workers := range []int{1, 2} {
					got := scoresWithWorkers(t, j, m, workers, x, l, acts, targets, channels)
					if i, tt, k, ok := sameScores(got, want); !ok {
						t.Errorf("batch %d, %d at a time: image %d, target %d, channel %d: score %v, plain computation %v", bs, workers, i, tt, channels[k], got[i][tt][k], want[i][tt][k])
					}
				}
			}
		})
	}
}

// plainAblation scores every ablated channel of layer l with its own
// Rerun, as Ablation-CAM was first written.
func plainAblation(t *testing.T, j *job, r *engine.Result, l layerInfo, a *tensor.Tensor, fill []float32, targets [][]Target) [][][]float32 {
	t.Helper()
	sk := ablationScores(j, l, targets)
	for k := range l.c {
		work := a.Clone()
		for i := range j.n {
			for p := range l.p {
				q := (i*l.c+k)*l.p + p
				if l.layout == NHWC {
					q = (i*l.p+p)*l.c + k
				}
				work.F[q] = fill[i]
			}
		}
		out, err := r.Rerun(context.Background(), map[string]*tensor.Tensor{l.name: work}, []string{j.e.logits})
		if err != nil {
			t.Fatal(err)
		}
		for i := range j.n {
			for tt, tg := range targets[i] {
				sk[i][tt][k] = float32(tg.score(j.row(out[j.e.logits], i), j.opt.Score))
			}
		}
	}
	return sk
}

// ablationScores allocates sk[image][target][channel].
func ablationScores(j *job, l layerInfo, targets [][]Target) [][][]float32 {
	sk := make([][][]float32, j.n)
	for i := range sk {
		sk[i] = make([][]float32, len(targets[i]))
		for tt := range sk[i] {
			sk[i][tt] = make([]float32, l.c)
		}
	}
	return sk
}

// ablationTol bounds how far, relative to the unablated score, a score
// from stacked reruns may be from one computed alone on a real network:
// the dense layer of one image runs as dot products and that of several
// as a matrix product, which round differently (a few float32 ulps).
const ablationTol = 1e-6

// TestAblationStacked compares Ablation-CAM's stacked reruns with one
// rerun per channel, bit for bit where the products run the same way and
// for channels that ablation leaves unchanged (they keep the unablated
// score), within ablationTol otherwise: on the masking network (after the ReLU, and
// before it, where the ablated value is min - 1e7), on its variant whose
// Reshape fixes the batch (stacked reruns are refused there and the
// channels go one at a time), on the toy network in both layouts, on
// resnet18 and, when GRADCAM_MODELS_DIR holds it, on ResNet50's last
// block.
func TestAblationStacked(t *testing.T) {
	type model func(t *testing.T) (*engine.Model, *tensor.Tensor)
	of := func(m *engine.Model, x *tensor.Tensor) model {
		return func(*testing.T) (*engine.Model, *tensor.Tensor) { return m, x }
	}
	masking, mx := maskingModel(t, false)
	fixedBatch, fx := maskingModel(t, true)
	for _, tc := range []struct {
		name  string
		m     model
		layer string
		tol   float64 // relative to the unablated score; 0: exact
	}{
		{"masking after relu", of(masking, mx), "a", 0},
		{"masking before relu", of(masking, mx), "c", 0},
		{"fixed batch", of(fixedBatch, fx), "a", 0},
		{"toy NCHW", of(toyModel(t, NCHW)), "a", 0},
		{"toy NHWC", of(toyModel(t, NHWC)), "a", 0},
		{"resnet18", func(t *testing.T) (*engine.Model, *tensor.Tensor) {
			m, ref := loadRef(t, refCases[0])
			return m, ref["input"]
		}, "", ablationTol},
		{"resnet50", func(t *testing.T) (*engine.Model, *tensor.Tensor) {
			if testing.Short() {
				t.Skip("large model: skipped in -short mode")
			}
			d := os.Getenv("GRADCAM_MODELS_DIR")
			if d == "" {
				t.Skip("GRADCAM_MODELS_DIR is not set (see ../shared/tools/export_models.py)")
			}
			m := loadModel(t, filepath.Join(d, "resnet50.onnx"))
			return m, smoothInput(m.InputShape(1))
		}, "", ablationTol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, x := tc.m(t)
			var layers []string
			if tc.layer != "" {
				layers = []string{tc.layer}
			}
			j, err := New(m).prepare(x, Options{Method: AblationCAM, Layers: layers})
			if err != nil {
				t.Fatal(err)
			}
			l := j.layers[0]
			r, err := m.Run(context.Background(), x, engine.Pass{Fetch: []string{j.e.logits, l.name}, Editable: []string{l.name}})
			if err != nil {
				t.Fatal(err)
			}
			a := r.Values[l.name]
			targets := j.allTargets(r.Values[j.e.logits])
			fill := make([]float32, j.n)
			for i, ai := range perImage(a, l.layout) {
				if mn := slices.Min(ai); mn != 0 {
					fill[i] = mn - ablationValue
				}
			}
			s0 := make([][]float32, j.n)
			for i := range s0 {
				for _, tg := range targets[i] {
					s0[i] = append(s0[i], float32(tg.score(j.row(r.Values[j.e.logits], i), j.opt.Score)))
				}
			}
			got := ablationScores(j, l, targets)
			if err := j.ablate(context.Background(), r, l, a, fill, s0, targets, got); err != nil {
				t.Fatal(err)
			}
			want := plainAblation(t, j, r, l, a, fill, targets)
			acts := perImage(a, l.layout)
			dead := 0
			for k := range l.c {
				unchanged := true
				for i := range j.n {
					for _, v := range acts[i][k*l.p : (k+1)*l.p] {
						unchanged = unchanged && math.Float32bits(v) == math.Float32bits(fill[i])
					}
				}
				if unchanged {
					dead++
				}
				for i := range want {
					for tt := range want[i] {
						g, w := got[i][tt][k], want[i][tt][k]
						scale := math.Abs(float64(s0[i][tt]))
						if unchanged || tc.tol == 0 {
							if math.Float32bits(g) != math.Float32bits(w) {
								t.Fatalf("image %d, target %d, channel %d (unchanged by ablation: %v): score %v, one rerun per channel %v", i, tt, k, unchanged, g, w)
							}
						} else if d := math.Abs(float64(g - w)); d > tc.tol*scale {
							t.Fatalf("image %d, target %d, channel %d: score %v, one rerun per channel %v (%.3g apart, unablated score %v)", i, tt, k, g, w, d, s0[i][tt])
						}
					}
				}
			}
			t.Logf("%d of %d channels unchanged by ablation", dead, l.c)
		})
	}
}

// BenchmarkScoreCAMMasks times what Score-CAM does besides its forward
// passes on ResNet50's last block: every channel's mask and its lookup
// among the earlier masks.
func BenchmarkScoreCAMMasks(b *testing.B) {
	ex, x := benchModel(b, "resnet50")
	j, err := ex.prepare(x, Options{Method: ScoreCAM})
	if err != nil {
		b.Fatal(err)
	}
	l := j.layers[0]
	r, err := ex.m.Run(context.Background(), x, engine.Pass{Fetch: []string{l.name}})
	if err != nil {
		b.Fatal(err)
	}
	acts := perImage(r.Values[l.name], l.layout)
	channels := make([]int, l.c)
	for k := range channels {
		channels[k] = k
	}
	var runs []maskedRun
	for b.Loop() {
		runs, _ = distinctMasks(j, l, acts, channels)
	}
	b.ReportMetric(float64(len(runs)), "masks")
}

// minMaxRef is minMax by math.Min and math.Max, as NumPy's min and max.
func minMaxRef(v []float32, eps float64) {
	if len(v) == 0 {
		return
	}
	lo, hi := float64(v[0]), float64(v[0])
	for _, x := range v {
		lo = math.Min(lo, float64(x))
		hi = math.Max(hi, float64(x))
	}
	d := hi - lo + eps
	for i, x := range v {
		v[i] = float32((float64(x) - lo) / d)
	}
}

// TestMinMax compares minMax with minMaxRef bit for bit (NaN for NaN), on
// maps with signed zeros among the smallest values, constant maps, NaN and
// infinities.
func TestMinMax(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	normal := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	nz := float32(math.Copysign(0, -1))
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		name string
		v    []float32
	}{
		{"random", normal(1000)},
		{"one value", []float32{3}},
		{"constant", slices.Repeat([]float32{0.7}, 9)},
		{"zeros", make([]float32, 5)},
		{"negative zeros", []float32{nz, nz, nz}},
		{"zeros of both signs", []float32{0, nz, 1, 0, 2, nz}},
		{"negative zero first", []float32{nz, 0, 0.5}},
		{"positive zero first", []float32{0, nz, 0.5}},
		{"negative zero above the minimum", []float32{nz, 0, -1, 2}},
		{"largest first", []float32{5, 4, 3, 2, 1}},
		{"NaN", []float32{1, nan, 2}},
		{"NaN first", []float32{nan, 1, 2}},
		{"infinity", []float32{1, inf, 2}},
		{"tiny range", []float32{1, 1 + 1e-7, 1 - 1e-7}},
	} {
		for _, eps := range []float64{scoreCAMEps, minMaxEps} {
			want := slices.Clone(tc.v)
			minMaxRef(want, eps)
			got := slices.Clone(tc.v)
			minMax(got, eps)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
					t.Errorf("%s, eps %g: value %d is %v (%#x), math.Min and math.Max give %v (%#x)", tc.name, eps, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
			}
		}
	}
}

// TestScoreCAMStem compares Score-CAM's scores through the linear stem
// (stem.go) with the plain masked runs on the reference models and a
// model with a fixed batch of 1, and checks which stems are found: a
// convolution with its ReLU and max pool (ResNet18), its ReLU6 as a Clip
// (MobileNetV2 and the NHWC MobileNetV1, its input transposed first), and
// on the toy model and the masking model with its fixed batch of 2 (the
// last batch padded).
func TestScoreCAMStem(t *testing.T) {
	defer func(min int) { scoreCAMStemMin = min }(scoreCAMStemMin)
	scoreCAMStemMin = 0
	toy, tx := toyModel(t, NCHW)
	fixedBatch, fx := maskingModel(t, true)
	for _, tc := range []struct {
		name    string
		m       func(t *testing.T) (*engine.Model, *tensor.Tensor)
		replace string // the op whose output the runs replace (after the clamp)
		lo, hi  float32
	}{
		{"resnet18", func(t *testing.T) (*engine.Model, *tensor.Tensor) {
			m, ref := loadRef(t, refCases[0])
			return m, ref["input"]
		}, "MaxPool", 0, float32(math.Inf(1))},
		{"mobilenet_v2", func(t *testing.T) (*engine.Model, *tensor.Tensor) {
			m, ref := loadRef(t, refCases[3])
			return m, ref["input"]
		}, "Clip", 0, 6},
		{"mobilenet_v1_0.25_128", func(t *testing.T) (*engine.Model, *tensor.Tensor) {
			x, _ := loadGolden(t, "mobilenet_v1_0.25_128")
			return loadModel(t, shared.Path(t, "models", "mobilenet_v1_0.25_128.onnx")), x
		}, "Clip", 0, 6},
		{"toy", func(*testing.T) (*engine.Model, *tensor.Tensor) { return toy, tx }, "Relu", 0, float32(math.Inf(1))},
		{"fixed batch", func(*testing.T) (*engine.Model, *tensor.Tensor) { return fixedBatch, fx }, "Relu", 0, float32(math.Inf(1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, x := tc.m(t)
			j, l, acts := scoreCAMSetup(t, m, x, Options{})
			st := j.e.gi.linearStem(j.e.input)
			if st == nil {
				t.Fatal("no linear stem")
			}
			if n := j.e.gi.producers[st.replace]; n == nil || n.OpType != tc.replace || !st.clamp || st.lo != tc.lo || st.hi != tc.hi {
				t.Fatalf("stem %+v replaces the output of %v, want a %s clamped to [%g, %g]", st, n, tc.replace, tc.lo, tc.hi)
			}
			var channels []int
			for _, k := range []int{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3, 3, 8, 3, 2, 7, 9, 5} {
				channels = append(channels, k%l.c)
			}
			var targets [][]Target
			for i := range j.n {
				targets = append(targets, []Target{{Classes: []int{i}}, {Classes: []int{2, 1}, Weights: []float32{0.5, -1}}})
			}
			got := scoresWithWorkers(t, j, m, 1, x, l, acts, targets, channels)
			if i, tt, k, ok := sameScores(scoresWithWorkers(t, j, m, 2, x, l, acts, targets, channels), got); !ok {
				t.Fatalf("image %d, target %d, channel %d: the score through the stem differs with two batches at a time", i, tt, channels[k])
			}
			scoreCAMStem = false
			want, err := j.scoreCAMScores(context.Background(), x, l, acts, targets, channels)
			scoreCAMStem = true
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i := range want {
				for tt := range want[i] {
					for k, w := range want[i][tt] {
						d := math.Abs(got[i][tt][k]-w) / max(1, math.Abs(w))
						worst = max(worst, d)
						if !(d <= 1e-4) {
							t.Fatalf("image %d, target %d, channel %d: score %v through the stem, %v plain", i, tt, channels[k], got[i][tt][k], w)
						}
					}
				}
			}
			if worst == 0 {
				// Rounding makes some score differ when the stem ran.
				t.Error("the scores through the stem equal the plain ones bit for bit: did the stem run?")
			}
			t.Logf("largest difference %.3g", worst)
		})
	}
}
