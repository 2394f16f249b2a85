package onnx

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// nodeTestData returns the directory of Debian libonnx-testdata's backend
// tests (node, pytorch-converted, ...), skipping the test when it is absent.
func nodeTestData(t *testing.T) string {
	root := os.Getenv("ONNX_TEST_DATA")
	if root == "" {
		root = "/usr/share/libonnx-testdata/data"
	}
	if _, err := os.Stat(filepath.Join(root, "node")); err != nil {
		t.Skipf("ONNX backend test data not found (apt-get install libonnx-testdata, or set ONNX_TEST_DATA): %v", err)
	}
	return root
}

// TestNodeTestTensors reads every TensorProto of the ONNX backend node tests
// (Debian's libonnx-testdata) and checks type, shape and a hash of the
// values against testdata/nodetests.golden, made by
// testdata/gen_nodetests.py with python3-onnx's numpy_helper.
func TestNodeTestTensors(t *testing.T) {
	root := filepath.Join(nodeTestData(t), "node")
	f, err := os.Open("testdata/nodetests.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	types := map[string]int{}
	n := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		rel := fields[0]
		path := filepath.Join(root, rel)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		n++
		name, x, err := ReadNamedTensor(path)
		if fields[1] == "error" {
			if err == nil {
				t.Errorf("%s: read a %s tensor without error", rel, fields[2])
			} else if !strings.Contains(err.Error(), fields[2]) || !strings.Contains(err.Error(), rel) ||
				(name != "" && !strings.Contains(err.Error(), name)) {
				t.Errorf("%s: error %q does not name the type, file and tensor", rel, err)
			}
			types["error"]++
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		types[fields[1]]++
		if x.DType.String() != fields[2] {
			t.Errorf("%s: %s, want %s", rel, x.DType, fields[2])
		}
		if shape := shapeString(x.Shape); shape != fields[3] {
			t.Errorf("%s: shape %s, want %s", rel, shape, fields[3])
		}
		if h := valueHash(x); h != fields[4] {
			t.Errorf("%s (%s): values hash to %s, want %s; %v", rel, fields[1], h, fields[4], x)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tensors: %v", n, types)
	for _, dt := range []string{"FLOAT", "DOUBLE", "FLOAT16", "INT64", "INT32", "INT16", "INT8", "UINT8", "UINT16", "UINT32", "UINT64", "BOOL", "error"} {
		if types[dt] == 0 {
			t.Errorf("no %s tensor checked", dt)
		}
	}
}

// valueHash hashes values as gen_nodetests.py does: float32 bits (NaN
// canonical) or int64, little-endian, sha256, first 16 hex digits.
func valueHash(x *tensor.Tensor) string {
	h := sha256.New()
	var b [8]byte
	if x.DType == tensor.Float32 {
		for _, v := range x.F {
			bits := math.Float32bits(v)
			if v != v {
				bits = 0x7fc00000
			}
			binary.LittleEndian.PutUint32(b[:4], bits)
			h.Write(b[:4])
		}
	} else {
		for _, v := range x.I {
			binary.LittleEndian.PutUint64(b[:], uint64(v))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func shapeString(shape []int) string {
	if len(shape) == 0 {
		return "scalar"
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, "x")
}

// TestNodeTestModels loads every model.onnx of the ONNX backend tests and
// compares a canonical text form of the graph (opsets, inputs, outputs,
// value infos, initializers, nodes with every attribute value, metadata)
// with the one gen_nodetests.py builds with python3-onnx, by hash.
func TestNodeTestModels(t *testing.T) {
	root := nodeTestData(t)
	f, err := os.Open("testdata/models.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		n++
		path := filepath.Join(root, fields[0])
		g, err := Load(path)
		if fields[1] == "error" {
			if err == nil {
				t.Errorf("%s: loaded without error", fields[0])
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", fields[0], err)
			continue
		}
		c := canonModel(g)
		sum := sha256.Sum256([]byte(c))
		if h := hex.EncodeToString(sum[:])[:16]; h != fields[1] {
			t.Errorf("%s: canonical form hashes to %s, want %s:\n%s\n(compare with gen_nodetests.py --dump)", fields[0], h, fields[1], c)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 1000 {
		t.Errorf("only %d models checked", n)
	}
}

// canonModel builds the text of canon_model in gen_nodetests.py.
func canonModel(g *graph.Graph) string {
	var b strings.Builder
	domains := make([]string, 0, len(g.Opsets))
	for d := range g.Opsets {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		fmt.Fprintf(&b, "opset %s %d\n", d, g.Opsets[d])
	}
	vi := func(kind string, v graph.ValueInfo) {
		dims := "-"
		if v.Shape != nil {
			ds := make([]string, len(v.Shape))
			for i, d := range v.Shape {
				switch {
				case d.Param != "":
					ds[i] = "?" + d.Param
				case d.Value >= 0:
					ds[i] = strconv.FormatInt(d.Value, 10)
				default:
					ds[i] = "?"
				}
			}
			dims = strings.Join(ds, ",")
		}
		fmt.Fprintf(&b, "%s %s %d %s\n", kind, v.Name, v.ElemType, dims)
	}
	for _, v := range g.Inputs {
		vi("input", v)
	}
	for _, v := range g.Outputs {
		vi("output", v)
	}
	names := make([]string, 0, len(g.ValueInfo))
	for name := range g.ValueInfo {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		vi("value_info", g.ValueInfo[name])
	}
	names = names[:0]
	for name := range g.Initializers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&b, "init %s %s\n", name, canonTensor(g.Initializers[name]))
	}
	for _, n := range g.Nodes {
		fmt.Fprintf(&b, "node %s %s %s in=%s out=%s\n", n.Domain, n.OpType, n.Name, strings.Join(n.Inputs, ","), strings.Join(n.Outputs, ","))
		names = names[:0]
		for name := range n.Attrs {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			a := n.Attrs[name]
			var v string
			switch a.Type {
			case graph.AttrFloat:
				v = fmt.Sprintf("%08x", math.Float32bits(a.F))
			case graph.AttrInt:
				v = strconv.FormatInt(a.I, 10)
			case graph.AttrString:
				v = hex.EncodeToString([]byte(a.S))
			case graph.AttrTensor:
				v = canonTensor(a.T)
			case graph.AttrFloats:
				s := make([]string, len(a.Floats))
				for i, f := range a.Floats {
					s[i] = fmt.Sprintf("%08x", math.Float32bits(f))
				}
				v = strings.Join(s, ",")
			case graph.AttrInts:
				s := make([]string, len(a.Ints))
				for i, x := range a.Ints {
					s[i] = strconv.FormatInt(x, 10)
				}
				v = strings.Join(s, ",")
			case graph.AttrStrings:
				s := make([]string, len(a.Strings))
				for i, x := range a.Strings {
					s[i] = hex.EncodeToString([]byte(x))
				}
				v = strings.Join(s, ",")
			}
			fmt.Fprintf(&b, "attr %s %d %s\n", name, a.Type, v)
		}
	}
	names = names[:0]
	for k := range g.Metadata {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "meta %s %s\n", k, hex.EncodeToString([]byte(g.Metadata[k])))
	}
	fmt.Fprintf(&b, "producer %s\n", hex.EncodeToString([]byte(g.Producer)))
	return b.String()
}

func canonTensor(x *tensor.Tensor) string {
	return fmt.Sprintf("%s %s %s", x.DType, shapeString(x.Shape), valueHash(x))
}
