// Package ops implements the ONNX operators that image classifiers use, each
// with its forward computation, its shape inference and, where it is
// differentiable, its backward pass (the vector-Jacobian product). Each
// operator family lives in its own file, forward and backward side by side.
//
// Operators are built from graph nodes with New and registered by op type in
// this package's init functions.
package ops

import (
	"fmt"
	"sort"
	"sync"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// Value is what is known about a tensor before it is computed: its element
// type and shape, and its contents when they are constant.
type Value struct {
	DType tensor.DType
	Shape []int
	// Const holds the value when it is known at planning time (weights,
	// folded shape computations), nil otherwise.
	Const *tensor.Tensor
}

// Op is one operator instance, built for one node.
type Op interface {
	// Infer returns the type and shape of each output from those of the
	// inputs (an omitted optional input is a zero Value). It may fill
	// Const for outputs that follow from shapes alone, as Shape does.
	Infer(in []Value) ([]Value, error)
	// Forward computes the outputs. It must not modify its inputs. An
	// omitted optional input is nil.
	Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error)
}

// Differentiable is an Op with a backward pass.
type Differentiable interface {
	Op
	// Backward returns, for every input i with need[i], the gradient of a
	// scalar loss with respect to in[i], given the forward inputs and
	// outputs and the gradient of the loss with respect to each output
	// (nil when an output does not reach the loss, meaning zero). Entries
	// for inputs not needed are nil. It must not modify in, out or gradOut.
	Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error)
}

// Into is an Op that can write its output into a buffer the caller
// provides, so that an engine can recycle outputs from run to run rather
// than allocate them (an allocation of fresh memory costs page faults and
// zeroing: half of ResNet50's max pooling time).
type Into interface {
	Op
	// ForwardInto computes the op's one output into y, the float32
	// elements of the output shape Infer gives for these inputs (its
	// prior contents are not read), and reports true. It reports false,
	// having written nothing, when this op cannot do that for these inputs
	// (another output type, or more than one output); Forward then
	// applies.
	ForwardInto(ctx *Ctx, in []*tensor.Tensor, y []float32) (bool, error)
}

// Ctx carries what an operator may use while running: the number of
// goroutines it may spread work over. A nil *Ctx is valid and means the
// defaults.
type Ctx struct {
	// Threads is the most goroutines an op may use; 0 means GOMAXPROCS.
	Threads int
	// Precise keeps convolutions to direct sums (im2col and GEMM, not
	// the Winograd tiles, whose rounding error is larger and depends on
	// the kernels of the machine). A caller sets it for the values a
	// backward pass reads: a ReLU gate within rounding of zero may flip
	// with a larger error, and the gradient with it.
	Precise bool
}

// Builder makes an Op for a node. opset is the version of the default
// operator set the model was written for.
type Builder func(n *graph.Node, opset int64) (Op, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Builder{}
)

// Register makes New build nodes of opType with b. It is meant for init
// functions; registering a type twice panics.
func Register(opType string, b Builder) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[opType]; dup {
		panic("ops: op type registered twice: " + opType)
	}
	registry[opType] = b
}

// Supported reports whether New can build nodes of opType.
func Supported(opType string) bool {
	registryMu.RLock()
	defer registryMu.RUnlock()
	_, ok := registry[opType]
	return ok
}

// Types lists the supported op types, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// New builds the operator for a node of the default ONNX domain.
func New(n *graph.Node, opset int64) (Op, error) {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return nil, fmt.Errorf("%s: operator domain %q is not supported", n, n.Domain)
	}
	registryMu.RLock()
	b := registry[n.OpType]
	registryMu.RUnlock()
	if b == nil {
		return nil, fmt.Errorf("%s: unsupported op type %s", n, n.OpType)
	}
	op, err := b(n, opset)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n, err)
	}
	return op, nil
}
