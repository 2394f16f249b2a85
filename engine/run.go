package engine

import (
	"context"
	"fmt"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// Pass says what one run computes.
type Pass struct {
	// Fetch names the tensors whose values the run returns. Empty means
	// the graph outputs.
	Fetch []string
	// Replace gives tensors a value of the caller's instead of the one the
	// graph computes (masking, ablation). The replacement must have the
	// planned shape; nodes needed only to compute a replaced tensor are
	// skipped.
	Replace map[string]*tensor.Tensor
	// Editable names tensors that Result.Rerun may later replace: the run
	// keeps what the graph downstream of them reads from elsewhere.
	Editable []string
	// Backward, when set, runs reverse mode after the forward pass.
	Backward *Backward
	// Threads bounds the goroutines each op of the run may use; 0 means
	// the model's Threads. Several runs of one thread each in parallel
	// beat runs of all threads in turn when there are many (Score-CAM's
	// batches): no op waits for its slowest share.
	Threads int
}

// Backward describes a reverse-mode pass from a scalar.
type Backward struct {
	// From names the tensors the scalar is a function of (usually the
	// logits output).
	From []string
	// Seed returns the gradient of the scalar with respect to each From
	// tensor, given their values. For the score of class c in logits it is
	// a one-hot tensor. A nil entry means zero.
	Seed func(values []*tensor.Tensor) ([]*tensor.Tensor, error)
	// To names the tensors whose gradients the run returns; a graph
	// input's name gives the input gradient, an initializer's name the
	// gradient of that weight (parameter gradients are computed only when
	// asked for this way).
	To []string
	// Rules replaces the backward pass of every node of an op type (Guided
	// Backprop changes Relu's).
	Rules map[string]Rule
}

// Rule is a replacement backward pass for a node, with the arguments of
// ops.Differentiable.Backward.
type Rule func(ctx *ops.Ctx, n *graph.Node, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error)

// Result holds what a run computed.
type Result struct {
	// Values holds the fetched tensors by name.
	Values map[string]*tensor.Tensor
	// Grads holds the gradients asked for by name. A tensor that does not
	// influence the scalar gets a zero gradient.
	Grads map[string]*tensor.Tensor

	m        *Model
	p        *plan
	threads  int                    // Pass.Threads, for Rerun
	retained map[int]*tensor.Tensor // for Rerun
}

// Run runs a single-input model on x.
func (m *Model) Run(ctx context.Context, x *tensor.Tensor, p Pass) (*Result, error) {
	if len(m.inputs) != 1 {
		return nil, fmt.Errorf("engine: the model has %d inputs; use RunInputs", len(m.inputs))
	}
	return m.RunInputs(ctx, map[string]*tensor.Tensor{m.inputs[0].Name: x}, p)
}

// RunInputs runs the model on named inputs.
func (m *Model) RunInputs(ctx context.Context, inputs map[string]*tensor.Tensor, p Pass) (*Result, error) {
	shapes := make([][]int, len(m.inputs))
	ints := make([]*tensor.Tensor, len(m.inputs))
	for i, vi := range m.inputs {
		x := inputs[vi.Name]
		if err := m.checkInput(i, x); err != nil {
			return nil, err
		}
		shapes[i] = x.Shape
		if x.DType == tensor.Int64 {
			ints[i] = x
		}
	}
	for name := range inputs {
		if _, ok := m.ids[name]; !ok || !m.isInput(m.ids[name]) {
			return nil, fmt.Errorf("engine: %q is not an input of the model", name)
		}
	}
	pl, err := m.plan(shapes, ints)
	if err != nil {
		return nil, err
	}
	return m.newRun(ctx, pl, p.Threads).do(inputs, p)
}

func (m *Model) isInput(id int) bool {
	for _, i := range m.inIDs {
		if i == id {
			return true
		}
	}
	return false
}

type run struct {
	m     *Model
	p     *plan
	ctx   context.Context
	opctx *ops.Ctx
	vals  []*tensor.Tensor

	// precise is opctx asking for precise convolutions (ops.Ctx.Precise),
	// for the units whose values the backward pass reads (inBW).
	precise *ops.Ctx
	inBW    []bool

	bufOf  []int32  // per tensor: index in bufs of its arena buffer, or -1
	bufs   []buffer // arena buffers taken by this run
	noFuse bool     // run every node by its op (tests)
	shapes [][]int  // shapes that differ from the plan's (batched rerun)
}

// newRun prepares a run of plan pl whose ops use at most threads
// goroutines (0: the model's Threads).
func (m *Model) newRun(ctx context.Context, pl *plan, threads int) *run {
	if threads <= 0 {
		threads = m.Threads
	}
	r := &run{m: m, p: pl, ctx: ctx, opctx: &ops.Ctx{Threads: threads}, vals: make([]*tensor.Tensor, len(m.names))}
	r.precise = &ops.Ctx{Threads: threads, Precise: true}
	r.bufOf = make([]int32, len(m.names))
	for i := range r.bufOf {
		r.bufOf[i] = -1
	}
	r.noFuse = m.noFuse
	return r
}

func (m *Model) lookup(names []string, what string) ([]int, error) {
	ids := make([]int, len(names))
	for i, n := range names {
		id, ok := m.ids[n]
		if !ok {
			return nil, fmt.Errorf("engine: %s: no tensor named %q", what, n)
		}
		ids[i] = id
	}
	return ids, nil
}

func (r *run) do(inputs map[string]*tensor.Tensor, p Pass) (*Result, error) {
	m, pl := r.m, r.p
	nT := len(m.names)
	fetchNames := p.Fetch
	if len(fetchNames) == 0 {
		fetchNames = m.OutputNames()
	}
	fetch, err := m.lookup(fetchNames, "fetch")
	if err != nil {
		return nil, err
	}
	replaced := make([]bool, nT)
	for name, t := range p.Replace {
		id, ok := m.ids[name]
		if !ok {
			return nil, fmt.Errorf("engine: replace: no tensor named %q", name)
		}
		if err := r.checkReplacement(id, t); err != nil {
			return nil, err
		}
		replaced[id] = true
		r.vals[id] = t
	}
	for i, id := range m.inIDs {
		if !replaced[id] {
			r.vals[id] = inputs[m.inputs[i].Name]
		}
	}

	// Backward region: nodes downstream of a To tensor and upstream of a
	// From tensor.
	var bw *Backward
	var from, to []int
	inBW := make([]bool, len(m.nodes))
	gradReach := make([]bool, nT) // tensor depends on a To tensor
	if p.Backward != nil {
		bw = p.Backward
		if from, err = m.lookup(bw.From, "backward from"); err != nil {
			return nil, err
		}
		if to, err = m.lookup(bw.To, "backward to"); err != nil {
			return nil, err
		}
		for _, id := range to {
			gradReach[id] = true
		}
		for _, ni := range pl.steps {
			for _, id := range m.nodeIn[ni] {
				if id >= 0 && gradReach[id] {
					for _, o := range m.nodeOut[ni] {
						if o >= 0 && !replaced[o] {
							gradReach[o] = true
						}
					}
					break
				}
			}
		}
		upstream := make([]bool, nT)
		for _, id := range from {
			upstream[id] = true
		}
		for k := len(pl.steps) - 1; k >= 0; k-- {
			ni := pl.steps[k]
			up := false
			for _, o := range m.nodeOut[ni] {
				if o >= 0 && upstream[o] && !replaced[o] {
					up = true
				}
			}
			if !up {
				continue
			}
			reach := false
			for _, id := range m.nodeIn[ni] {
				if id >= 0 {
					upstream[id] = true
					if gradReach[id] {
						reach = true
					}
				}
			}
			inBW[ni] = reach
		}
	}

	// Tensors to keep after the forward pass.
	keep := make([]bool, nT)
	for _, id := range fetch {
		keep[id] = true
	}
	for _, id := range from {
		keep[id] = true
	}
	for _, ni := range pl.steps {
		if !inBW[ni] {
			continue
		}
		for _, id := range m.nodeIn[ni] {
			if id >= 0 {
				keep[id] = true
			}
		}
		for _, id := range m.nodeOut[ni] {
			if id >= 0 {
				keep[id] = true
			}
		}
	}
	var editable []int
	if len(p.Editable) > 0 {
		if editable, err = m.lookup(p.Editable, "editable"); err != nil {
			return nil, err
		}
		for _, id := range r.rerunReads(editable) {
			keep[id] = true
		}
	}

	// Which steps must run: those upstream of a kept tensor.
	needT := make([]bool, nT)
	for id, k := range keep {
		if k && !replaced[id] {
			needT[id] = true
		}
	}
	runStep := make([]bool, len(m.nodes))
	for k := len(pl.steps) - 1; k >= 0; k-- {
		ni := pl.steps[k]
		need := false
		for _, o := range m.nodeOut[ni] {
			if o >= 0 && needT[o] {
				need = true
			}
		}
		if !need {
			continue
		}
		runStep[ni] = true
		for _, id := range m.nodeIn[ni] {
			if id >= 0 && !replaced[id] {
				needT[id] = true
			}
		}
	}
	pinned := make([]bool, nT)
	for id := range pinned {
		pinned[id] = keep[id] || replaced[id]
	}
	r.inBW = inBW
	if err := r.exec(r.units(runStep, pinned), keep, replaced); err != nil {
		return nil, err
	}

	res := &Result{Values: make(map[string]*tensor.Tensor, len(fetch)), m: m, p: pl, threads: p.Threads}
	for i, id := range fetch {
		v := r.value(id)
		if v == nil {
			return nil, fmt.Errorf("engine: tensor %q was not computed", fetchNames[i])
		}
		res.Values[fetchNames[i]] = v
	}
	if editable != nil {
		res.retained = make(map[int]*tensor.Tensor)
		for _, id := range r.rerunReads(editable) {
			res.retained[id] = r.value(id)
		}
		for _, id := range editable {
			res.retained[id] = r.value(id)
		}
	}
	if bw != nil {
		grads, err := r.backward(bw, from, to, inBW, gradReach)
		if err != nil {
			return nil, err
		}
		res.Grads = grads
	}
	r.recycle(res.tensors())
	return res, nil
}

// tensors lists every tensor res hands to the caller.
func (res *Result) tensors() []*tensor.Tensor {
	out := make([]*tensor.Tensor, 0, len(res.Values)+len(res.Grads)+len(res.retained))
	for _, t := range res.Values {
		out = append(out, t)
	}
	for _, t := range res.Grads {
		out = append(out, t)
	}
	for _, t := range res.retained {
		out = append(out, t)
	}
	return out
}

// value returns a tensor's current value: computed, given, or constant.
func (r *run) value(id int) *tensor.Tensor {
	if id < 0 {
		return nil
	}
	if v := r.vals[id]; v != nil {
		return v
	}
	return r.m.constant(id, r.p.values[id].Const, true)
}

func (r *run) checkReplacement(id int, t *tensor.Tensor) error {
	v := r.p.values[id]
	name := r.m.names[id]
	if v.Const != nil {
		return fmt.Errorf("engine: replace: %q is a constant of the model", name)
	}
	if t == nil || !tensor.EqualShape(t.Shape, v.Shape) || t.DType != v.DType {
		got := "nil"
		if t != nil {
			got = fmt.Sprintf("%s%v", t.DType, t.Shape)
		}
		return fmt.Errorf("engine: replace: %q is %s%v, replacement is %s", name, v.DType, v.Shape, got)
	}
	return nil
}

// downstream marks the steps that depend on any of the given tensors.
func (r *run) downstream(ids []int) []bool {
	m, pl := r.m, r.p
	dep := make([]bool, len(m.names))
	for _, id := range ids {
		dep[id] = true
	}
	down := make([]bool, len(m.nodes))
	for _, ni := range pl.steps {
		for _, id := range m.nodeIn[ni] {
			if id >= 0 && dep[id] {
				down[ni] = true
				break
			}
		}
		if down[ni] {
			for _, o := range m.nodeOut[ni] {
				if o >= 0 {
					dep[o] = true
				}
			}
		}
	}
	return down
}

// rerunReads lists the non-constant tensors that the steps downstream of
// ids read but do not compute themselves.
func (r *run) rerunReads(ids []int) []int {
	m, pl := r.m, r.p
	down := r.downstream(ids)
	inside := make([]bool, len(m.names))
	for _, ni := range pl.steps {
		if down[ni] {
			for _, o := range m.nodeOut[ni] {
				if o >= 0 {
					inside[o] = true
				}
			}
		}
	}
	seen := make([]bool, len(m.names))
	var out []int
	for _, ni := range pl.steps {
		if !down[ni] {
			continue
		}
		for _, id := range m.nodeIn[ni] {
			if id >= 0 && !inside[id] && !seen[id] && pl.values[id].Const == nil {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// Retained returns the value a run kept of an Editable tensor, or nil.
func (res *Result) Retained(name string) *tensor.Tensor {
	id, ok := res.m.ids[name]
	if !ok || res.retained == nil {
		return nil
	}
	return res.retained[id]
}

// backward runs reverse mode over the nodes marked inBW.
func (r *run) backward(bw *Backward, from, to []int, inBW, gradReach []bool) (map[string]*tensor.Tensor, error) {
	m, pl := r.m, r.p
	fromVals := make([]*tensor.Tensor, len(from))
	for i, id := range from {
		fromVals[i] = r.value(id)
	}
	if bw.Seed == nil {
		return nil, fmt.Errorf("engine: backward without a Seed function")
	}
	seeds, err := bw.Seed(fromVals)
	if err != nil {
		return nil, err
	}
	if len(seeds) != len(from) {
		return nil, fmt.Errorf("engine: seed gave %d gradients for %d tensors", len(seeds), len(from))
	}
	grads := make([]*tensor.Tensor, len(m.names))
	for i, id := range from {
		if seeds[i] == nil {
			continue
		}
		if !tensor.EqualShape(seeds[i].Shape, fromVals[i].Shape) {
			return nil, fmt.Errorf("engine: seed for %q has shape %v, tensor has %v", m.names[id], seeds[i].Shape, fromVals[i].Shape)
		}
		grads[id] = accumulate(grads[id], seeds[i])
	}
	isTo := make([]bool, len(m.names))
	for _, id := range to {
		isTo[id] = true
	}
	need := make([]bool, 0, 8)
	in := make([]*tensor.Tensor, 0, 8)
	out := make([]*tensor.Tensor, 0, 8)
	gout := make([]*tensor.Tensor, 0, 8)
	for k := len(pl.steps) - 1; k >= 0; k-- {
		ni := pl.steps[k]
		if !inBW[ni] {
			continue
		}
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
		gout = gout[:0]
		any := false
		for _, o := range m.nodeOut[ni] {
			var g *tensor.Tensor
			if o >= 0 {
				g = grads[o]
			}
			if g != nil {
				any = true
			}
			gout = append(gout, g)
		}
		if !any {
			continue
		}
		need = need[:0]
		in = in[:0]
		anyNeed := false
		for _, id := range m.nodeIn[ni] {
			nd := id >= 0 && gradReach[id] && pl.values[id].DType == tensor.Float32
			need = append(need, nd)
			anyNeed = anyNeed || nd
			in = append(in, r.value(id))
		}
		if !anyNeed {
			continue
		}
		out = out[:0]
		for _, o := range m.nodeOut[ni] {
			out = append(out, r.value(o))
		}
		n := m.nodes[ni]
		var gin []*tensor.Tensor
		if rule, ok := bw.Rules[n.OpType]; ok {
			gin, err = rule(r.opctx, n, in, out, gout, need)
		} else if d, ok := m.ops[ni].(ops.Differentiable); ok {
			gin, err = d.Backward(r.opctx, in, out, gout, need)
		} else {
			return nil, fmt.Errorf("engine: %s has no backward pass", n)
		}
		if err != nil {
			return nil, fmt.Errorf("engine: backward of %s: %w", n, err)
		}
		for i, id := range m.nodeIn[ni] {
			if !need[i] || i >= len(gin) || gin[i] == nil {
				continue
			}
			if !tensor.EqualShape(gin[i].Shape, pl.values[id].Shape) {
				return nil, fmt.Errorf("engine: backward of %s gave a gradient of shape %v for input %q of shape %v", n, gin[i].Shape, m.names[id], pl.values[id].Shape)
			}
			grads[id] = accumulate(grads[id], gin[i])
		}
		// Free what no earlier node needs.
		for _, o := range m.nodeOut[ni] {
			if o >= 0 && !isTo[o] {
				grads[o] = nil
			}
		}
	}
	res := make(map[string]*tensor.Tensor, len(to))
	for _, id := range to {
		g := grads[id]
		if g == nil {
			v := pl.values[id]
			g = tensor.New(tensor.Float32, v.Shape...)
		}
		res[m.names[id]] = g
	}
	return res, nil
}

// accumulate returns acc + g without modifying either (either may be shared
// with an op's output).
func accumulate(acc, g *tensor.Tensor) *tensor.Tensor {
	if acc == nil {
		return g
	}
	sum := tensor.New(tensor.Float32, acc.Shape...)
	for i := range sum.F {
		sum.F[i] = acc.F[i] + g.F[i]
	}
	return sum
}
