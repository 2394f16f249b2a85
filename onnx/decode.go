package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// Load reads an ONNX model file. External data files are looked up in the
// file's directory.
func Load(path string) (*graph.Graph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	g, err := decode(newStream(f, st.Size()), filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return g, nil
}

// Decode decodes a serialized ModelProto. dir is the directory that holds
// the model's external data files; "" when it has none.
func Decode(data []byte, dir string) (*graph.Graph, error) {
	g, err := decode(&stream{r: bytes.NewReader(data), left: int64(len(data))}, dir)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return g, nil
}

// DecodeReader decodes a serialized ModelProto of exactly size bytes read
// from r, streaming: weights are read straight into their tensors. dir is
// as for Decode.
func DecodeReader(r io.Reader, size int64, dir string) (*graph.Graph, error) {
	if size < 0 {
		return nil, errors.New("onnx: negative size")
	}
	g, err := decode(newStream(r, size), dir)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return g, nil
}

// decoder holds the state of one model's decoding.
type decoder struct {
	s   *stream
	ext *extFiles
	g   *graph.Graph
	// allInputs are the graph's inputs including those that are
	// initializers; the latter are dropped at the end.
	allInputs []graph.ValueInfo
}

func decode(s *stream, dir string) (*graph.Graph, error) {
	d := &decoder{
		s:   s,
		ext: &extFiles{dir: dir},
		g: &graph.Graph{
			Initializers: make(map[string]*tensor.Tensor),
			ValueInfo:    make(map[string]graph.ValueInfo),
			Opsets:       make(map[string]int64),
			Metadata:     make(map[string]string),
		},
	}
	defer d.ext.close()
	if err := d.model(); err != nil {
		return nil, err
	}
	return d.g, nil
}

// model decodes the top-level ModelProto.
func (d *decoder) model() error {
	s, g := d.s, d.g
	var producer, version, graphDoc string
	hasGraph := false
	nOpsets := 0
	for s.left > 0 {
		num, typ, err := s.tag()
		if err != nil {
			return fmt.Errorf("model: %w", err)
		}
		switch num {
		case 2:
			producer, err = s.str("producer_name", num, typ)
		case 3:
			version, err = s.str("producer_version", num, typ)
		case 6:
			g.Doc, err = s.str("doc_string", num, typ)
		case 7:
			if typ != protowire.BytesType {
				return fmt.Errorf("model: %w", wrongWire("graph", num, typ, protowire.BytesType))
			}
			if hasGraph {
				return errors.New("model: field graph appears twice")
			}
			hasGraph = true
			err = s.message(func() error {
				var err error
				graphDoc, err = d.graph()
				return err
			})
			if err != nil {
				return err
			}
		case 8:
			if typ != protowire.BytesType {
				return fmt.Errorf("model: %w", wrongWire("opset_import", num, typ, protowire.BytesType))
			}
			err = d.opset(nOpsets)
			nOpsets++
		case 14:
			if typ != protowire.BytesType {
				return fmt.Errorf("model: %w", wrongWire("metadata_props", num, typ, protowire.BytesType))
			}
			var kv [2]string
			kv, err = readStringPair(s)
			if err == nil {
				g.Metadata[kv[0]] = kv[1]
			}
		default:
			err = s.skip(num, typ)
		}
		if err != nil {
			return fmt.Errorf("model: %w", err)
		}
	}
	if !hasGraph {
		return errors.New("model: no graph")
	}
	g.Producer = producer
	if version != "" {
		g.Producer += " " + version
	}
	if g.Doc == "" {
		g.Doc = graphDoc
	}
	for _, in := range d.allInputs {
		if _, ok := g.Initializers[in.Name]; !ok {
			g.Inputs = append(g.Inputs, in)
		}
	}
	return nil
}

// opset decodes an OperatorSetIdProto.
func (d *decoder) opset(i int) error {
	s := d.s
	var domain string
	var version int64
	err := s.message(func() error {
		for s.left > 0 {
			num, typ, err := s.tag()
			if err != nil {
				return err
			}
			switch num {
			case 1:
				domain, err = s.str("domain", num, typ)
			case 2:
				version, err = s.int("version", num, typ)
			default:
				err = s.skip(num, typ)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("opset_import[%d]: %w", i, err)
	}
	if domain == "ai.onnx" {
		domain = ""
	}
	if v, ok := d.g.Opsets[domain]; ok && v != version {
		return fmt.Errorf("opset_import[%d]: domain %q is imported twice, at versions %d and %d", i, domain, v, version)
	}
	d.g.Opsets[domain] = version
	return nil
}

// graph decodes the GraphProto that fills s.left and returns its doc
// string.
func (d *decoder) graph() (string, error) {
	s, g := d.s, d.g
	var doc string
	nInit, nSparse, nOut, nVI := 0, 0, 0, 0
	for s.left > 0 {
		num, typ, err := s.tag()
		if err != nil {
			return "", fmt.Errorf("graph: %w", err)
		}
		ctx := "graph"
		switch num {
		case 1, 5, 11, 12, 13, 15:
			if typ != protowire.BytesType {
				return "", fmt.Errorf("graph: %w", wrongWire(graphFields[num], num, typ, protowire.BytesType))
			}
		}
		switch num {
		case 1:
			ctx = fmt.Sprintf("graph.node[%d]", len(g.Nodes))
			var n *graph.Node
			named := false
			err = s.message(func() error {
				var err error
				n, err = decodeNode(s, d.ext, ctx)
				named = err != nil
				return err
			})
			if named {
				return "", err // decodeNode names the node
			} else if err != nil {
				break
			}
			g.Nodes = append(g.Nodes, n)
		case 2:
			g.Name, err = s.str("name", num, typ)
		case 5:
			ctx = fmt.Sprintf("graph.initializer[%d]", nInit)
			nInit++
			var name string
			var t *tensor.Tensor
			err = s.message(func() error {
				var err error
				name, t, err = decodeTensorMessage(s, d.ext)
				return err
			})
			ctx = tensorCtx(ctx, name)
			if err != nil {
				break
			}
			if name == "" {
				err = errors.New("initializer has no name")
				break
			}
			if _, dup := g.Initializers[name]; dup {
				err = errors.New("initializer name appears twice")
				break
			}
			g.Initializers[name] = t
		case 10:
			doc, err = s.str("doc_string", num, typ)
		case 11, 12, 13:
			field := graphFields[num]
			var idx int
			switch num {
			case 11:
				idx = len(d.allInputs)
			case 12:
				idx = nOut
				nOut++
			case 13:
				idx = nVI
				nVI++
			}
			ctx = fmt.Sprintf("graph.%s[%d]", field, idx)
			var vi graph.ValueInfo
			err = s.message(func() error {
				var err error
				vi, err = decodeValueInfo(s)
				return err
			})
			if err != nil {
				if vi.Name != "" {
					ctx += fmt.Sprintf(" %q", vi.Name)
				}
				break
			}
			switch num {
			case 11:
				d.allInputs = append(d.allInputs, vi)
			case 12:
				g.Outputs = append(g.Outputs, vi)
			case 13:
				g.ValueInfo[vi.Name] = vi
			}
		case 15:
			ctx = fmt.Sprintf("graph.sparse_initializer[%d]", nSparse)
			nSparse++
			err = errors.New("sparse initializers are not supported")
		default:
			err = s.skip(num, typ)
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", ctx, err)
		}
	}
	return doc, nil
}

var graphFields = map[protowire.Number]string{
	1: "node", 5: "initializer", 11: "input", 12: "output", 13: "value_info", 15: "sparse_initializer",
}

// decodeNode decodes the NodeProto that fills s.left.
func decodeNode(s *stream, ext *extFiles, ctx string) (*graph.Node, error) {
	n := &graph.Node{}
	var attrs []*graph.Attr
	var attrErr error
	for s.left > 0 && attrErr == nil {
		num, typ, err := s.tag()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nodeCtx(ctx, n), err)
		}
		var v string
		switch num {
		case 1:
			if v, err = s.str("input", num, typ); err == nil {
				n.Inputs = append(n.Inputs, v)
			}
		case 2:
			if v, err = s.str("output", num, typ); err == nil {
				n.Outputs = append(n.Outputs, v)
			}
		case 3:
			n.Name, err = s.str("name", num, typ)
		case 4:
			n.OpType, err = s.str("op_type", num, typ)
		case 7:
			n.Domain, err = s.str("domain", num, typ)
		case 5:
			if typ != protowire.BytesType {
				err = wrongWire("attribute", num, typ, protowire.BytesType)
				break
			}
			var a *graph.Attr
			i := len(attrs)
			err = s.message(func() error {
				var err error
				a, err = decodeAttr(s, ext)
				return err
			})
			if err != nil {
				// Finish reading the node's names so that the error can
				// name it.
				attrErr = fmt.Errorf("attribute[%d]%s: %w", i, attrName(a), err)
				err = nil
				break
			}
			attrs = append(attrs, a)
		default:
			err = s.skip(num, typ)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nodeCtx(ctx, n), err)
		}
	}
	if attrErr != nil {
		// Read on for the names; errors past this point are ignored.
		for s.left > 0 {
			num, typ, err := s.tag()
			if err != nil {
				break
			}
			switch num {
			case 3:
				n.Name, err = s.str("name", num, typ)
			case 4:
				n.OpType, err = s.str("op_type", num, typ)
			default:
				err = s.skip(num, typ)
			}
			if err != nil {
				break
			}
		}
		return nil, fmt.Errorf("%s: %w", nodeCtx(ctx, n), attrErr)
	}
	if n.OpType == "" {
		return nil, fmt.Errorf("%s: the node has no op_type", nodeCtx(ctx, n))
	}
	if len(attrs) > 0 {
		n.Attrs = make(map[string]*graph.Attr, len(attrs))
		for _, a := range attrs {
			if _, dup := n.Attrs[a.Name]; dup {
				return nil, fmt.Errorf("%s: attribute %q appears twice", nodeCtx(ctx, n), a.Name)
			}
			n.Attrs[a.Name] = a
		}
	}
	return n, nil
}

func attrName(a *graph.Attr) string {
	if a == nil || a.Name == "" {
		return ""
	}
	return fmt.Sprintf(" %q", a.Name)
}

func nodeCtx(ctx string, n *graph.Node) string {
	switch {
	case n.Name != "" && n.OpType != "":
		return fmt.Sprintf("%s %q (%s)", ctx, n.Name, n.OpType)
	case n.Name != "":
		return fmt.Sprintf("%s %q", ctx, n.Name)
	case n.OpType != "":
		return fmt.Sprintf("%s (%s)", ctx, n.OpType)
	}
	return ctx
}

// ONNX AttributeProto.AttributeType codes beyond graph.AttrStrings. The
// graph keeps such attributes with their code as Type and no value.
const (
	attrTensors       = 9
	attrGraphs        = 10
	attrSparseTensor  = 11
	attrSparseTensors = 12
	attrTypeProto     = 13
	attrTypeProtos    = 14
)

var attrTypeNames = map[int64]string{
	0: "UNDEFINED", 1: "FLOAT", 2: "INT", 3: "STRING", 4: "TENSOR", 5: "GRAPH", 6: "FLOATS", 7: "INTS",
	8: "STRINGS", 9: "TENSORS", 10: "GRAPHS", 11: "SPARSE_TENSOR", 12: "SPARSE_TENSORS", 13: "TYPE_PROTO",
	14: "TYPE_PROTOS",
}

// AttrTypeName returns the ONNX name of an attribute type, such as "INTS".
func AttrTypeName(t graph.AttrType) string {
	if n, ok := attrTypeNames[int64(t)]; ok {
		return n
	}
	return fmt.Sprintf("attribute type %d", t)
}

// decodeAttr decodes the AttributeProto that fills s.left. Attributes of
// kinds graph.Attr cannot hold (sub-graphs, tensor lists, sparse tensors,
// type protos) keep their ONNX type code and no value; an operator that
// needs one fails when it is built, naming it.
func decodeAttr(s *stream, ext *extFiles) (*graph.Attr, error) {
	a := &graph.Attr{}
	var typ int64
	// Which value fields were present, by ONNX type code, to infer the
	// type of attributes written before the type field existed.
	var seen [15]bool
	for s.left > 0 {
		num, wt, err := s.tag()
		if err != nil {
			return a, err
		}
		switch num {
		case 1:
			a.Name, err = s.str("name", num, wt)
		case 20:
			typ, err = s.int("type", num, wt)
		case 2:
			if wt != protowire.Fixed32Type {
				return a, wrongWire("f", num, wt, protowire.Fixed32Type)
			}
			var v uint32
			v, err = s.fixed32()
			a.F = math.Float32frombits(v)
			seen[graph.AttrFloat] = true
		case 3:
			a.I, err = s.int("i", num, wt)
			seen[graph.AttrInt] = true
		case 4:
			a.S, err = s.str("s", num, wt)
			seen[graph.AttrString] = true
		case 5:
			if wt != protowire.BytesType {
				return a, wrongWire("t", num, wt, protowire.BytesType)
			}
			var name string
			err = s.message(func() error {
				var err error
				name, a.T, err = decodeTensorMessage(s, ext)
				return err
			})
			if err != nil {
				err = fmt.Errorf("%s: %w", tensorCtx("field t: tensor", name), err)
			}
			seen[graph.AttrTensor] = true
		case 6:
			err = s.skip(num, wt)
			seen[graph.AttrGraph] = true
		case 7:
			a.Floats, err = readFloat32s(s, a.Floats, num, wt)
			seen[graph.AttrFloats] = true
		case 8:
			a.Ints, err = readVarints(s, a.Ints, "ints", num, wt)
			seen[graph.AttrInts] = true
		case 9:
			var v string
			if v, err = s.str("strings", num, wt); err == nil {
				a.Strings = append(a.Strings, v)
			}
			seen[graph.AttrStrings] = true
		case 10:
			err = s.skip(num, wt)
			seen[attrTensors] = true
		case 11:
			err = s.skip(num, wt)
			seen[attrGraphs] = true
		case 22:
			err = s.skip(num, wt)
			seen[attrSparseTensor] = true
		case 23:
			err = s.skip(num, wt)
			seen[attrSparseTensors] = true
		case 14:
			err = s.skip(num, wt)
			seen[attrTypeProto] = true
		case 15:
			err = s.skip(num, wt)
			seen[attrTypeProtos] = true
		default:
			err = s.skip(num, wt)
		}
		if err != nil {
			return a, err
		}
	}
	if a.Name == "" {
		return a, errors.New("the attribute has no name")
	}
	if typ == 0 {
		// IR version 1 attributes have no type: take the one value
		// field that is set.
		for code, ok := range seen {
			if ok {
				if typ != 0 {
					return a, errors.New("the attribute has no type and several values")
				}
				typ = int64(code)
			}
		}
		if typ == 0 {
			return a, errors.New("the attribute has no type and no value")
		}
	}
	if typ < 0 || typ >= int64(len(seen)) {
		return a, fmt.Errorf("unknown attribute type %d", typ)
	}
	out := &graph.Attr{Name: a.Name, Type: graph.AttrType(typ)}
	switch out.Type {
	case graph.AttrFloat, graph.AttrInt, graph.AttrString, graph.AttrTensor:
		if !seen[typ] {
			return a, fmt.Errorf("the attribute has type %s but no value", AttrTypeName(out.Type))
		}
	}
	// Keep only the value of the attribute's type.
	switch out.Type {
	case graph.AttrFloat:
		out.F = a.F
	case graph.AttrInt:
		out.I = a.I
	case graph.AttrString:
		out.S = a.S
	case graph.AttrTensor:
		out.T = a.T
	case graph.AttrFloats:
		out.Floats = a.Floats
	case graph.AttrInts:
		out.Ints = a.Ints
	case graph.AttrStrings:
		out.Strings = a.Strings
	}
	return out, nil
}

// readFloat32s reads a repeated float field, packed or not.
func readFloat32s(s *stream, dst []float32, num protowire.Number, typ protowire.Type) ([]float32, error) {
	switch typ {
	case protowire.Fixed32Type:
		v, err := s.fixed32()
		if err != nil {
			return dst, fmt.Errorf("field floats: %w", err)
		}
		return append(dst, math.Float32frombits(v)), nil
	case protowire.BytesType:
		n, err := s.length()
		if err != nil {
			return dst, fmt.Errorf("field floats: %w", err)
		}
		if n%4 != 0 {
			return dst, fmt.Errorf("field floats: packed length %d is not a multiple of 4", n)
		}
		f := make([]float32, n/4)
		if err := s.read(asBytes(f)); err != nil {
			return dst, fmt.Errorf("field floats: %w", err)
		}
		fromLittleEndian32(asBytes(f))
		return append(dst, f...), nil
	}
	return dst, wrongWire("floats", num, typ, protowire.Fixed32Type, protowire.BytesType)
}

// decodeValueInfo decodes the ValueInfoProto that fills s.left.
func decodeValueInfo(s *stream) (graph.ValueInfo, error) {
	var vi graph.ValueInfo
	for s.left > 0 {
		num, typ, err := s.tag()
		if err != nil {
			return vi, err
		}
		switch num {
		case 1:
			vi.Name, err = s.str("name", num, typ)
		case 2:
			if typ != protowire.BytesType {
				return vi, wrongWire("type", num, typ, protowire.BytesType)
			}
			err = s.message(func() error { return decodeType(s, &vi) })
		default:
			err = s.skip(num, typ)
		}
		if err != nil {
			return vi, err
		}
	}
	return vi, nil
}

// decodeType decodes the TypeProto that fills s.left. Only tensor types
// are recorded; sequences, maps and optionals leave ElemType 0.
func decodeType(s *stream, vi *graph.ValueInfo) error {
	for s.left > 0 {
		num, typ, err := s.tag()
		if err != nil {
			return fmt.Errorf("type: %w", err)
		}
		if num != 1 {
			if err := s.skip(num, typ); err != nil {
				return fmt.Errorf("type: %w", err)
			}
			continue
		}
		if typ != protowire.BytesType {
			return fmt.Errorf("type: %w", wrongWire("tensor_type", num, typ, protowire.BytesType))
		}
		err = s.message(func() error {
			for s.left > 0 {
				num, typ, err := s.tag()
				if err != nil {
					return err
				}
				switch num {
				case 1:
					var v int64
					v, err = s.int("elem_type", num, typ)
					vi.ElemType = int32(v)
				case 2:
					if typ != protowire.BytesType {
						return wrongWire("shape", num, typ, protowire.BytesType)
					}
					vi.Shape = []graph.Dim{}
					err = s.message(func() error { return decodeShape(s, vi) })
				default:
					err = s.skip(num, typ)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("type.tensor_type: %w", err)
		}
	}
	return nil
}

// decodeShape decodes a TensorShapeProto.
func decodeShape(s *stream, vi *graph.ValueInfo) error {
	for s.left > 0 {
		num, typ, err := s.tag()
		if err != nil {
			return fmt.Errorf("shape: %w", err)
		}
		if num != 1 {
			if err := s.skip(num, typ); err != nil {
				return fmt.Errorf("shape: %w", err)
			}
			continue
		}
		if typ != protowire.BytesType {
			return fmt.Errorf("shape: %w", wrongWire("dim", num, typ, protowire.BytesType))
		}
		i := len(vi.Shape)
		dim := graph.Dim{Value: -1}
		err = s.message(func() error {
			for s.left > 0 {
				num, typ, err := s.tag()
				if err != nil {
					return err
				}
				switch num {
				case 1:
					dim.Value, err = s.int("dim_value", num, typ)
					if err == nil && dim.Value < 0 {
						err = fmt.Errorf("dim_value %d is negative", dim.Value)
					}
					dim.Param = ""
				case 2:
					dim.Param, err = s.str("dim_param", num, typ)
					dim.Value = -1
				default:
					err = s.skip(num, typ)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("shape.dim[%d]: %w", i, err)
		}
		vi.Shape = append(vi.Shape, dim)
	}
	return nil
}
