package onnx

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// Save writes g to a new ONNX file at path (see Write).
func Save(path string, g *graph.Graph) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	if err := Write(f, g); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	return nil
}

// Write serializes g as an ONNX ModelProto. Initializers are written in
// name order, float32 ones as FLOAT raw_data and int64 ones as INT64
// raw_data, straight from their slices (the model is not copied into one
// buffer); a model read from a file with, say, INT32 or FLOAT16 weights is
// therefore written back with INT64 or FLOAT ones. Nodes keep their order,
// attributes and value infos go out sorted by name, lists unpacked as
// ONNX's own writer does; graph inputs that name an initializer are
// omitted. The IR version follows the default opset (7 up to opset 14, 8 up
// to 18, 9 up to 20, 10 after); g must import a default opset. Attributes
// of the kinds graph.Attr holds no value for (GRAPH, TENSORS, ...) cannot
// be written. The output is deterministic.
func Write(w io.Writer, g *graph.Graph) error {
	if err := write(w, g); err != nil {
		return fmt.Errorf("onnx: write: %w", err)
	}
	return nil
}

// piece is a run of the output: encoded bytes, then data written from a
// tensor's own memory.
type piece struct {
	b    []byte
	data []byte
}

func write(w io.Writer, g *graph.Graph) error {
	if g == nil {
		return errors.New("nil graph")
	}
	opset, ok := g.Opsets[""]
	if !ok {
		if opset, ok = g.Opsets["ai.onnx"]; !ok {
			return errors.New("the graph imports no default (\"\") opset")
		}
	}

	// The graph's body: everything but the initializers' data is encoded
	// now; its total length must precede it.
	var pieces []piece
	var b []byte
	for i, n := range g.Nodes {
		if n == nil {
			return fmt.Errorf("graph.node[%d] is nil", i)
		}
		body, err := appendNode(nil, n)
		if err != nil {
			return fmt.Errorf("graph.node[%d] %s: %w", i, n, err)
		}
		b = appendMessage(b, 1, body)
	}
	if g.Name != "" {
		b = appendString(b, 2, g.Name)
	}
	names := make([]string, 0, len(g.Initializers))
	for name := range g.Initializers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		head, data, err := encodeTensor(name, g.Initializers[name])
		if err != nil {
			return fmt.Errorf("initializer %q: %w", name, err)
		}
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(len(head)+len(data)))
		b = append(b, head...)
		pieces = append(pieces, piece{b: b, data: data})
		b = nil
	}
	for _, vi := range g.Inputs {
		if _, ok := g.Initializers[vi.Name]; ok {
			continue
		}
		b = appendMessage(b, 11, appendValueInfo(nil, vi))
	}
	for _, vi := range g.Outputs {
		b = appendMessage(b, 12, appendValueInfo(nil, vi))
	}
	viNames := make([]string, 0, len(g.ValueInfo))
	for name := range g.ValueInfo {
		viNames = append(viNames, name)
	}
	sort.Strings(viNames)
	for _, name := range viNames {
		vi := g.ValueInfo[name]
		vi.Name = name
		b = appendMessage(b, 13, appendValueInfo(nil, vi))
	}
	pieces = append(pieces, piece{b: b})
	graphLen := 0
	for _, p := range pieces {
		graphLen += len(p.b) + len(p.data)
	}

	// The model around it.
	var head []byte
	head = protowire.AppendTag(head, 1, protowire.VarintType)
	head = protowire.AppendVarint(head, uint64(irVersion(opset)))
	if g.Producer != "" {
		head = appendString(head, 2, g.Producer)
	}
	if g.Doc != "" {
		head = appendString(head, 6, g.Doc)
	}
	head = protowire.AppendTag(head, 7, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(graphLen))

	var tail []byte
	domains := make([]string, 0, len(g.Opsets))
	for d := range g.Opsets {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		var op []byte
		if d != "" {
			op = appendString(op, 1, d)
		}
		op = protowire.AppendTag(op, 2, protowire.VarintType)
		op = protowire.AppendVarint(op, uint64(g.Opsets[d]))
		tail = appendMessage(tail, 8, op)
	}
	keys := make([]string, 0, len(g.Metadata))
	for k := range g.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var kv []byte
		kv = appendString(kv, 1, k)
		kv = appendString(kv, 2, g.Metadata[k])
		tail = appendMessage(tail, 14, kv)
	}

	bw := bufio.NewWriterSize(w, 1<<16)
	if _, err := bw.Write(head); err != nil {
		return err
	}
	for _, p := range pieces {
		if _, err := bw.Write(p.b); err != nil {
			return err
		}
		if _, err := bw.Write(p.data); err != nil {
			return err
		}
	}
	if _, err := bw.Write(tail); err != nil {
		return err
	}
	return bw.Flush()
}

// irVersion returns the ONNX IR version that goes with a default opset.
func irVersion(opset int64) int64 {
	switch {
	case opset <= 14:
		return 7
	case opset <= 18:
		return 8
	case opset <= 20:
		return 9
	}
	return 10
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, body []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, body)
}

// encodeTensor encodes a TensorProto up to and including the raw_data
// length; data is the raw_data itself, in the tensor's memory on a
// little-endian machine.
func encodeTensor(name string, t *tensor.Tensor) (head, data []byte, err error) {
	if t == nil {
		return nil, nil, errors.New("nil tensor")
	}
	n := 1
	for i, d := range t.Shape {
		if d < 0 {
			return nil, nil, fmt.Errorf("dims[%d] = %d is negative", i, d)
		}
		n *= d
	}
	var dt int32
	switch t.DType {
	case tensor.Float32:
		if len(t.F) != n {
			return nil, nil, fmt.Errorf("shape %v needs %d values, the tensor has %d", t.Shape, n, len(t.F))
		}
		dt, data = typeFloat, asBytes(t.F)
		if !littleEndian {
			data = make([]byte, 4*n)
			for i, v := range t.F {
				binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
			}
		}
	case tensor.Int64:
		if len(t.I) != n {
			return nil, nil, fmt.Errorf("shape %v needs %d values, the tensor has %d", t.Shape, n, len(t.I))
		}
		dt, data = typeInt64, asBytes(t.I)
		if !littleEndian {
			data = make([]byte, 8*n)
			for i, v := range t.I {
				binary.LittleEndian.PutUint64(data[8*i:], uint64(v))
			}
		}
	default:
		return nil, nil, fmt.Errorf("unknown dtype %s", t.DType)
	}
	for _, d := range t.Shape {
		head = protowire.AppendTag(head, 1, protowire.VarintType)
		head = protowire.AppendVarint(head, uint64(d))
	}
	head = protowire.AppendTag(head, 2, protowire.VarintType)
	head = protowire.AppendVarint(head, uint64(dt))
	if name != "" {
		head = appendString(head, 8, name)
	}
	head = protowire.AppendTag(head, 9, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(len(data)))
	return head, data, nil
}

// appendNode encodes a NodeProto body.
func appendNode(b []byte, n *graph.Node) ([]byte, error) {
	if n.OpType == "" {
		return nil, errors.New("no op type")
	}
	for _, in := range n.Inputs {
		b = appendString(b, 1, in)
	}
	for _, out := range n.Outputs {
		b = appendString(b, 2, out)
	}
	if n.Name != "" {
		b = appendString(b, 3, n.Name)
	}
	b = appendString(b, 4, n.OpType)
	names := make([]string, 0, len(n.Attrs))
	for name := range n.Attrs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := appendAttr(nil, name, n.Attrs[name])
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
		b = appendMessage(b, 5, body)
	}
	if n.Domain != "" {
		b = appendString(b, 7, n.Domain)
	}
	return b, nil
}

// appendAttr encodes an AttributeProto body. Lists are written unpacked,
// as ONNX's own writer does.
func appendAttr(b []byte, name string, a *graph.Attr) ([]byte, error) {
	if a == nil {
		return nil, errors.New("nil attribute")
	}
	if a.Name != "" && a.Name != name {
		return nil, fmt.Errorf("the attribute is named %q in the node's map and %q in itself", name, a.Name)
	}
	b = appendString(b, 1, name)
	switch a.Type {
	case graph.AttrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case graph.AttrInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.I))
	case graph.AttrString:
		b = appendString(b, 4, a.S)
	case graph.AttrTensor:
		head, data, err := encodeTensor("", a.T)
		if err != nil {
			return nil, err
		}
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(len(head)+len(data)))
		b = append(b, head...)
		b = append(b, data...)
	case graph.AttrFloats:
		for _, v := range a.Floats {
			b = protowire.AppendTag(b, 7, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(v))
		}
	case graph.AttrInts:
		for _, v := range a.Ints {
			b = protowire.AppendTag(b, 8, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	case graph.AttrStrings:
		for _, v := range a.Strings {
			b = appendString(b, 9, v)
		}
	default:
		return nil, fmt.Errorf("attributes of type %s cannot be written (the graph holds no value for them)", AttrTypeName(a.Type))
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(a.Type))
	return b, nil
}

// appendValueInfo encodes a ValueInfoProto body. A Dim with neither a
// value (>= 0) nor a name is written as an unknown dimension.
func appendValueInfo(b []byte, vi graph.ValueInfo) []byte {
	b = appendString(b, 1, vi.Name)
	var tt []byte
	if vi.ElemType != 0 {
		tt = protowire.AppendTag(tt, 1, protowire.VarintType)
		tt = protowire.AppendVarint(tt, uint64(vi.ElemType))
	}
	if vi.Shape != nil {
		var shape []byte
		for _, d := range vi.Shape {
			var dim []byte
			switch {
			case d.Param != "":
				dim = appendString(dim, 2, d.Param)
			case d.Value >= 0:
				dim = protowire.AppendTag(dim, 1, protowire.VarintType)
				dim = protowire.AppendVarint(dim, uint64(d.Value))
			}
			shape = appendMessage(shape, 1, dim)
		}
		tt = appendMessage(tt, 2, shape)
	}
	var tp []byte
	tp = appendMessage(tp, 1, tt)
	return appendMessage(b, 2, tp)
}
