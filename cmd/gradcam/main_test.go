package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	_ "image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gradcam/gradcam/batch"
	"github.com/gradcam/gradcam/internal/shared"
	"github.com/gradcam/gradcam/npy"
	"github.com/gradcam/gradcam/tensor"
)

// runGradcam runs the command in-process and returns its exit code and
// outputs.
func runGradcam(t *testing.T, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code = run(args, stdin, &out, &errb)
	return code, out.String(), errb.String()
}

const mobilenet = "mobilenet_v2_1.0_224.onnx"

func model(t *testing.T) string { return shared.Path(t, "models", mobilenet) }

// listFiles lists every file below dir, relative, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			r, _ := filepath.Rel(dir, p)
			out = append(out, r)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// oneErrorLine checks that stderr is one line "gradcam: ..." containing
// want.
func oneErrorLine(t *testing.T, stderr, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "gradcam: ") || !strings.Contains(lines[0], want) {
		t.Errorf("stderr %q, want a line 'gradcam: ...%s...'", stderr, want)
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "gradcam: see 'gradcam") {
			t.Errorf("stderr has more than the error line: %q", stderr)
		}
	}
}

// TestUsageErrors checks that bad flags exit with 2 before the model is
// read (the model path does not exist, which would exit with 1) and
// write nothing.
func TestUsageErrors(t *testing.T) {
	out := t.TempDir()
	m := filepath.Join(out, "no-such-model.onnx")
	img := filepath.Join(out, "no-such.png")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, "frobnicate"},
		{"unknown flag", []string{"explain", "-m", m, "-i", img, "--nope"}, "--nope"},
		{"missing model", []string{"explain", "-i", img}, "--model"},
		{"unknown method", []string{"explain", "-m", m, "-i", img, "--method", "gradcam,nope"}, `unknown method "nope"`},
		{"unknown colormap", []string{"explain", "-m", m, "-i", img, "--colormap", "rainbow"}, "rainbow"},
		{"alpha out of range", []string{"explain", "-m", m, "-i", img, "--alpha", "0"}, "--alpha"},
		{"two kinds of target", []string{"explain", "-m", m, "-i", img, "--class", "5", "--top-k", "2"}, "at most one"},
		{"bad class weights", []string{"explain", "-m", m, "-i", img, "--classes", "243:x"}, "CLASS:WEIGHT"},
		{"bad score", []string{"explain", "-m", m, "-i", img, "--score", "odds"}, "odds"},
		{"bad format", []string{"explain", "-m", m, "-i", img, "--format", "gif"}, "gif"},
		{"unknown preset", []string{"predict", "-m", m, "-i", img, "--preprocess", "caffe2"}, "caffe2"},
		{"bad size", []string{"predict", "-m", m, "-i", img, "--size", "0x3"}, "--size"},
		{"two means", []string{"predict", "-m", m, "-i", img, "--mean", "1,2"}, "--mean"},
		{"bad crop", []string{"predict", "-m", m, "-i", img, "--crop", "1.5"}, "--crop"},
		{"no input", []string{"explain", "-m", m, "-o", out}, "no input"},
		{"images and tensor", []string{"predict", "-m", m, "-i", img, "--input-tensor", "x.npy"}, "not both"},
		{"top zero", []string{"predict", "-m", m, "-i", img, "--top", "0"}, "--top"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args[0] == "explain" {
				args = append(args, "-o", out)
			}
			code, stdout, stderr := runGradcam(t, nil, args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr %q", code, stderr)
			}
			oneErrorLine(t, stderr, tc.want)
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
		})
	}
	if f := listFiles(t, out); len(f) != 0 {
		t.Errorf("usage errors wrote %q", f)
	}
}

// TestBadValuesForTheModel checks the errors that need the model: each
// exits with 2 and writes nothing.
func TestBadValuesForTheModel(t *testing.T) {
	m := model(t)
	img := shared.Path(t, "images", "both.png")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown layer lists candidates", []string{"--layer", "layer4"},
			[]string{`no layer or tensor named "layer4"`, "MobilenetV2/Conv_1/Relu6"}},
		{"class out of range", []string{"--class", "1000"}, []string{"class 1000 is out of range", "1000 classes"}},
		{"weighted class out of range", []string{"--classes", "243:0.5,2000:0.5"}, []string{"class 2000 is out of range"}},
		{"cam needs a GAP + dense head", []string{"--method", "gradcam,cam", "--layer", "MobilenetV2/expanded_conv_16/project/add_fold"},
			[]string{"cam"}},
		{"one .npy file for two maps", []string{"--method", "gradcam,layercam", "--save-cam", "map.npy"},
			[]string{"--save-cam", "2 maps"}},
		{"top-k above the classes", []string{"--top-k", "1001"}, []string{"top-k 1001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"explain", "-m", m, "-i", img, "-o", out}, tc.args...)
			for i, a := range args {
				if a == "map.npy" {
					args[i] = filepath.Join(out, a)
				}
			}
			code, stdout, stderr := runGradcam(t, nil, args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr %q", code, stderr)
			}
			for _, w := range tc.want {
				oneErrorLine(t, stderr, w)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
			if f := listFiles(t, out); len(f) != 0 {
				t.Errorf("wrote %q", f)
			}
		})
	}
	// A model file that is not a model fails with 1, naming the file.
	bad := filepath.Join(t.TempDir(), "junk.onnx")
	os.WriteFile(bad, []byte("not a model"), 0o644)
	code, _, stderr := runGradcam(t, nil, "predict", "-m", bad, "-i", img)
	if code != 1 {
		t.Errorf("junk model: exit code %d, want 1", code)
	}
	oneErrorLine(t, stderr, "junk.onnx")
}

func TestLayers(t *testing.T) {
	m := model(t)
	code, stdout, stderr := runGradcam(t, nil, "layers", "--model", m, "--json")
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	var cat catalogJSON
	if err := json.Unmarshal([]byte(stdout), &cat); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	// The target layer named in the models' SOURCES.md.
	const target = "MobilenetV2/Conv_1/Relu6"
	sum, marked := 0, 0
	for _, l := range cat.Layers {
		sum += l.Params
		if l.Target {
			marked++
			if l.Output != target || !slices.Equal(l.Shape, []int{1, 1280, 7, 7}) {
				t.Errorf("marked layer %+v, want %s [1 1280 7 7]", l, target)
			}
		}
	}
	if marked != 1 || cat.AutoTarget != target || cat.TotalParams != sum || cat.Model != mobilenet {
		t.Errorf("catalog: %d marked, auto %q, total %d (sum %d), model %q", marked, cat.AutoTarget, cat.TotalParams, sum, cat.Model)
	}
	// SOURCES.md: 3.49 M parameters (weights; our count adds the Clip
	// bounds, two per ReLU6).
	if sum < 3_480_000 || sum > 3_500_000 {
		t.Errorf("total params %d, want about 3.49 M", sum)
	}
	last := cat.Layers[len(cat.Layers)-1]
	if last.Op != "Gemm" || last.Params != 1280*1000+1000 {
		t.Errorf("last layer %+v, want the 1280x1000 Gemm with bias", last)
	}

	code, stdout, _ = runGradcam(t, nil, "layers", "-m", m)
	if code != 0 {
		t.Fatal(code)
	}
	var markedLine string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.Contains(l, "<- auto target") {
			markedLine = l
		}
	}
	if !strings.Contains(markedLine, target+" (Clip)") || !strings.Contains(markedLine, "[1, 1280, 7, 7]") {
		t.Errorf("marked line %q", markedLine)
	}
	if !strings.Contains(stdout, "Total params: "+groupDigits(sum)) || !strings.Contains(stdout, "Automatic target layer: "+target) {
		t.Errorf("totals missing:\n%s", stdout[max(0, len(stdout)-300):])
	}
}

func TestShapeAndDigits(t *testing.T) {
	if s := shapeString([]int{-1, 3, 224, 224}); s != "[N, 3, 224, 224]" {
		t.Errorf("shapeString = %q", s)
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 3504872: "3,504,872", -1234: "-1,234"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}

// readF32 reads a raw little-endian float32 file.
func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*4:]))
	}
	return v
}

func TestPredict(t *testing.T) {
	m := model(t)
	both := shared.Path(t, "images", "both.png")
	code, stdout, stderr := runGradcam(t, nil, "predict", "-m", m, "-i", both, "--top", "3")
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], "both.png:") || !strings.Contains(lines[1], "243 bull mastiff") {
		t.Errorf("output:\n%s", stdout)
	}
	if stderr != "" {
		t.Errorf("stderr %q for one image", stderr)
	}

	// Standard input and JSON.
	data, _ := os.ReadFile(both)
	code, stdout, _ = runGradcam(t, bytes.NewReader(data), "predict", "-m", m, "--json", "-")
	var rec batch.PredictRecord
	if code != 0 || json.Unmarshal([]byte(stdout), &rec) != nil {
		t.Fatalf("exit %d, output %q", code, stdout)
	}
	if rec.Image != "stdin" || len(rec.Predictions) != 5 || rec.Predictions[0].Class != 243 || rec.Predictions[0].Label != "bull mastiff" {
		t.Errorf("record %+v", rec)
	}

	// --input-tensor: the golden input of the models directory gives its
	// golden logits.
	dir := t.TempDir()
	x := tensor.FromFloat32([]int{1, 3, 224, 224}, readF32(t, shared.Path(t, "models", "golden", "mobilenet_v2_1.0_224.both.input.f32")))
	xp := filepath.Join(dir, "x.npy")
	if err := npy.WriteFile(xp, x); err != nil {
		t.Fatal(err)
	}
	want := readF32(t, shared.Path(t, "models", "golden", "mobilenet_v2_1.0_224.both.logits.f32"))
	code, stdout, stderr = runGradcam(t, nil, "predict", "-m", m, "--input-tensor", xp, "--top", "1000", "--json")
	rec = batch.PredictRecord{}
	if code != 0 || json.Unmarshal([]byte(stdout), &rec) != nil || len(rec.Predictions) != 1000 {
		t.Fatalf("exit %d, %s, %d predictions", code, stderr, len(rec.Predictions))
	}
	worst := 0.0
	for _, p := range rec.Predictions {
		worst = max(worst, math.Abs(float64(p.Logit-want[p.Class])))
	}
	if worst > 1e-4 {
		t.Errorf("logits differ from the golden ones by up to %g", worst)
	}
	// A tensor of the wrong shape is refused, naming both shapes.
	npy.WriteFile(xp, tensor.Zeros(1, 3, 100, 100))
	code, _, stderr = runGradcam(t, nil, "predict", "-m", m, "--input-tensor", xp)
	if code != 1 {
		t.Errorf("wrong shape: exit %d", code)
	}
	oneErrorLine(t, stderr, "[1 3 100 100]")
}

// cellMean is the mean of a 224x224 map over a box (inclusive).
func boxMean(m []float32, x0, y0, x1, y1 int) float64 {
	s, n := 0.0, 0
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			s += float64(m[y*224+x])
			n++
		}
	}
	return s / float64(n)
}

// TestExplainPhoto explains the dog-and-cat photo for the dog and the
// cat and checks the maps against the golden 7x7 Grad-CAM maps of the
// models directory and against where the animals are.
func TestExplainPhoto(t *testing.T) {
	m := model(t)
	both := shared.Path(t, "images", "both.png")
	var golden struct {
		CAM map[string]struct {
			Map [][]float64 `json:"map_normalized"`
		} `json:"cam"`
	}
	gb, err := os.ReadFile(shared.Path(t, "models", "golden", "mobilenet_v2_1.0_224.both.json"))
	if err != nil || json.Unmarshal(gb, &golden) != nil {
		t.Fatal("golden json", err)
	}
	out := t.TempDir()
	maps := filepath.Join(out, "maps") + "/"
	code, stdout, stderr := runGradcam(t, nil, "explain", "-m", m, "-i", both, "--class", "243,281", "-o", out,
		"--save-cam", maps, "--heatmap", "--json")
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	var rec batch.Record
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	if rec.Model != mobilenet || len(rec.Top5) != 5 || rec.Top5[0].Class != 243 || len(rec.Explanations) != 2 {
		t.Fatalf("record %+v", rec)
	}
	wantFiles := []string{"both.gradcam.243.heatmap.png", "both.gradcam.243.png", "both.gradcam.281.heatmap.png",
		"both.gradcam.281.png", "both.grid.png", "maps/both.gradcam.243.npy", "maps/both.gradcam.281.npy"}
	if got := listFiles(t, out); !slices.Equal(got, wantFiles) {
		t.Errorf("files %q, want %q", got, wantFiles)
	}
	for k, tc := range []struct {
		class  int
		label  string
		in     [4]int // the animal, in input pixels (see cam's TestPhotoGradCAM)
		others [4]int
	}{
		{243, "bull mastiff", [4]int{70, 0, 172, 115}, [4]int{30, 144, 218, 223}},
		{281, "tabby", [4]int{30, 144, 218, 223}, [4]int{70, 0, 172, 115}},
	} {
		x := rec.Explanations[k]
		if x.Method != "gradcam" || x.Layer != "MobilenetV2/Conv_1/Relu6" || x.Class == nil || x.Class.Index != tc.class ||
			x.Class.Label != tc.label || x.ScoreKind != "logit" || x.Score != x.Class.Score {
			t.Errorf("explanation %d: %+v (class %+v)", k, x, x.Class)
		}
		mp, err := npy.ReadFile(filepath.Join(maps, "both.gradcam."+strconv.Itoa(tc.class)+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(mp.Shape, []int{224, 224}) {
			t.Fatalf("map shape %v", mp.Shape)
		}
		// The final map is the 7x7 map resized by 32 with half-pixel
		// centres: the mean of the four pixels around a cell's centre is
		// the cell's value up to a 1/64 step of the slope either side.
		g := golden.CAM[strconv.Itoa(tc.class)].Map
		worst := 0.0
		for i := range 7 {
			for j := range 7 {
				y, x := 32*i+15, 32*j+15
				v := (mp.F[y*224+x] + mp.F[y*224+x+1] + mp.F[(y+1)*224+x] + mp.F[(y+1)*224+x+1]) / 4
				worst = max(worst, math.Abs(float64(v)-g[i][j]))
			}
		}
		if worst > 0.03 {
			t.Errorf("class %d: map differs from the golden 7x7 map by up to %.3f at cell centres", tc.class, worst)
		}
		in := boxMean(mp.F, tc.in[0], tc.in[1], tc.in[2], tc.in[3])
		other := boxMean(mp.F, tc.others[0], tc.others[1], tc.others[2], tc.others[3])
		if in < 2*other {
			t.Errorf("%s: mean %.3f on the animal, %.3f on the other", tc.label, in, other)
		}
		// The overlay is the photo's size, and reddest on the animal.
		f, err := os.Open(filepath.Join(out, "both.gradcam."+strconv.Itoa(tc.class)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		ov, err := png.Decode(f)
		f.Close()
		if err != nil || ov.Bounds().Dx() != 224 || ov.Bounds().Dy() != 224 {
			t.Fatalf("overlay: %v %v", err, ov.Bounds())
		}
		red := func(b [4]int) float64 {
			// Photo = input * 7/8 + 14 (central crop 87.5% of 224).
			s, n := 0.0, 0
			for y := b[1]*7/8 + 14; y <= b[3]*7/8+14; y++ {
				for x := b[0]*7/8 + 14; x <= b[2]*7/8+14; x++ {
					r, _, bl, _ := ov.At(x, y).RGBA()
					s += float64(r) - float64(bl)
					n++
				}
			}
			return s / float64(n)
		}
		if ri, ro := red(tc.in), red(tc.others); ri <= ro {
			t.Errorf("%s overlay: red-blue %.0f on the animal, %.0f on the other", tc.label, ri, ro)
		}
	}
	if rec.Grid != filepath.Join(out, "both.grid.png") {
		t.Errorf("grid %q", rec.Grid)
	}
}

// TestExplainGuidedAndTensor explains a ready input tensor with guided
// backprop: the .npy of the input gradient is H x W x 3.
func TestExplainGuidedAndTensor(t *testing.T) {
	m := model(t)
	dir := t.TempDir()
	x := tensor.FromFloat32([]int{1, 3, 224, 224}, readF32(t, shared.Path(t, "models", "golden", "mobilenet_v2_1.0_224.both.input.f32")))
	xp := filepath.Join(dir, "x.npy")
	npy.WriteFile(xp, x)
	out := filepath.Join(dir, "out")
	gbp := filepath.Join(dir, "gb.npy")
	code, stdout, stderr := runGradcam(t, nil, "explain", "-m", m, "--input-tensor", xp, "--method", "guided-backprop",
		"--save-cam", gbp, "-o", out, "--no-grid", "--format", "jpeg")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "guided-backprop") || !strings.Contains(stdout, "243 bull mastiff") {
		t.Errorf("stdout %q", stdout)
	}
	gb, err := npy.ReadFile(gbp)
	if err != nil || !slices.Equal(gb.Shape, []int{224, 224, 3}) {
		t.Fatalf("guided npy: %v %v", err, gb)
	}
	if got := listFiles(t, out); !slices.Equal(got, []string{"x.guided-backprop.243.guided.jpg"}) {
		t.Errorf("files %q", got)
	}
}

// writeBroken writes the three broken files of the batch acceptance test.
func writeBroken(t *testing.T, dir string, goodPNG []byte) []string {
	t.Helper()
	broken := map[string][]byte{
		"truncated.png": goodPNG[:len(goodPNG)/3],
		"empty.png":     nil,
		"notes.jpg":     []byte("these are my notes, not a JPEG\n"),
	}
	var names []string
	for n, b := range broken {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// TestExplainBatch is the batch acceptance test: every shared photo plus
// three broken files in a directory tree; every good image is explained,
// each broken one reported by name, the exit code is 1, no temporary or
// partial file is left, and a resumed run skips the done images.
func TestExplainBatch(t *testing.T) {
	m := model(t)
	imgDir := filepath.Join(shared.Dir(t), "images")
	in := t.TempDir()
	var good []string
	for _, pat := range []string{"*.png", "*.jpg"} {
		ms, _ := filepath.Glob(filepath.Join(imgDir, pat))
		for _, p := range ms {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rel := filepath.Base(p)
			if len(good)%2 == 1 {
				rel = filepath.Join("sub", rel) // a nested directory too
			}
			os.MkdirAll(filepath.Join(in, filepath.Dir(rel)), 0o755)
			if err := os.WriteFile(filepath.Join(in, rel), b, 0o644); err != nil {
				t.Fatal(err)
			}
			good = append(good, rel)
		}
	}
	if len(good) < 5 {
		t.Skipf("only %d shared images", len(good))
	}
	pngData, _ := os.ReadFile(filepath.Join(imgDir, "both.png"))
	broken := writeBroken(t, in, pngData)
	out := t.TempDir()

	t0 := time.Now()
	code, stdout, stderr := runGradcam(t, nil, "explain", "-m", m, in, "-o", out, "--json", "--jobs", "2")
	t.Logf("%d images in %v", len(good)+len(broken), time.Since(t0))
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	// Each broken file is reported once, by name, on one line.
	for _, b := range broken {
		if n := strings.Count(stderr, filepath.Join(in, b)+": "); n != 1 {
			t.Errorf("%s reported %d times in:\n%s", b, n, stderr)
		}
	}
	for _, want := range []string{"truncated png", "empty input", "unknown image format",
		"gradcam: 3 of " + strconv.Itoa(len(good)+3) + " images failed"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !regexp.MustCompile(`images: \d+ done, 3 failed, 0 skipped in [0-9.]+ s \([0-9.]+ images/s\)`).MatchString(stderr) {
		t.Errorf("no summary in:\n%s", stderr)
	}
	// One JSON line per input, in input order, the broken ones with an error.
	sc := bufio.NewScanner(strings.NewReader(stdout))
	var recs []batch.Record
	for sc.Scan() {
		var r batch.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	if len(recs) != len(good)+len(broken) {
		t.Fatalf("%d JSON lines for %d inputs", len(recs), len(good)+len(broken))
	}
	failed := 0
	for _, r := range recs {
		if r.Error != "" {
			failed++
			if len(r.Explanations) != 0 {
				t.Errorf("failed record with explanations: %+v", r)
			}
		} else if len(r.Explanations) != 1 || len(r.Top5) != 5 {
			t.Errorf("record %+v", r)
		}
	}
	if failed != len(broken) {
		t.Errorf("%d error records, want %d", failed, len(broken))
	}
	// The outputs mirror the input tree; nothing for broken files; no
	// temporary files.
	var want []string
	for _, g := range good {
		stem := strings.TrimSuffix(g, filepath.Ext(g))
		var top int
		for _, r := range recs {
			if r.Image == filepath.Join(in, g) {
				top = r.Top5[0].Class
			}
		}
		want = append(want, stem+".gradcam."+strconv.Itoa(top)+".png", stem+".grid.png")
	}
	slices.Sort(want)
	got := listFiles(t, out)
	if !slices.Equal(got, want) {
		t.Errorf("outputs\n%q\nwant\n%q", got, want)
	}
	for _, f := range got {
		p := filepath.Join(out, f)
		fh, _ := os.Open(p)
		_, _, err := image.DecodeConfig(fh)
		fh.Close()
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}

	// Resumed: the good images are skipped, their files untouched; the
	// broken ones fail again.
	stamps := map[string]time.Time{}
	for _, f := range got {
		st, _ := os.Stat(filepath.Join(out, f))
		stamps[f] = st.ModTime()
	}
	code, _, stderr = runGradcam(t, nil, "explain", "-m", m, in, "-o", out, "--resume")
	if code != 1 || !strings.Contains(stderr, strconv.Itoa(len(good))+" skipped") {
		t.Errorf("resume: exit %d, stderr:\n%s", code, stderr)
	}
	for f, ts := range stamps {
		if st, _ := os.Stat(filepath.Join(out, f)); !st.ModTime().Equal(ts) {
			t.Errorf("%s rewritten on resume", f)
		}
	}
	if got2 := listFiles(t, out); !slices.Equal(got2, got) {
		t.Errorf("resume changed the outputs: %q", got2)
	}
}

// craftPNG writes a PNG header of w x h pixels with no pixel data.
func craftPNG(t *testing.T, path string, w, h uint32) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2
	binary.Write(&b, binary.BigEndian, uint32(13))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPixelLimit(t *testing.T) {
	m := model(t)
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.png")
	craftPNG(t, huge, 30000, 30000)
	out := filepath.Join(dir, "out")
	t0 := time.Now()
	code, _, stderr := runGradcam(t, nil, "explain", "-m", m, "-i", huge, "-o", out)
	if dt := time.Since(t0); dt > 5*time.Second {
		t.Errorf("refusing took %v", dt)
	}
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if want := "gradcam: " + huge + ": image is 30000x30000 pixels, above the limit of 100000000 (--max-pixels)\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("an output directory was made")
	}
	// The limit is settable, by flag and by environment.
	both := shared.Path(t, "images", "both.png")
	code, _, stderr = runGradcam(t, nil, "predict", "-m", m, "-i", both, "--max-pixels", "50000")
	if code != 1 || !strings.Contains(stderr, "224x224 pixels, above the limit of 50000") {
		t.Errorf("--max-pixels 50000: exit %d, %q", code, stderr)
	}
	t.Setenv("GRADCAM_MAX_PIXELS", "40000")
	code, _, stderr = runGradcam(t, nil, "predict", "-m", m, "-i", both)
	if code != 1 || !strings.Contains(stderr, "above the limit of 40000") {
		t.Errorf("GRADCAM_MAX_PIXELS: exit %d, %q", code, stderr)
	}
}

func TestEnvironment(t *testing.T) {
	m := model(t)
	both := shared.Path(t, "images", "both.png")
	out := t.TempDir()
	t.Setenv("GRADCAM_MODEL", m)
	t.Setenv("GRADCAM_METHOD", "gradcam++")
	t.Setenv("GRADCAM_JSON", "true")
	t.Setenv("GRADCAM_OUT", out)
	t.Setenv("GRADCAM_GRID", "false")
	t.Setenv("GRADCAM_CLASS", "281")
	code, stdout, stderr := runGradcam(t, nil, "explain", "-i", both)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rec batch.Record
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	if len(rec.Explanations) != 1 || rec.Explanations[0].Method != "gradcam++" || rec.Explanations[0].Class.Index != 281 {
		t.Errorf("record %+v", rec)
	}
	if got := listFiles(t, out); !slices.Equal(got, []string{"both.gradcam++.281.png"}) {
		t.Errorf("files %q", got)
	}
	// A flag beats the environment; a bad value from the environment is
	// a usage error.
	code, stdout, _ = runGradcam(t, nil, "explain", "-i", both, "--method", "layercam")
	if code != 0 || !strings.Contains(stdout, `"method":"layercam"`) {
		t.Errorf("flag over env: exit %d, %q", code, stdout)
	}
	t.Setenv("GRADCAM_COLORMAP", "rainbow")
	if code, _, _ = runGradcam(t, nil, "explain", "-i", both); code != 2 {
		t.Errorf("bad GRADCAM_COLORMAP: exit %d, want 2", code)
	}
}

func TestHelpShowsExamples(t *testing.T) {
	for _, cmd := range []string{"predict", "layers", "explain", "version"} {
		code, stdout, _ := runGradcam(t, nil, cmd, "--help")
		if code != 0 || !strings.Contains(stdout, "Example") || !strings.Contains(stdout, "gradcam "+cmd) {
			t.Errorf("%s --help: exit %d:\n%s", cmd, code, stdout)
		}
	}
	code, stdout, _ := runGradcam(t, nil, "--help")
	for _, c := range []string{"demo", "predict", "layers", "explain", "bench", "serve", "version", "GRADCAM_"} {
		if code != 0 || !strings.Contains(stdout, c) {
			t.Errorf("--help lacks %q", c)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runGradcam(t, nil, "version")
	if code != 0 || !strings.Contains(stdout, "go1.") || !regexp.MustCompile(`gemm kernel (avx512|avx2|go)`).MatchString(stdout) {
		t.Errorf("exit %d:\n%s", code, stdout)
	}
}

func TestLogFormat(t *testing.T) {
	m := model(t)
	both := shared.Path(t, "images", "both.png")
	code, _, stderr := runGradcam(t, nil, "--log-format", "json", "--log-level", "debug", "predict", "-m", m, "-i", both)
	if code != 0 {
		t.Fatal(code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil || v["msg"] == nil {
			t.Errorf("log line %q is not a JSON record", l)
		}
	}
	if !strings.Contains(stderr, `"msg":"model loaded"`) {
		t.Errorf("no model-loaded record in %q", stderr)
	}
}

// TestReferenceTensorBatch explains a batch of two ready inputs (the
// stored inputs of pytorch-grad-cam's reference outputs, resnet18 with a
// dynamic batch) and compares the saved maps with the reference's.
func TestReferenceTensorBatch(t *testing.T) {
	m := shared.Path(t, "reference", "resnet18.onnx")
	var refs []map[string]*tensor.Tensor
	for _, in := range []string{"photo-both", "rand"} {
		r, err := npy.ReadNPZ(shared.Path(t, "reference", "resnet18__"+in+".npz"))
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	x := tensor.Zeros(2, 3, 224, 224)
	copy(x.F, refs[0]["input"].F)
	copy(x.F[3*224*224:], refs[1]["input"].F)
	dir := t.TempDir()
	xp := filepath.Join(dir, "x.npy")
	if err := npy.WriteFile(xp, x); err != nil {
		t.Fatal(err)
	}
	maps := filepath.Join(dir, "maps") + string(filepath.Separator)
	code, stdout, stderr := runGradcam(t, nil, "explain", "-m", m, "--input-tensor", xp, "--method", "gradcam,gradcam++,guided-backprop",
		"--save-cam", maps, "-o", filepath.Join(dir, "out"), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d JSON lines for a batch of 2", len(lines))
	}
	for i, l := range lines {
		var rec batch.Record
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		class := int(refs[i]["class"].I[0])
		if rec.Image != "x.npy["+strconv.Itoa(i)+"]" && rec.Image != xp+"["+strconv.Itoa(i)+"]" || len(rec.Explanations) != 3 ||
			rec.Explanations[0].Class.Index != class {
			t.Fatalf("record %d: %+v, reference class %d", i, rec, class)
		}
		for _, tc := range []struct{ method, key string }{
			{"gradcam", "cam_GradCAM"}, {"gradcam++", "cam_GradCAMPlusPlus"}, {"guided-backprop", "gb"},
		} {
			got, err := npy.ReadFile(filepath.Join(maps, "x-"+strconv.Itoa(i)+"."+tc.method+"."+strconv.Itoa(class)+".npy"))
			if err != nil {
				t.Fatal(err)
			}
			want := refs[i][tc.key]
			if !slices.Equal(got.Shape, want.Shape) {
				t.Fatalf("%s: shape %v, reference %v", tc.method, got.Shape, want.Shape)
			}
			scale := 1.0
			if tc.key == "gb" { // not normalised: compare relative to its largest value
				scale = 0
				for _, v := range want.F {
					scale = max(scale, math.Abs(float64(v)))
				}
			}
			if d := tensor.MaxAbsDiff(got.F, want.F); d > 1e-3*scale {
				t.Errorf("image %d %s: max abs diff %g to pytorch-grad-cam (scale %g)", i, tc.method, d, scale)
			}
		}
	}
	// The catalog shows the dynamic batch as N.
	_, stdout, _ = runGradcam(t, nil, "layers", "-m", m)
	if !regexp.MustCompile(`/layer4/layer4.1/relu_1/Relu_output_0 \(Relu\)\s+\[N, 512, 7, 7\]\s+0\s+<- auto target`).MatchString(stdout) {
		t.Errorf("catalog lacks the marked dynamic-batch target:\n%s", stdout)
	}
}
