package cam

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/tensor"
)

// scoreCAMEps is the epsilon of Score-CAM's per-channel normalisation in
// pytorch-grad-cam: (u - min) / (max - min + 1e-8).
const scoreCAMEps = 1e-8

// scoreCAMWeights computes Score-CAM's channel weights (Wang et al. 2020,
// eq. 5 and 6) for one layer, per image and target: the softmax over
// channels of the scores scoreCAMScores gives.
func (j *job) scoreCAMWeights(ctx context.Context, x *tensor.Tensor, l layerInfo, acts [][]float32, targets [][]Target) ([][][]float32, error) {
	channels := make([]int, l.c)
	for k := range channels {
		channels[k] = k
	}
	scores, err := j.scoreCAMScores(ctx, x, l, acts, targets, channels)
	if err != nil {
		return nil, err
	}
	w := make([][][]float32, j.n)
	for i := range w {
		w[i] = make([][]float32, len(targets[i]))
		for t := range w[i] {
			w[i][t] = softmax64(scores[i][t])
		}
	}
	return w, nil
}

// scoreCAMScores returns, per image and target, the score of the input
// masked by each of the given channels: the channel upsampled to the
// input size with corner-aligned bilinear interpolation (PyTorch's
// UpsamplingBilinear2d), min-max normalised with eps 1e-8, multiplied
// into every input channel. Channels that give an image the same mask
// bit for bit (every constant channel gives the zero mask) give it the
// same masked input, which runs once (maskRuns). The distinct masked
// inputs run in full batches of Options.BatchSize (16, or the model's
// batch size when its input declares a fixed one; a last batch of that
// fixed size is padded); cancelling ctx stops between batches. When the
// model starts with affine ops, the runs replace their output by sums of
// precomputed parts instead of masking the input, and channels whose
// masks have the same coefficients run once (stem.go).
func (j *job) scoreCAMScores(ctx context.Context, x *tensor.Tensor, l layerInfo, acts [][]float32, targets [][]Target, channels []int) ([][][]float64, error) {
	declared := 0 // the model's fixed batch size, if any
	if in := j.e.m.Inputs(); len(in) == 1 && len(in[0].Shape) > 0 && in[0].Shape[0].Value > 0 {
		declared = int(in[0].Shape[0].Value)
	}
	bs := j.opt.BatchSize
	if bs == 0 {
		bs = 16
		if declared > 0 {
			bs = declared
		}
	}
	HW := j.H * j.W
	img := j.cin * HW
	rz := newResizer(l.h, l.w, j.H, j.W, true)
	set := newMaskRuns(rz, acts, l.p)
	shape := slices.Clone(x.Shape)
	shape[0] = bs
	if bs != declared {
		shape[0] = min(bs, j.n*len(channels)) // no larger than needed
	}
	// With a linear stem (stem.go), the runs replace its output, z, and
	// the pending runs are kept as their masks' coefficients until the
	// batch is full.
	var st *linearStem
	if scoreCAMStem && len(channels) >= scoreCAMStemMin*(l.p+1) {
		st = j.e.gi.linearStem(j.e.input)
	}
	sr := j.newScoreRunner(ctx, shape, declared, j.n*len(channels), targets)
	defer sr.stop()
	bases := map[int]*stemBasis{}
	buf := sr.take() // the batch being filled
	var images []int // per masked input in buf: its image
	var slots []stemSlot
	flush := func() error {
		if err := sr.err(); err != nil {
			return err
		}
		sb := &scoreBatch{buf: buf, first: len(set.runs) - len(images), images: images}
		if st != nil {
			sb.st, sb.slots, sb.bases = st, slots, map[int]*stemBasis{}
			for _, s := range slots {
				sb.bases[s.image] = bases[s.image]
			}
		}
		sr.jobs <- sb
		buf, images, slots = sr.take(), nil, nil
		return nil
	}
	of := make([][]int, j.n) // of[i][kk]: the run of image i masked by channels[kk]
	mask := make([]float32, HW)
	for i := range of {
		of[i] = make([]int, len(channels))
		src := x.F[i*img : (i+1)*img]
		if st != nil {
			// Only the images of the pending runs still need their parts.
			for im := range bases {
				if !slices.ContainsFunc(slots, func(s stemSlot) bool { return s.image == im }) {
					delete(bases, im)
				}
			}
			scratch := sr.take()
			sb, err := j.stemRuns(ctx, st, rz, src, l.p, scratch.in)
			sr.free <- scratch
			if err != nil {
				return nil, err
			}
			switch {
			case sb != nil && (i > 0 || sb.overlap() <= stemMaxOverlap):
				bases[i] = sb
			case i == 0:
				st = nil // T is not an image, or too many parts: the plain path
			default:
				return nil, fmt.Errorf("cam: Score-CAM: the stem output %q of image %d is not rank 4", st.out, i)
			}
		}
		for kk, k := range channels {
			var r int
			var isNew bool
			if st != nil {
				coef := stemCoef(rz, acts[i][k*l.p:(k+1)*l.p])
				if r, isNew = set.addCoef(i, k, coef); isNew {
					slots = append(slots, stemSlot{image: i, coef: coef})
				}
			} else {
				scoreCAMMask(rz, mask, acts[i], k, l.p)
				if r, isNew = set.add(i, k, mask); isNew {
					q := len(images)
					j.maskImage(buf.in.F[q*img:(q+1)*img], src, mask)
				}
			}
			of[i][kk] = r
			if !isNew {
				continue
			}
			if images = append(images, i); len(images) == bs {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(images) > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	runScores, err := sr.wait()
	if err != nil {
		return nil, err
	}
	scores := make([][][]float64, j.n)
	for i := range scores {
		scores[i] = make([][]float64, len(targets[i]))
		for t := range scores[i] {
			scores[i][t] = make([]float64, len(channels))
			for kk := range channels {
				scores[i][t][kk] = runScores[of[i][kk]][t]
			}
		}
	}
	return scores, nil
}

// scoreCAMWorkers is the most batches of Score-CAM that run at a time,
// each with its share of the model's threads. Each takes the memory of a
// batch's run. Two threads, ResNet50 in batches of 16 (AMD EPYC, 2
// cores), five alternating rounds of 64 images: one batch at a time on
// both threads 687-856 ms a batch, two at a time on one thread each
// 624-748 ms (9-15% less in every round): a run of one thread never
// waits for the slower share of an op, and the other run's unparallel
// parts overlap it.
//
// scoreCAMWorkerBatches is the least number of batches a thread for
// which they do: with few batches, a run on all threads ends sooner.
// Variables for the tests.
var (
	scoreCAMWorkers       = 2
	scoreCAMWorkerBatches = 4
)

// threads returns the most goroutines the model's ops use: its Threads,
// or GOMAXPROCS.
func (j *job) threads() int {
	if t := j.e.m.Threads; t > 0 {
		return t
	}
	return runtime.GOMAXPROCS(0)
}

// scoreWorkers returns how many batches of Score-CAM run at a time on
// threads threads when there are at most batches of them.
func scoreWorkers(threads, batches int) int {
	if threads > 1 && batches >= scoreCAMWorkerBatches*threads {
		return max(1, min(threads, scoreCAMWorkers))
	}
	return 1
}

// scoreBuf is the memory of one batch of Score-CAM: the masked inputs, in,
// and the replaced stem output, z (made on first use).
type scoreBuf struct {
	in, z *tensor.Tensor
}

// scoreBatch is one batch of Score-CAM's runs: the masked inputs in buf
// (or, with the linear stem st, the slots to compose from bases), runs
// first, first+1, ... of the images images.
type scoreBatch struct {
	buf    *scoreBuf
	first  int
	images []int
	st     *linearStem
	slots  []stemSlot
	bases  map[int]*stemBasis
}

// scoreRunner runs Score-CAM's batches on workers, several at a time
// when there are enough of them (scoreCAMWorkers), and collects the
// scores of each run.
type scoreRunner struct {
	j        *job
	ctx      context.Context // parent's, cancelled when a run fails
	cancel   context.CancelFunc
	shape    []int // of a batch
	declared int   // the model's fixed batch size, if any
	threads  int   // each run's (engine.Pass.Threads)
	targets  [][]Target
	jobs     chan *scoreBatch
	free     chan *scoreBuf
	wg       sync.WaitGroup
	scores   [][]float64 // per run, per target
	stopped  bool

	parent context.Context
	mu     sync.Mutex
	failed error // the first run's failure
}

// newScoreRunner starts the workers for at most runs runs in batches of
// shape.
func (j *job) newScoreRunner(ctx context.Context, shape []int, declared, runs int, targets [][]Target) *scoreRunner {
	threads := j.threads()
	workers := scoreWorkers(threads, (runs+shape[0]-1)/shape[0])
	sr := &scoreRunner{j: j, shape: shape, declared: declared, targets: targets,
		jobs: make(chan *scoreBatch), free: make(chan *scoreBuf, workers+1), scores: make([][]float64, runs)}
	if workers > 1 {
		sr.threads = max(1, threads/workers)
	}
	sr.parent = ctx
	sr.ctx, sr.cancel = context.WithCancel(ctx)
	// One buffer more than workers: the next batch fills while they run.
	for range workers + 1 {
		sr.free <- &scoreBuf{in: tensor.New(tensor.Float32, shape...)}
	}
	for range workers {
		sr.wg.Go(func() {
			for b := range sr.jobs {
				if sr.ctx.Err() == nil {
					if err := sr.run(b); err != nil {
						sr.fail(err)
					}
				}
				sr.free <- b.buf
			}
		})
	}
	return sr
}

// take returns a free batch buffer, waiting for one.
func (sr *scoreRunner) take() *scoreBuf { return <-sr.free }

// fail stops the runs for err, the first failure.
func (sr *scoreRunner) fail(err error) {
	sr.mu.Lock()
	if sr.failed == nil {
		sr.failed = err
	}
	sr.mu.Unlock()
	sr.cancel()
}

// err returns why the runs stopped, if they did: the caller's context
// ended or a run failed.
func (sr *scoreRunner) err() error {
	if err := sr.parent.Err(); err != nil {
		return err
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return sr.failed
}

// stop ends the workers after the batches sent, once.
func (sr *scoreRunner) stop() {
	if !sr.stopped {
		sr.stopped = true
		close(sr.jobs)
		sr.wg.Wait()
		sr.cancel()
	}
}

// wait waits for the batches sent and returns the scores per run.
func (sr *scoreRunner) wait() ([][]float64, error) {
	sr.stop()
	if err := sr.err(); err != nil {
		return nil, err
	}
	return sr.scores, nil
}

// run runs batch b and records its scores.
func (sr *scoreRunner) run(b *scoreBatch) error {
	j := sr.j
	n := len(b.images)
	in := sr.fit(b.buf.in, n)
	var replace map[string]*tensor.Tensor
	if b.st != nil {
		if b.buf.z == nil {
			b0 := b.bases[b.slots[0].image]
			b.buf.z = tensor.New(tensor.Float32, sr.shape[0], b0.c, b0.oh, b0.ow)
		}
		if err := j.composeBatch(b.st, b.bases, b.slots, b.buf.z.F, sr.threads); err != nil {
			return err
		}
		replace = map[string]*tensor.Tensor{b.st.replace: sr.fit(b.buf.z, n)}
	}
	r, err := j.e.m.Run(sr.ctx, in, engine.Pass{Fetch: []string{j.e.logits}, Replace: replace, Threads: sr.threads})
	if err != nil {
		return err
	}
	lg := r.Values[j.e.logits]
	for q, i := range b.images {
		row := lg.F[q*j.classes : (q+1)*j.classes]
		s := make([]float64, len(sr.targets[i]))
		for t, tg := range sr.targets[i] {
			s[t] = tg.score(row, j.opt.Score)
		}
		sr.scores[b.first+q] = s
	}
	return nil
}

// fit returns t, a full batch, for a run of its first n entries: t
// itself when n is the batch size; when the model fixes the batch size,
// t with its entry n-1 repeated to the end (the copies' scores are not
// read); otherwise the first n entries as a smaller batch.
func (sr *scoreRunner) fit(t *tensor.Tensor, n int) *tensor.Tensor {
	bs := sr.shape[0]
	if n == bs {
		return t
	}
	size := len(t.F) / bs
	if bs == sr.declared {
		for q := n; q < bs; q++ {
			copy(t.F[q*size:(q+1)*size], t.F[(n-1)*size:n*size])
		}
		return t
	}
	return tensor.FromFloat32(append([]int{n}, t.Shape[1:]...), t.F[:n*size])
}

// scoreCAMMask writes into mask channel k of an image's activation a
// (channel-major, P values a channel) as Score-CAM's mask: upsampled by
// rz and min-max normalised with eps 1e-8.
func scoreCAMMask(rz *resizer, mask, a []float32, k, P int) {
	rz.resize(mask, a[k*P:(k+1)*P])
	minMax(mask, scoreCAMEps)
}

// maskImage writes into dst the image src (in the input layout) masked by
// mask (one value a pixel).
func (j *job) maskImage(dst, src, mask []float32) {
	HW := j.H * j.W
	if j.inLay == NCHW {
		for c := 0; c < j.cin; c++ {
			s, d := src[c*HW:(c+1)*HW], dst[c*HW:(c+1)*HW]
			for p, m := range mask {
				d[p] = s[p] * m
			}
		}
		return
	}
	for p, m := range mask {
		for c := 0; c < j.cin; c++ {
			dst[p*j.cin+c] = src[p*j.cin+c] * m
		}
	}
}

// maskedRun is one masked input of Score-CAM: an image masked by a
// channel's mask.
type maskedRun struct{ image, channel int }

// maskKey is where maskRuns looks for a mask: its image and hash.
type maskKey struct {
	image int
	hash  uint64
}

// maskRuns lists Score-CAM's distinct masked inputs as they come: masks
// are compared by a hash of their bits (hashBits), and bit for bit when the hashes
// are equal (the earlier mask recomputed from its channel, and kept once
// it has been matched: typically the zero mask).
type maskRuns struct {
	rz    *resizer
	acts  [][]float32 // per image, channel-major
	p     int         // values per channel
	other []float32
	seen  map[maskKey][]int
	kept  map[int][]float32 // masks of runs matched before
	runs  []maskedRun
}

func newMaskRuns(rz *resizer, acts [][]float32, p int) *maskRuns {
	return &maskRuns{rz: rz, acts: acts, p: p, seen: map[maskKey][]int{}, kept: map[int][]float32{}}
}

// add returns the run of image i masked by mask, the mask of channel k:
// an earlier run when an earlier channel gave image i the same mask, else
// a new run (isNew).
func (s *maskRuns) add(i, k int, mask []float32) (run int, isNew bool) {
	key := maskKey{i, hashBits(mask)}
	for _, r := range s.seen[key] {
		m := s.kept[r]
		if m == nil {
			s.other = slices.Grow(s.other[:0], len(mask))[:len(mask)]
			scoreCAMMask(s.rz, s.other, s.acts[i], s.runs[r].channel, s.p)
			m = s.other
		}
		if sameBits(mask, m) {
			if s.kept[r] == nil {
				s.kept[r] = slices.Clone(m)
			}
			return r, false
		}
	}
	s.runs = append(s.runs, maskedRun{image: i, channel: k})
	s.seen[key] = append(s.seen[key], len(s.runs)-1)
	return len(s.runs) - 1, true
}

// addCoef is add for the linear stem, whose runs are told apart by the
// coefficients of their masks (see stemCoef), bit for bit: equal
// coefficients give equal runs. It keeps coef.
func (s *maskRuns) addCoef(i, k int, coef []float32) (run int, isNew bool) {
	key := maskKey{i, hashBits(coef)}
	for _, r := range s.seen[key] {
		if sameBits(coef, s.kept[r]) {
			return r, false
		}
	}
	s.runs = append(s.runs, maskedRun{image: i, channel: k})
	run = len(s.runs) - 1
	s.seen[key] = append(s.seen[key], run)
	s.kept[run] = coef
	return run, true
}

// hashBits returns a 64-bit hash of the bits of v: multiply-xor over
// pairs of values in four independent lanes (so that the multiplications
// overlap), folded and finished with a 64-bit mixer (MurmurHash3's
// fmix64). maskRuns compares the values when hashes are equal, so the
// hash need only spread distinct masks well.
func hashBits(v []float32) uint64 {
	const m = 0x9e3779b97f4a7c15 // odd: each step is a bijection
	h := [4]uint64{1, 2, 3, 4}
	pair := func(i int) uint64 {
		return uint64(math.Float32bits(v[i])) | uint64(math.Float32bits(v[i+1]))<<32
	}
	i := 0
	for ; i+8 <= len(v); i += 8 {
		h[0] = (h[0] ^ pair(i)) * m
		h[1] = (h[1] ^ pair(i+2)) * m
		h[2] = (h[2] ^ pair(i+4)) * m
		h[3] = (h[3] ^ pair(i+6)) * m
	}
	for ; i < len(v); i++ {
		h[0] = (h[0] ^ uint64(math.Float32bits(v[i]))) * m
	}
	x := h[0] ^ bits.RotateLeft64(h[1], 16) ^ bits.RotateLeft64(h[2], 32) ^ bits.RotateLeft64(h[3], 48) ^ uint64(len(v))
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// sameBits reports whether a and b hold the same bits.
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i, v := range a {
		if math.Float32bits(v) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// ablationValue is what Ablation-CAM writes into an ablated channel when
// the activation has values other than zero at its minimum, as
// pytorch-grad-cam's AblationLayer does: min - 1e7.
const ablationValue = 1e7

// runAblation computes Ablation-CAM (Desai & Ramaswamy 2020, eq. 3):
// with s0 the target score and s_k the score when channel k of the
// target layer is ablated, w_k = (s0 - s_k) / s0. The channel is set to 0
// when the image's activation has minimum 0 (after ReLU), else to
// min - 1e7 (pytorch-grad-cam's AblationLayer; for such layers the
// reference lowers the value further for every channel of a batch of 32,
// a side effect we do not copy). Only the graph downstream of the target
// layer runs, for up to ablationBatch channels at once (engine Editable +
// Rerun of stacked variants); cancelling ctx stops between those reruns.
func (j *job) runAblation(ctx context.Context, x *tensor.Tensor, fixed [][]Target) (*outcome, error) {
	targets := fixed
	var o *outcome
	for _, l := range j.layers {
		r, err := j.e.m.Run(ctx, x, engine.Pass{Fetch: []string{j.e.logits, l.name}, Editable: []string{l.name}})
		if err != nil {
			return nil, err
		}
		logits := r.Values[j.e.logits]
		if targets == nil {
			targets = j.allTargets(logits)
		}
		if o == nil {
			o = j.newOutcome(logits, targets)
		}
		a := r.Values[l.name]
		acts := perImage(a, l.layout)
		s0 := make([][]float32, j.n)
		sk := make([][][]float32, j.n)
		fill := make([]float32, j.n)
		for i := range s0 {
			row := j.row(logits, i)
			s0[i] = make([]float32, len(targets[i]))
			sk[i] = make([][]float32, len(targets[i]))
			for t, tg := range targets[i] {
				s0[i][t] = float32(tg.score(row, j.opt.Score))
				sk[i][t] = make([]float32, l.c)
			}
			if mn := slices.Min(acts[i]); mn != 0 {
				fill[i] = mn - ablationValue
			}
		}
		if err := j.ablate(ctx, r, l, a, fill, s0, targets, sk); err != nil {
			return nil, err
		}
		for i := range o.res.Images {
			for t := range o.res.Images[i].Explanations {
				w := make([]float32, l.c)
				for k := range w {
					w[k] = (s0[i][t] - sk[i][t][k]) / s0[i][t]
				}
				ex := &o.res.Images[i].Explanations[t]
				ex.Layers = append(ex.Layers, j.channelMap(l, acts[i], w))
			}
		}
	}
	for i := range o.res.Images {
		for t := range o.res.Images[i].Explanations {
			ex := &o.res.Images[i].Explanations[t]
			ex.Map = j.finishMap(ex.Layers)
		}
	}
	return o, nil
}

// ablationBytes bounds the size of the stacked ablated activations that
// one rerun takes: ablationBatch variants of ResNet50's last block (2048 x
// 7 x 7, 392 KiB an image) fit, while an early layer, after which most of
// the network reruns at k times the batch, takes only a few at a time.
const ablationBytes = 16 << 20

// ablationBatch is the most ablated channels one rerun computes: 32, as
// pytorch-grad-cam's AblationCAM batches them (the results do not depend
// on it).
const ablationBatch = 32

// ablate writes into sk[i][t][k] the score of target t of image i when
// channel k of layer l (activation a, as run r computed it) is set to
// fill[i]. A channel that already holds fill everywhere, bit for bit (a
// dead channel after a ReLU), changes nothing and keeps the unablated
// score s0. The
// others run stacked, several channels per Rerun; when the graph after
// the layer does not keep the batch dimension (Rerun refuses stacked
// variants), they run one at a time.
func (j *job) ablate(ctx context.Context, r *engine.Result, l layerInfo, a *tensor.Tensor, fill []float32, s0 [][]float32, targets [][]Target, sk [][][]float32) error {
	at := func(i, k, p int) int {
		if l.layout == NHWC {
			return (i*l.p+p)*l.c + k
		}
		return (i*l.c+k)*l.p + p
	}
	var todo []int
	for k := 0; k < l.c; k++ {
		same := true
		for i := 0; i < j.n && same; i++ {
			for p := 0; p < l.p && same; p++ {
				same = math.Float32bits(a.F[at(i, k, p)]) == math.Float32bits(fill[i])
			}
		}
		if !same {
			todo = append(todo, k)
			continue
		}
		for i := range sk {
			for t := range sk[i] {
				sk[i][t][k] = s0[i][t]
			}
		}
	}
	size := len(a.F) // one variant: every image's activation
	kb := max(min(ablationBatch, len(todo), ablationBytes/(4*size)), 1)
	work := tensor.New(tensor.Float32, append([]int{kb * a.Shape[0]}, a.Shape[1:]...)...)
	for v := range kb {
		copy(work.F[v*size:(v+1)*size], a.F)
	}
	// set writes fill into channel k of every image of variant v, or
	// restores the channel from a.
	set := func(v, k int, restore bool) {
		dst := work.F[v*size : (v+1)*size]
		for i := 0; i < j.n; i++ {
			for p := 0; p < l.p; p++ {
				q := at(i, k, p)
				if restore {
					dst[q] = a.F[q]
				} else {
					dst[q] = fill[i]
				}
			}
		}
	}
	for start := 0; start < len(todo); {
		if err := ctx.Err(); err != nil {
			return err
		}
		kn := min(kb, len(todo)-start)
		for v := range kn {
			set(v, todo[start+v], false)
		}
		in := work
		if kn < kb {
			in = tensor.FromFloat32(append([]int{kn * a.Shape[0]}, a.Shape[1:]...), work.F[:kn*size])
		}
		out, err := r.Rerun(ctx, map[string]*tensor.Tensor{l.name: in}, []string{j.e.logits})
		if err != nil && kn > 1 && ctx.Err() == nil {
			// Stacked variants refused: one channel at a time from here.
			for v := range kn {
				set(v, todo[start+v], true)
			}
			kb = 1
			work = tensor.FromFloat32(a.Shape, work.F[:size])
			continue
		}
		if err != nil {
			return err
		}
		lg := out[j.e.logits]
		for v := range kn {
			k := todo[start+v]
			for i := 0; i < j.n; i++ {
				row := j.row(lg, v*j.n+i)
				for t, tg := range targets[i] {
					sk[i][t][k] = float32(tg.score(row, j.opt.Score))
				}
			}
			set(v, k, true)
		}
		start += kn
	}
	return nil
}
