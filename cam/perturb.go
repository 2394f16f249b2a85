package cam

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"

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
	var runScores [][]float64 // per run, per target
	shape := slices.Clone(x.Shape)
	shape[0] = bs
	if bs != declared {
		shape[0] = min(bs, j.n*len(channels)) // no larger than needed
	}
	batch := tensor.New(tensor.Float32, shape...)
	// With a linear stem (stem.go), the runs replace its output, z, and
	// the pending runs are kept as their masks' coefficients until the
	// batch is full.
	var st *linearStem
	if scoreCAMStem && len(channels) >= scoreCAMStemMin*(l.p+1) {
		st = j.e.gi.linearStem(j.e.input)
	}
	var z *tensor.Tensor
	bases := map[int]*stemBasis{}
	var slots []stemSlot
	pending := 0 // masked inputs in batch: the last runs
	flush := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := pending
		pending = 0
		in := batch
		var replace map[string]*tensor.Tensor
		if st != nil {
			if err := j.composeBatch(st, bases, slots, z.F); err != nil {
				return err
			}
			slots = slots[:0]
			zb := z
			zImg := len(z.F) / z.Shape[0]
			if b < bs {
				if bs == declared {
					for q := b; q < bs; q++ {
						copy(z.F[q*zImg:(q+1)*zImg], z.F[(b-1)*zImg:b*zImg])
					}
				} else {
					in = tensor.FromFloat32(append([]int{b}, shape[1:]...), batch.F[:b*img])
					zb = tensor.FromFloat32(append([]int{b}, z.Shape[1:]...), z.F[:b*zImg])
				}
			}
			replace = map[string]*tensor.Tensor{st.replace: zb}
		} else if b < bs {
			if bs == declared {
				// The model takes no other batch size: repeat the last
				// masked image (its copies' scores are not read).
				for q := b; q < bs; q++ {
					copy(batch.F[q*img:(q+1)*img], batch.F[(b-1)*img:b*img])
				}
			} else {
				in = tensor.FromFloat32(append([]int{b}, shape[1:]...), batch.F[:b*img])
			}
		}
		r, err := j.e.m.Run(ctx, in, engine.Pass{Fetch: []string{j.e.logits}, Replace: replace})
		if err != nil {
			return err
		}
		lg := r.Values[j.e.logits]
		first := len(set.runs) - b
		for q := range b {
			i := set.runs[first+q].image
			row := lg.F[q*j.classes : (q+1)*j.classes]
			s := make([]float64, len(targets[i]))
			for t, tg := range targets[i] {
				s[t] = tg.score(row, j.opt.Score)
			}
			runScores = append(runScores, s)
		}
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
			sb, err := j.stemRuns(ctx, st, rz, src, l.p, batch)
			if err != nil {
				return nil, err
			}
			switch {
			case sb != nil && (i > 0 || sb.overlap() <= stemMaxOverlap):
				bases[i] = sb
				if z == nil {
					z = tensor.New(tensor.Float32, shape[0], sb.c, sb.oh, sb.ow)
				}
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
					j.maskImage(batch.F[pending*img:(pending+1)*img], src, mask)
				}
			}
			of[i][kk] = r
			if !isNew {
				continue
			}
			if pending++; pending == bs {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
	}
	if pending > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
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
