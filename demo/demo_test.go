package demo

import (
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gradcam/gradcam/cam"
	"github.com/gradcam/gradcam/imaging"
	"github.com/gradcam/gradcam/tensor"
)

// Seeds of the tests; the training program uses 2 (validation) and seeds
// from 1<<32 up.
const (
	accuracySeed = 3
	pointingSeed = 4
)

func TestGenerate(t *testing.T) {
	a := Generate(11, 300)
	if got := Generate(11, 5); !reflect.DeepEqual(got, a[:5]) {
		t.Error("Generate(11, 5) is not the start of Generate(11, 300)")
	}
	if reflect.DeepEqual(Generate(12, 5), a[:5]) {
		t.Error("seeds 11 and 12 give the same pictures")
	}
	if !reflect.DeepEqual(GenerateClutter(11, 5, 1), a[:5]) {
		t.Error("GenerateClutter(…, 1) differs from Generate")
	}
	count := make([]int, len(Classes()))
	frame := image.Rect(0, 0, Size, Size)
	for i, s := range a {
		if s.Image.Bounds() != frame {
			t.Fatalf("sample %d: bounds %v", i, s.Image.Bounds())
		}
		if s.Class < 0 || s.Class >= len(count) {
			t.Fatalf("sample %d: class %d", i, s.Class)
		}
		count[s.Class]++
		// Circumradius 8 to 15 pixels, stretched at most 1.15 times.
		w, h := s.Box.Dx(), s.Box.Dy()
		if !s.Box.In(frame) || max(w, h) < 8 || max(w, h) > 36 {
			t.Errorf("sample %d (%s): box %v", i, Classes()[s.Class], s.Box)
		}
	}
	for c, n := range count {
		// 300 draws of 8 classes: 37.5 expected each.
		if n < 15 {
			t.Errorf("class %s drawn %d times in 300", Classes()[c], n)
		}
	}
}

// TestShapesDiffer checks that the inside tests of the classes describe
// different shapes: on a fine grid of the unit square, every pair of
// classes disagrees on many points.
func TestShapesDiffer(t *testing.T) {
	const n = 101
	area := make([][]bool, len(shapes))
	for c, in := range shapes {
		area[c] = make([]bool, n*n)
		for i := range n {
			for j := range n {
				u, v := -1+2*float64(j)/(n-1), -1+2*float64(i)/(n-1)
				area[c][i*n+j] = in(u, v)
			}
		}
	}
	for a := range shapes {
		for b := a + 1; b < len(shapes); b++ {
			diff := 0
			for k := range area[a] {
				if area[a][k] != area[b][k] {
					diff++
				}
			}
			if diff < n*n/20 {
				t.Errorf("%s and %s differ on only %d of %d points", classes[a], classes[b], diff, n*n)
			}
		}
	}
}

func TestModel(t *testing.T) {
	m, err := Model()
	if err != nil {
		t.Fatal(err)
	}
	if m.Classes != len(Classes()) {
		t.Fatalf("%d classes, want %d", m.Classes, len(Classes()))
	}
	for c, name := range Classes() {
		if got := m.Label(c); got != name {
			t.Errorf("label %d = %q, want %q", c, got, name)
		}
	}
	p := m.Preprocess
	if m.PreprocessName != "tf" || p.Width != Size || p.Height != Size || p.Layout != imaging.NCHW {
		t.Errorf("preprocessing %q %dx%d %v, want tf %dx%d NCHW", m.PreprocessName, p.Width, p.Height, p.Layout, Size, Size)
	}
	layer, err := m.Engine.AutoTarget()
	if err != nil {
		t.Fatal(err)
	}
	if layer != TargetLayer {
		t.Errorf("automatic target %q, want %q", layer, TargetLayer)
	}
	// The target is the last convolution's activation, the input of the
	// global pool, at 16x16.
	relu := m.Engine.Producer(layer)
	if relu == nil || relu.OpType != "Relu" {
		t.Fatalf("%s is produced by %v, want a Relu", layer, relu)
	}
	if conv := m.Engine.Producer(relu.Inputs[0]); conv == nil || conv.OpType != "Conv" {
		t.Errorf("the Relu reads %v, want a Conv", conv)
	}
	var lastConv string
	for _, n := range m.Engine.Graph().Nodes {
		if n.OpType == "Conv" {
			lastConv = n.Outputs[0]
		}
	}
	if lastConv != relu.Inputs[0] {
		t.Errorf("the target reads %s, the last convolution is %s", relu.Inputs[0], lastConv)
	}
	shapes, err := m.Engine.Shapes([]int{1, 3, Size, Size})
	if err != nil {
		t.Fatal(err)
	}
	if got := shapes[layer]; !reflect.DeepEqual(got, []int{1, 64, 16, 16}) {
		t.Errorf("%s has shape %v, want [1 64 16 16]", layer, got)
	}
	if len(ModelFile()) > 2<<20 {
		t.Errorf("the model file has %d bytes, above 2 MiB", len(ModelFile()))
	}
}

// batchOf preprocesses samples into one tensor.
func batchOf(t *testing.T, p imaging.Preprocess, s []Sample) *tensor.Tensor {
	const per = 3 * Size * Size
	x := tensor.New(tensor.Float32, len(s), 3, Size, Size)
	for i, smp := range s {
		xi, _, err := p.Apply(smp.Image)
		if err != nil {
			t.Fatal(err)
		}
		copy(x.F[i*per:], xi.F)
	}
	return x
}

// TestAccuracy classifies fresh pictures, of a seed the training did not
// use.
func TestAccuracy(t *testing.T) {
	m, err := Model()
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	s := Generate(accuracySeed, n)
	preds, err := m.Predict(context.Background(), batchOf(t, m.Preprocess, s), 1)
	if err != nil {
		t.Fatal(err)
	}
	right := 0
	confusion := make([][]int, len(Classes()))
	for c := range confusion {
		confusion[c] = make([]int, len(Classes()))
	}
	for i, p := range preds {
		confusion[s[i].Class][p[0].Class]++
		if p[0].Class == s[i].Class {
			right++
		}
	}
	acc := float64(right) / n
	t.Logf("accuracy on %d fresh pictures: %.1f%%", n, 100*acc)
	for c, row := range confusion {
		t.Logf("%-8s %v", Classes()[c], row)
	}
	if acc < 0.9 {
		t.Errorf("accuracy %.1f%%, want at least 90%%", 100*acc)
	}
}

// TestPointingGame checks that Grad-CAM localises the object: on 200 fresh
// pictures the peak of the map of the true class (at input resolution)
// lies in the object's box for at least 90% of them.
func TestPointingGame(t *testing.T) {
	m, err := Model()
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	s := Generate(pointingSeed, n)
	hits := 0
	for i, smp := range s {
		in, err := m.Prepare(smp.Image)
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.Explain(context.Background(), in.Tensor, cam.Options{Method: cam.GradCAM, Classes: []int{smp.Class}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Layers[0] != TargetLayer || res.Width != Size || res.Height != Size {
			t.Fatalf("explained %v at %dx%d", res.Layers, res.Width, res.Height)
		}
		p := peak(res.Images[0].Explanations[0].Map, res.Width)
		if p.In(smp.Box) {
			hits++
		} else if testing.Verbose() {
			t.Logf("picture %d (%s): peak %v outside the box %v", i, Classes()[smp.Class], p, smp.Box)
		}
	}
	frac := float64(hits) / n
	t.Logf("pointing game: the Grad-CAM peak is in the box for %d of %d pictures (%.1f%%)", hits, n, 100*frac)
	if frac < 0.9 {
		t.Errorf("pointing game %.1f%%, want at least 90%%", 100*frac)
	}
}

func TestPeak(t *testing.T) {
	for _, c := range []struct {
		m    []float32
		w    int
		want image.Point
	}{
		{[]float32{0, 0, 0, 1, 0, 0}, 3, image.Pt(0, 1)},
		{[]float32{0, 2, 0, 1, 0, 2}, 3, image.Pt(1, 0)}, // first of ties
		{[]float32{5}, 1, image.Pt(0, 0)},
	} {
		if got := peak(c.m, c.w); got != c.want {
			t.Errorf("peak(%v, %d) = %v, want %v", c.m, c.w, got, c.want)
		}
	}
}

// TestEnlargedInput checks that the model sees the enlarged picture as the
// generated one: the preset's nearest-neighbour resize undoes enlarge.
func TestEnlargedInput(t *testing.T) {
	m, err := Model()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Generate(5, 3) {
		a, err := m.Prepare(s.Image)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Prepare(enlarge(s.Image, Zoom))
		if err != nil {
			t.Fatal(err)
		}
		if d := tensor.MaxAbsDiff(a.Tensor.F, b.Tensor.F); d != 0 {
			t.Errorf("enlarged picture differs by %g", d)
		}
	}
}

func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	methods := []cam.Method{cam.GradCAM, cam.LayerCAM}
	res, err := Run(context.Background(), Options{Out: dir, Seed: 9, Images: 2, Methods: methods})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 2 {
		t.Fatalf("%d images", len(res.Images))
	}
	want := []string{"shape-1.png", "shape-1.gradcam.png", "shape-1.layercam.png", "shape-1.grid.png",
		"shape-2.png", "shape-2.gradcam.png", "shape-2.layercam.png", "shape-2.grid.png", "demo.png"}
	var got []string
	for _, f := range res.Files {
		got = append(got, filepath.Base(f))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Errorf("%d entries in the directory, want %d (no temporary files)", len(entries), len(want))
	}
	for _, f := range res.Files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		b := img.Bounds()
		switch filepath.Base(f) {
		case "shape-1.png", "shape-1.gradcam.png":
			if b.Dx() != Size*Zoom || b.Dy() != Size*Zoom {
				t.Errorf("%s is %v, want %dx%d", f, b, Size*Zoom, Size*Zoom)
			}
		case "demo.png", "shape-1.grid.png":
			// A figure has at least the panels: 3 across.
			if b.Dx() < 3*160 || b.Dy() < 2*160 {
				t.Errorf("figure %s is only %v", f, b)
			}
		}
	}
	for i, ir := range res.Images {
		if ir.Label != Classes()[ir.Sample.Class] || len(ir.Top5) != 5 || len(ir.Methods) != len(methods) {
			t.Errorf("image %d: %+v", i, ir)
		}
		for k, mr := range ir.Methods {
			if mr.Method != methods[k] || mr.Class != ir.Top5[0].Class || mr.InBox != mr.Peak.In(ir.Sample.Box) {
				t.Errorf("image %d method %d: %+v", i, k, mr)
			}
		}
	}
	for _, bad := range []cam.Method{"nonesuch", cam.GuidedBackprop} {
		empty := t.TempDir()
		if _, err := Run(context.Background(), Options{Out: empty, Methods: []cam.Method{bad}}); err == nil {
			t.Errorf("method %q gives no error", bad)
		}
		if entries, _ := os.ReadDir(empty); len(entries) != 0 {
			t.Errorf("method %q: wrote %d files", bad, len(entries))
		}
	}
}
