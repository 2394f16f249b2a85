// Command train trains the demo's shape classifier with gradcam's own
// engine and writes it as ONNX (demo/model.onnx, embedded by package demo).
//
// Reproduce the committed model from the repository root with
//
//	go run ./demo/internal/train -out demo/model.onnx
//
// (or go generate ./demo). The committed model: 2400 steps of 32
// pictures in 11m30s on the project's 2-core machine (shared with other
// work; go run's compilation included), validation accuracy 98.6% on 1000
// fresh pictures; its log is in the commit message that added it. Runs
// are bit-for-bit repeatable with the same code on the same machine; a
// change in the engine's kernels (the order of floating-point sums) gives
// a slightly different model of the same quality.
//
// The network is six 3x3 convolutions with ReLU (two with stride 2: 64x64
// -> 32x32 -> 16x16), a global average pool and a dense layer: the CAM
// recipe (Zhou et al. 2016, "Learning Deep Features for Discriminative
// Localization": global average pooling of a fine last feature map, then
// the classifier), so that Grad-CAM's 16x16 map localises the object.
//
// Every training batch is freshly generated (seed trainSeedBase+step), so
// there is no fixed training set to overfit; the clutter rises from none
// to full over the first steps (clutterAt). Training normalises each
// convolution's output with batch statistics (see net), which the
// exported model folds into the convolutions. The loss is softmax
// cross-entropy computed here from the logits; the engine's reverse mode
// gives the parameter gradients (Backward.To names the initializers); Adam
// (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization",
// Algorithm 1) with linear warm-up and cosine decay updates them. Every
// random choice is seeded.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/gradcam/gradcam/demo"
	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/imaging"
	"github.com/gradcam/gradcam/onnx"
	"github.com/gradcam/gradcam/tensor"
)

// Seeds. Training batch k is demo.GenerateClutter(trainSeedBase+k, ...),
// the batches of the final statistics pass statsSeedBase+k, the
// validation set is seed valSeed. Package demo's tests use other seeds.
const (
	trainSeedBase = 1 << 32
	statsSeedBase = 1 << 33
	valSeed       = 2
	initSeed      = 1
)

// convs lists the convolutions: output channels and stride.
var convs = []struct{ out, stride int }{
	{16, 1}, {32, 2}, {32, 1}, {64, 2}, {64, 1}, {64, 1},
}

// targetLayer is the last feature map, the input of the global pool.
var targetLayer = fmt.Sprintf("relu%d", len(convs))

func main() {
	out := flag.String("out", "model.onnx", "output ONNX file")
	steps := flag.Int("steps", 2400, "training steps")
	batch := flag.Int("batch", 32, "images per step")
	lr := flag.Float64("lr", 4e-3, "peak learning rate")
	warm := flag.Int("warmup", 100, "warm-up steps")
	ramp := flag.Float64("ramp", 0.15, "fraction of the steps over which the clutter rises from 0 to 1")
	evalEvery := flag.Int("eval", 200, "validate every this many steps")
	valN := flag.Int("val", 1000, "validation images")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	log.SetFlags(0)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	start := time.Now()
	n := newNet(rand.New(rand.NewPCG(initSeed, 0)))
	tg := n.trainGraph(*batch)
	opt := newAdam(n.params, n.order)
	pre := preprocess()
	valSamples := demo.Generate(valSeed, *valN)
	val, valClasses := batchOf(pre, valSamples), classesOf(valSamples)
	fetch := []string{"logits"}
	for k := range convs {
		fetch = append(fetch, bnName(k, "mean"), bnName(k, "var"))
	}

	var lossSum, accSum float64
	var seen int
	for step := range *steps {
		samples := demo.GenerateClutter(trainSeedBase+uint64(step), *batch, clutterAt(step, *steps, *ramp))
		x, y := batchOf(pre, samples), classesOf(samples)
		var loss, acc float64
		// A model may prepare its constant weights once (packing, fusing),
		// and its graph must not change while it is in use: each step
		// builds one on the current weights.
		m, err := engine.New(tg)
		if err != nil {
			log.Fatal(err)
		}
		res, err := m.Run(context.Background(), x, engine.Pass{Fetch: fetch, Backward: &engine.Backward{
			From: []string{"logits"},
			Seed: func(v []*tensor.Tensor) ([]*tensor.Tensor, error) {
				var g *tensor.Tensor
				g, loss, acc = crossEntropy(v[0], y)
				return []*tensor.Tensor{g}, nil
			},
			To: n.order,
		}})
		if err != nil {
			log.Fatal(err)
		}
		n.trackStats(res.Values, 0.1)
		opt.step(res.Grads, schedule(step, *steps, *warm, *lr))
		lossSum += loss
		accSum += acc
		seen++
		if (step+1)%*evalEvery == 0 || step+1 == *steps {
			va, err := accuracy(n.exportGraph(), val, valClasses)
			if err != nil {
				log.Fatal(err)
			}
			log.Printf("step %5d  loss %.4f  train acc %.3f  val acc %.4f  %s",
				step+1, lossSum/float64(seen), accSum/float64(seen), va, time.Since(start).Round(time.Second))
			lossSum, accSum, seen = 0, 0, 0
		}
	}
	if err := n.preciseStats(pre, 16, 64); err != nil {
		log.Fatal(err)
	}
	g := n.exportGraph()
	va, err := accuracy(g, val, valClasses)
	if err != nil {
		log.Fatal(err)
	}
	g.Doc = fmt.Sprintf("gradcam demo shape classifier (classes: %s), trained by demo/internal/train: "+
		"%d steps of %d pictures, Adam with peak learning rate %g; validation accuracy %.4f on %d pictures (seed %d)",
		strings.Join(demo.Classes(), ", "), *steps, *batch, *lr, va, *valN, valSeed)
	if err := onnx.Save(*out, g); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s: validation accuracy %.4f, %s", *out, va, time.Since(start).Round(time.Second))
}

// preprocess is the input recipe the model's metadata names: the "tf"
// preset (p/127.5 - 1) at 64x64, NCHW.
func preprocess() imaging.Preprocess {
	p, err := imaging.Preset("tf")
	if err != nil {
		log.Fatal(err)
	}
	p.Width, p.Height, p.Layout = demo.Size, demo.Size, imaging.NCHW
	return p
}

func batchOf(p imaging.Preprocess, s []demo.Sample) *tensor.Tensor {
	const per = 3 * demo.Size * demo.Size
	x := tensor.New(tensor.Float32, len(s), 3, demo.Size, demo.Size)
	for i, smp := range s {
		t, _, err := p.Apply(smp.Image)
		if err != nil {
			log.Fatal(err)
		}
		copy(x.F[i*per:(i+1)*per], t.F)
	}
	return x
}

func classesOf(s []demo.Sample) []int {
	y := make([]int, len(s))
	for i, smp := range s {
		y[i] = smp.Class
	}
	return y
}

// crossEntropy returns the gradient of the mean softmax cross-entropy
// with respect to the logits, softmax(z) - onehot(y) over the batch size,
// with the loss and the batch accuracy.
func crossEntropy(z *tensor.Tensor, y []int) (*tensor.Tensor, float64, float64) {
	n, c := z.Shape[0], z.Shape[1]
	g := tensor.New(tensor.Float32, n, c)
	var loss, hits float64
	for i := range n {
		row := z.F[i*c : (i+1)*c]
		mx, arg := row[0], 0
		for k, v := range row {
			if v > mx {
				mx, arg = v, k
			}
		}
		if arg == y[i] {
			hits++
		}
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(float64(v - mx))
		}
		loss += math.Log(sum) - float64(row[y[i]]-mx)
		for k, v := range row {
			p := math.Exp(float64(v-mx)) / sum
			if k == y[i] {
				p--
			}
			g.F[i*c+k] = float32(p / float64(n))
		}
	}
	return g, loss / float64(n), hits / float64(n)
}

func accuracy(g *graph.Graph, x *tensor.Tensor, y []int) (float64, error) {
	m, err := engine.New(g)
	if err != nil {
		return 0, err
	}
	const chunk = 100
	per := x.Len() / x.Shape[0]
	hits := 0
	for lo := 0; lo < len(y); lo += chunk {
		hi := min(lo+chunk, len(y))
		xb := tensor.FromFloat32([]int{hi - lo, 3, demo.Size, demo.Size}, x.F[lo*per:hi*per])
		res, err := m.Run(context.Background(), xb, engine.Pass{})
		if err != nil {
			return 0, err
		}
		z := res.Values["logits"]
		c := z.Shape[1]
		for i := range hi - lo {
			arg := 0
			for k := range c {
				if z.F[i*c+k] > z.F[i*c+arg] {
					arg = k
				}
			}
			if arg == y[lo+i] {
				hits++
			}
		}
	}
	return float64(hits) / float64(len(y)), nil
}

// clutterAt is the curriculum: the clutter of the training images rises
// linearly from 0 to 1 over the first ramp fraction of the steps (a plain
// CNN without normalisation does not get off the ground on the full
// clutter from the start), then stays at 1.
func clutterAt(step, steps int, ramp float64) float64 {
	if ramp <= 0 {
		return 1
	}
	return min(1, float64(step)/(ramp*float64(steps)))
}

// schedule is linear warm-up to peak, then cosine decay to zero.
func schedule(step, steps, warm int, peak float64) float64 {
	if step < warm {
		return peak * float64(step+1) / float64(warm)
	}
	t := float64(step-warm) / float64(max(steps-warm, 1))
	return peak * 0.5 * (1 + math.Cos(math.Pi*t))
}

// adam holds the optimiser state of every parameter.
type adam struct {
	params map[string]*tensor.Tensor
	m, v   map[string][]float64
	t      int
}

func newAdam(params map[string]*tensor.Tensor, names []string) *adam {
	a := &adam{params: map[string]*tensor.Tensor{}, m: map[string][]float64{}, v: map[string][]float64{}}
	for _, n := range names {
		p := params[n]
		a.params[n] = p
		a.m[n] = make([]float64, len(p.F))
		a.v[n] = make([]float64, len(p.F))
	}
	return a
}

// step applies one Adam update (β1 0.9, β2 0.999, ε 1e-8) to the
// initializers in place.
func (a *adam) step(grads map[string]*tensor.Tensor, lr float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	a.t++
	c1 := 1 - math.Pow(b1, float64(a.t))
	c2 := 1 - math.Pow(b2, float64(a.t))
	for name, p := range a.params {
		g, m, v := grads[name].F, a.m[name], a.v[name]
		for i := range p.F {
			gi := float64(g[i])
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			p.F[i] -= float32(lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + eps))
		}
	}
}
