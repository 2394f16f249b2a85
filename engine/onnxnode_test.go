package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/onnx"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// nodeTestDir is where Debian's libonnx-testdata puts the ONNX backend
// node tests; GRADCAM_ONNX_NODE_TESTS overrides it.
func nodeTestDir(t *testing.T) string {
	d := os.Getenv("GRADCAM_ONNX_NODE_TESTS")
	if d == "" {
		d = "/usr/share/libonnx-testdata/data/node"
	}
	if _, err := os.Stat(d); err != nil {
		t.Skipf("ONNX backend node tests not found at %s (apt-get install libonnx-testdata, or set GRADCAM_ONNX_NODE_TESTS)", d)
	}
	return d
}

// readSkips reads testdata/onnx_node_skips.txt: one test name per line,
// then its reason.
func readSkips(t *testing.T) map[string]string {
	f, err := os.Open(filepath.Join("testdata", "onnx_node_skips.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	skips := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, _ := strings.Cut(line, " ")
		reason = strings.TrimSpace(reason)
		if reason == "" {
			t.Fatalf("skip list: %s has no reason", name)
		}
		skips[name] = reason
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return skips
}

// TestONNXNodeConformance runs every backend node test whose nodes all have
// op types we support. Each must pass, or be listed in the skip file with a
// reason; a listed test that passes fails the run, so the list stays true.
func TestONNXNodeConformance(t *testing.T) {
	dir := nodeTestDir(t)
	skips := readSkips(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var claimed, passed, skipped, unclaimed int
	perOp := map[string][2]int{}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, "test_") {
			continue
		}
		g, err := onnx.Load(filepath.Join(dir, name, "model.onnx"))
		if err != nil {
			if _, ok := skips[name]; ok {
				skipped++
				continue
			}
			t.Errorf("%s: load: %v", name, err)
			continue
		}
		supported := true
		var opTypes []string
		for _, n := range g.Nodes {
			if !ops.Supported(n.OpType) || (n.Domain != "" && n.Domain != "ai.onnx") {
				supported = false
			}
			opTypes = append(opTypes, n.OpType)
		}
		if !supported {
			unclaimed++
			continue
		}
		claimed++
		reason, skip := skips[name]
		err = runNodeTest(filepath.Join(dir, name), g)
		op := opTypes[0]
		c := perOp[op]
		c[0]++
		switch {
		case skip && err == nil:
			t.Errorf("%s passes but is in the skip list (%s): remove it", name, reason)
		case skip:
			skipped++
		case err != nil:
			t.Errorf("%s: %v", name, err)
		default:
			passed++
			c[1]++
		}
		perOp[op] = c
	}
	for name := range skips {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("skip list names %s, which is not a test", name)
		}
	}
	ops := make([]string, 0, len(perOp))
	for op := range perOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var b strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&b, " %s %d/%d", op, perOp[op][1], perOp[op][0])
	}
	t.Logf("ONNX node tests: %d with supported ops: %d passed, %d skipped with a reason; %d use other ops", claimed, passed, skipped, unclaimed)
	t.Logf("passed/claimed by first op:%s", b.String())
}

func runNodeTest(dir string, g *graph.Graph) error {
	m, err := engine.New(g)
	if err != nil {
		return err
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return fmt.Errorf("no test data sets")
	}
	for _, set := range sets {
		inputs := map[string]*tensor.Tensor{}
		for i, vi := range m.Inputs() {
			x, err := onnx.ReadTensor(filepath.Join(set, fmt.Sprintf("input_%d.pb", i)))
			if err != nil {
				return fmt.Errorf("%s: %w", filepath.Base(set), err)
			}
			inputs[vi.Name] = x
		}
		outNames := m.OutputNames()
		res, err := m.RunInputs(context.Background(), inputs, engine.Pass{Fetch: outNames})
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(set), err)
		}
		for i, name := range outNames {
			want, err := onnx.ReadTensor(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
			if err != nil {
				return fmt.Errorf("%s: %w", filepath.Base(set), err)
			}
			if err := compare(res.Values[name], want); err != nil {
				return fmt.Errorf("%s: output %q: %w", filepath.Base(set), name, err)
			}
		}
	}
	return nil
}

// compare applies the ONNX backend test tolerance (rtol 1e-3, atol 1e-7)
// to floats and exact equality to integers.
func compare(got, want *tensor.Tensor) error {
	if got == nil {
		return fmt.Errorf("not computed")
	}
	if !tensor.EqualShape(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if want.DType == tensor.Int64 {
		g := got.Int64s()
		for i, w := range want.I {
			if g[i] != w {
				return fmt.Errorf("element %d: %d, want %d", i, g[i], w)
			}
		}
		return nil
	}
	g := got.Float32s()
	for i, w := range want.F {
		a, b := float64(g[i]), float64(w)
		if math.IsNaN(a) && math.IsNaN(b) {
			continue
		}
		if math.IsInf(b, 0) && a == b {
			continue
		}
		if math.Abs(a-b) > 1e-7+1e-3*math.Abs(b) || math.IsNaN(a) != math.IsNaN(b) {
			return fmt.Errorf("element %d: %g, want %g", i, a, b)
		}
	}
	return nil
}
