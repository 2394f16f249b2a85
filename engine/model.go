// Package engine runs a model graph: forward to any set of tensors, and
// reverse mode from a scalar (one output element or a weighted sum of
// outputs) back to any set of tensors and the input.
//
// A Model is built once from a graph.Graph and is safe for concurrent use.
// For every distinct input shape it makes a plan: shapes inferred for every
// tensor, and the nodes whose inputs are all constant (weights and the shape
// sub-graphs that exporters emit) folded into constants. A run executes only
// the nodes its outputs need, keeps only the activations that the backward
// pass or a later Rerun will read, and frees the rest as soon as their last
// reader has run.
//
// A Conv with constant weights runs together with the BatchNormalization,
// residual Add and Relu or Clip that follow it (one matrix product whose
// epilogue adds the bias and the residual and clamps), as far as the pass
// lets it: a tensor that is fetched, replaced, kept for the backward pass
// or for Rerun is always materialised. The outputs of these fused
// convolutions are written into buffers that the plan recycles from run to
// run once nothing reads them, so that a steady stream of runs allocates
// little.
package engine

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/bufpool"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// Model is a graph ready to run.
type Model struct {
	g     *graph.Graph
	opset int64
	nodes []*graph.Node // topologically sorted
	ops   []ops.Op

	ids     map[string]int // tensor name → id
	names   []string       // id → name
	nodeIn  [][]int        // per node, input ids (-1 for omitted)
	nodeOut [][]int        // per node, output ids (-1 for omitted)
	prod    []int          // tensor id → producing node, -1 for inputs and initializers
	inputs  []graph.ValueInfo
	inIDs   []int
	outIDs  []int

	// Threads bounds the goroutines one op may use; 0 means GOMAXPROCS.
	Threads int
	// ReleaseWeights lets the model hold the weights of a fused
	// convolution once: packed for its products, the float data of the
	// graph's initializer released (set to nil). Whatever reads the
	// weights through the model (a backward pass through the layer,
	// Constant) gets them back, unpacked bit for bit, and the model keeps
	// them from then on. ResNet50 packs its deepest layers' weights then
	// too (their products read them in place otherwise), and the peak RSS
	// of its Grad-CAM bench goes 226 -> 209 MiB. Set it before the first run, and only when nothing
	// but the model reads the graph's initializers (the graph of a file
	// loaded for the model, not one whose tensors are shared).
	ReleaseWeights bool

	mu    sync.Mutex
	plans map[string]*plan
	fused sync.Map // fusedKey → *ops.FusedConv

	noFuse bool // run every node by its op (tests compare both ways)

	wmu      sync.Mutex
	released map[int]*ops.FusedConv // initializer id → the kernel holding it packed
	pinned   map[int]bool           // initializers read as they are: never released
}

// release releases the data of the weights tensor t (id) that the fused
// kernel f holds packed, unless something read it before.
func (m *Model) release(id int, t *tensor.Tensor, f *ops.FusedConv) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if m.pinned[id] || m.released[id] != nil || t == nil || t.F == nil || m.g.Initializers[m.names[id]] != t {
		return
	}
	if m.released == nil {
		m.released = make(map[int]*ops.FusedConv)
	}
	t.F = nil
	m.released[id] = f
}

// constant returns the constant t (id), its data restored when it was
// released. pin keeps it from being released afterwards (a reader holds
// on to its data).
func (m *Model) constant(id int, t *tensor.Tensor, pin bool) *tensor.Tensor {
	if !m.ReleaseWeights || t == nil || id < 0 {
		return t
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if m.restoreLocked(id, t) {
		pin = true
	}
	if pin {
		if m.pinned == nil {
			m.pinned = make(map[int]bool)
		}
		m.pinned[id] = true
	}
	return t
}

// constantData returns the data of the constant t (id), restored when it
// was released, without keeping it from being released later.
func (m *Model) constantData(id int, t *tensor.Tensor) []float32 {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.restoreLocked(id, t)
	return t.F
}

// restoreLocked gives the constant t (id) its data back if it was
// released, and reports whether it was. m.wmu must be held.
func (m *Model) restoreLocked(id int, t *tensor.Tensor) bool {
	f := m.released[id]
	if f == nil {
		return false
	}
	t.F = f.Weights()
	delete(m.released, id)
	return true
}

// Constant returns the initializer called name with its data (restored if
// the model released it, see ReleaseWeights), or nil when there is none.
func (m *Model) Constant(name string) *tensor.Tensor {
	t, ok := m.g.Initializers[name]
	if !ok {
		return nil
	}
	return m.constant(m.ids[name], t, true)
}

// New prepares g to run. It sorts the nodes, builds every operator and
// fails with one error listing every unsupported op type with the names of
// its nodes.
func New(g *graph.Graph) (*Model, error) {
	if err := g.TopoSort(); err != nil {
		return nil, err
	}
	m := &Model{
		g:     g,
		opset: g.Opset(),
		nodes: g.Nodes,
		ids:   make(map[string]int),
		plans: make(map[string]*plan),
	}
	if m.opset == 0 {
		m.opset = 13
	}
	id := func(name string) int {
		if name == "" {
			return -1
		}
		if i, ok := m.ids[name]; ok {
			return i
		}
		i := len(m.names)
		m.ids[name] = i
		m.names = append(m.names, name)
		m.prod = append(m.prod, -1)
		return i
	}
	for _, vi := range g.Inputs {
		if _, isInit := g.Initializers[vi.Name]; isInit {
			continue
		}
		m.inputs = append(m.inputs, vi)
		m.inIDs = append(m.inIDs, id(vi.Name))
	}
	inits := make([]string, 0, len(g.Initializers))
	for name := range g.Initializers {
		inits = append(inits, name)
	}
	sort.Strings(inits)
	for _, name := range inits {
		id(name)
	}
	unsupported := map[string][]string{}
	var buildErrs []string
	m.ops = make([]ops.Op, len(m.nodes))
	m.nodeIn = make([][]int, len(m.nodes))
	m.nodeOut = make([][]int, len(m.nodes))
	for ni, n := range m.nodes {
		for _, in := range n.Inputs {
			m.nodeIn[ni] = append(m.nodeIn[ni], id(in))
		}
		for _, out := range n.Outputs {
			o := id(out)
			m.nodeOut[ni] = append(m.nodeOut[ni], o)
			if o >= 0 {
				m.prod[o] = ni
			}
		}
		if (n.Domain == "" || n.Domain == "ai.onnx") && !ops.Supported(n.OpType) {
			label := n.OpType
			if n.Domain != "" {
				label = n.Domain + "." + n.OpType
			}
			unsupported[label] = append(unsupported[label], nodeLabel(n))
			continue
		}
		op, err := ops.New(n, m.opset)
		if err != nil {
			buildErrs = append(buildErrs, err.Error())
			continue
		}
		m.ops[ni] = op
	}
	if len(unsupported) > 0 {
		types := make([]string, 0, len(unsupported))
		for t := range unsupported {
			types = append(types, t)
		}
		sort.Strings(types)
		var b strings.Builder
		fmt.Fprintf(&b, "engine: the model uses %d unsupported op type(s):", len(types))
		for _, t := range types {
			names := unsupported[t]
			shown := names
			if len(shown) > 5 {
				shown = shown[:5]
			}
			fmt.Fprintf(&b, " %s (%d node(s): %s", t, len(names), strings.Join(shown, ", "))
			if len(names) > len(shown) {
				fmt.Fprintf(&b, ", ...")
			}
			b.WriteString(")")
		}
		if len(buildErrs) > 0 {
			fmt.Fprintf(&b, "; also: %s", strings.Join(buildErrs, "; "))
		}
		return nil, fmt.Errorf("%s", b.String())
	}
	if len(buildErrs) > 0 {
		return nil, fmt.Errorf("engine: %s", strings.Join(buildErrs, "; "))
	}
	for _, vi := range g.Outputs {
		o, ok := m.ids[vi.Name]
		if !ok {
			return nil, fmt.Errorf("engine: graph output %q is produced by no node", vi.Name)
		}
		m.outIDs = append(m.outIDs, o)
	}
	return m, nil
}

func nodeLabel(n *graph.Node) string {
	if n.Name != "" {
		return n.Name
	}
	if len(n.Outputs) > 0 {
		return "→" + n.Outputs[0]
	}
	return "(unnamed)"
}

// Graph returns the model's graph. It must not be modified.
func (m *Model) Graph() *graph.Graph { return m.g }

// Inputs returns the declared inputs that are not initializers.
func (m *Model) Inputs() []graph.ValueInfo { return m.inputs }

// OutputNames returns the names of the graph outputs.
func (m *Model) OutputNames() []string {
	out := make([]string, len(m.outIDs))
	for i, id := range m.outIDs {
		out[i] = m.names[id]
	}
	return out
}

// InputShape returns the declared shape of the first input with every
// symbolic or unknown dimension replaced by batch for the first dimension
// and -1 for others.
func (m *Model) InputShape(batch int) []int {
	vi := m.inputs[0]
	s := make([]int, len(vi.Shape))
	for i, d := range vi.Shape {
		switch {
		case d.Value > 0:
			s[i] = int(d.Value)
		case i == 0:
			s[i] = batch
		default:
			s[i] = -1
		}
	}
	return s
}

// HasTensor reports whether the graph has a tensor of that name.
func (m *Model) HasTensor(name string) bool {
	_, ok := m.ids[name]
	return ok
}

// Producer returns the node that computes a tensor, or nil for inputs,
// initializers and unknown names.
func (m *Model) Producer(tensorName string) *graph.Node {
	id, ok := m.ids[tensorName]
	if !ok || m.prod[id] < 0 {
		return nil
	}
	return m.nodes[m.prod[id]]
}

func (m *Model) checkInput(i int, x *tensor.Tensor) error {
	vi := m.inputs[i]
	if x == nil {
		return fmt.Errorf("input %q: missing", vi.Name)
	}
	if x.DType != tensor.Float32 && (vi.ElemType == 1 || vi.ElemType == 0) {
		return fmt.Errorf("input %q: expected float32, got %s", vi.Name, x.DType)
	}
	if vi.Shape == nil {
		return nil
	}
	ok := len(vi.Shape) == len(x.Shape)
	if ok {
		for d, dim := range vi.Shape {
			if dim.Value > 0 && int(dim.Value) != x.Shape[d] {
				ok = false
			}
		}
	}
	if !ok {
		return fmt.Errorf("input %q: expected shape %s, got %v", vi.Name, shapeString(vi.Shape), x.Shape)
	}
	return nil
}

func shapeString(dims []graph.Dim) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		switch {
		case d.Value > 0:
			parts[i] = fmt.Sprint(d.Value)
		case d.Param != "":
			parts[i] = d.Param
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// plan is what is known about every tensor for one set of input shapes.
type plan struct {
	values []ops.Value // per tensor id; Const set for constants
	steps  []int       // nodes left to run after folding, in order
	folded []bool      // per node
	chains []*chain    // per node: the fusable chain it heads, or nil
	// arena recycles, by size, the output buffers of fused convolutions
	// (and of ops that write into a given buffer, ops.Into) between runs.
	arena bufpool.Pool
}

func planKey(shapes [][]int, ints []*tensor.Tensor) string {
	var b strings.Builder
	for i, s := range shapes {
		fmt.Fprint(&b, s, ";")
		if i < len(ints) && ints[i] != nil {
			fmt.Fprint(&b, ints[i].I, ";")
		}
	}
	return b.String()
}

// plan returns the plan for the given input shapes, making it once. Integer
// inputs (ints[i] non-nil) are constants of the plan: their values decide
// shapes (a Reshape's target, a Slice's bounds), so the plan is keyed by
// them too.
func (m *Model) plan(shapes [][]int, ints []*tensor.Tensor) (*plan, error) {
	key := planKey(shapes, ints)
	m.mu.Lock()
	p := m.plans[key]
	m.mu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := m.makePlan(shapes, ints)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if len(m.plans) > 16 { // bound the cache: drop an arbitrary older plan
		for k := range m.plans {
			delete(m.plans, k)
			break
		}
	}
	m.plans[key] = p
	m.mu.Unlock()
	return p, nil
}

func (m *Model) makePlan(shapes [][]int, ints []*tensor.Tensor) (*plan, error) {
	p := &plan{values: make([]ops.Value, len(m.names)), folded: make([]bool, len(m.nodes))}
	p.arena.Exact = true
	for name, t := range m.g.Initializers {
		p.values[m.ids[name]] = ops.Value{DType: t.DType, Shape: t.Shape, Const: t}
	}
	for i, id := range m.inIDs {
		dt := tensor.Float32
		if et := m.inputs[i].ElemType; et != 0 && et != 1 && et != 10 && et != 11 && et != 16 {
			dt = tensor.Int64
		}
		p.values[id] = ops.Value{DType: dt, Shape: shapes[i]}
		if i < len(ints) && ints[i] != nil {
			p.values[id] = ops.Value{DType: tensor.Int64, Shape: shapes[i], Const: ints[i]}
		}
	}
	in := make([]ops.Value, 0, 8)
	args := make([]*tensor.Tensor, 0, 8)
	ids := make([]int, 0, 8)
	for ni, n := range m.nodes {
		in, ids = in[:0], ids[:0]
		allConst := true
		for _, id := range m.nodeIn[ni] {
			if id < 0 {
				in = append(in, ops.Value{})
				ids = append(ids, -1)
				continue
			}
			v := p.values[id]
			if v.DType == 0 {
				return nil, fmt.Errorf("engine: %s reads %q before it is computed", n, m.names[id])
			}
			if v.Const == nil {
				allConst = false
			}
			in = append(in, v)
			ids = append(ids, id)
		}
		outs, err := m.ops[ni].Infer(in)
		if err != nil {
			return nil, fmt.Errorf("engine: %s: %w", n, err)
		}
		if len(outs) < countPresent(m.nodeOut[ni]) {
			return nil, fmt.Errorf("engine: %s: op gives %d outputs, node names %d", n, len(outs), len(m.nodeOut[ni]))
		}
		if allConst && !nondeterministic(n.OpType) {
			args = args[:0]
			for i, v := range in {
				args = append(args, m.constant(ids[i], v.Const, true))
			}
			res, err := m.ops[ni].Forward(nil, args)
			if err != nil {
				return nil, fmt.Errorf("engine: folding %s: %w", n, err)
			}
			for j := range outs {
				if j < len(res) {
					outs[j].Const = res[j]
				}
			}
		}
		folded := true
		for j, id := range m.nodeOut[ni] {
			if id < 0 {
				continue
			}
			v := outs[j]
			if v.Const != nil {
				v.DType, v.Shape = v.Const.DType, v.Const.Shape
			} else {
				folded = false
			}
			p.values[id] = v
		}
		p.folded[ni] = folded
		if !folded {
			p.steps = append(p.steps, ni)
		}
	}
	m.findChains(p)
	return p, nil
}

func nondeterministic(opType string) bool {
	switch opType {
	case "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial":
		return true
	}
	return false
}

// countPresent returns how many outputs an op must give for a node: up to
// its last output that is not omitted.
func countPresent(ids []int) int {
	for i := len(ids) - 1; i >= 0; i-- {
		if ids[i] >= 0 {
			return i + 1
		}
	}
	return 0
}

// Shapes returns the shape of every tensor for the given input shapes, by
// name. Constants are included.
func (m *Model) Shapes(inputShapes ...[]int) (map[string][]int, error) {
	p, err := m.planFor(inputShapes)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]int, len(m.names))
	for id, v := range p.values {
		if v.DType != 0 {
			out[m.names[id]] = slices.Clone(v.Shape)
		}
	}
	return out, nil
}

func (m *Model) planFor(shapes [][]int) (*plan, error) {
	if len(shapes) != len(m.inputs) {
		return nil, fmt.Errorf("engine: the model has %d input(s), %d shape(s) given", len(m.inputs), len(shapes))
	}
	for i, s := range shapes {
		x := &tensor.Tensor{DType: tensor.Float32, Shape: s}
		vi := m.inputs[i]
		if vi.Shape != nil && len(vi.Shape) == len(s) {
			ok := true
			for d, dim := range vi.Shape {
				if dim.Value > 0 && int(dim.Value) != s[d] {
					ok = false
				}
			}
			if ok {
				continue
			}
		}
		if vi.Shape != nil {
			return nil, fmt.Errorf("input %q: expected shape %s, got %v", vi.Name, shapeString(vi.Shape), x.Shape)
		}
	}
	return m.plan(shapes, nil)
}
