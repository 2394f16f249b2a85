package onnx

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

// TestLoadPeakRSS checks that Load holds a model's weights once: a child
// process loads a model and reports how much its peak resident set grew.
// The model is a generated 256 MiB one, or the file GRADCAM_ONNX_RSS_MODEL
// names (such as VGG16 from shared/tools/export_models.py).
func TestLoadPeakRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	if testing.Short() {
		t.Skip("writes a 256 MiB model")
	}
	path := os.Getenv("GRADCAM_ONNX_RSS_MODEL")
	if path == "" {
		path = filepath.Join(t.TempDir(), "big.onnx")
		writeBigModel(t, path, 256<<20)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadPeakRSSChild$", "-test.v")
	cmd.Env = append(os.Environ(), "GRADCAM_ONNX_RSS_CHILD="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var weights, before, after int64
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, "rss-report:"); i >= 0 {
			fmt.Sscanf(line[i:], "rss-report: weights=%d before=%d after=%d", &weights, &before, &after)
		}
	}
	if weights == 0 {
		t.Fatalf("no report from the child:\n%s", out)
	}
	grew := after - before
	t.Logf("%s: file %.1f MiB, weights %.1f MiB, peak RSS %.1f MiB -> %.1f MiB (grew %.1f MiB, %.2fx the weights)",
		filepath.Base(path), mib(st.Size()), mib(weights), mib(before), mib(after), mib(grew), float64(grew)/float64(weights))
	if limit := weights + weights/10 + 32<<20; grew > limit {
		t.Errorf("peak RSS grew by %.1f MiB loading %.1f MiB of weights: more than one copy", mib(grew), mib(weights))
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// TestLoadPeakRSSChild is the child process of TestLoadPeakRSS.
func TestLoadPeakRSSChild(t *testing.T) {
	path := os.Getenv("GRADCAM_ONNX_RSS_CHILD")
	if path == "" {
		t.Skip("run by TestLoadPeakRSS")
	}
	runtime.GC()
	before := vmHWM(t)
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	after := vmHWM(t)
	var weights int64
	for _, w := range g.Initializers {
		weights += int64(4*len(w.F) + 8*len(w.I))
	}
	fmt.Printf("rss-report: weights=%d before=%d after=%d\n", weights, before, after)
	runtime.KeepAlive(g)
}

// vmHWM returns the peak resident set size of this process in bytes.
func vmHWM(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// writeBigModel writes a model with size bytes of float32 weights in a few
// large initializers, like a VGG's dense layers.
func writeBigModel(t *testing.T, path string, size int) {
	g := &graph.Graph{
		Initializers: map[string]*tensor.Tensor{},
		Opsets:       map[string]int64{"": 13},
		Inputs:       []graph.ValueInfo{{Name: "x", ElemType: 1, Shape: []graph.Dim{{Value: 1}, {Value: 1024}}}},
		Outputs:      []graph.ValueInfo{{Name: "y", ElemType: 1}},
	}
	in := "x"
	const cols = 1024
	for i := 0; size > 0; i++ {
		rows := min(size/4/cols, 16<<10)
		w := tensor.Zeros(rows, cols)
		for j := range w.F {
			w.F[j] = float32(j % 251)
		}
		name := fmt.Sprintf("fc%d.weight", i)
		g.Initializers[name] = w
		out := fmt.Sprintf("fc%d", i)
		g.Nodes = append(g.Nodes, &graph.Node{OpType: "Gemm", Inputs: []string{in, name}, Outputs: []string{out},
			Attrs: map[string]*graph.Attr{"transB": {Name: "transB", Type: graph.AttrInt, I: 1}}})
		in = out
		size -= 4 * rows * cols
	}
	g.Nodes[len(g.Nodes)-1].Outputs[0] = "y"
	if err := Save(path, g); err != nil {
		t.Fatal(err)
	}
}
