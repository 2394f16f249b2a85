package batch

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gradcam/gradcam/imaging"
)

// touch creates the files (with parents) below dir.
func touch(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCollect(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "a.png", "b.JPG", "notes.txt", "sub/c.webp", "sub/deep/d.png", ".hidden.png",
		".cache/e.png", "out/old.png", "x/same.png", "y/same.png", "twin.png", "twin.jpg")
	in := filepath.Join(dir, "in")
	touch(t, in, "p.png")
	stems := func(items []Item) []string {
		var s []string
		for _, it := range items {
			s = append(s, it.Stem)
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		args  []string
		o     CollectOptions
		stems []string
	}{
		{"directory, recursive, image extensions, hidden and excluded passed over",
			[]string{dir}, CollectOptions{Exclude: []string{filepath.Join(dir, "out")}},
			[]string{"a", "b", "in/p", "sub/c", "sub/deep/d", "twin_jpg", "twin_png", "x/same", "y/same"}},
		{"glob on base names", []string{dir}, CollectOptions{Glob: "*.png", Exclude: []string{filepath.Join(dir, "out")}},
			[]string{"a", "in/p", "sub/deep/d", "twin", "x/same", "y/same"}},
		{"glob with a slash matches the relative path", []string{dir}, CollectOptions{Glob: "sub/*/*"},
			[]string{"sub/deep/d"}},
		{"files named directly are always taken; clashing stems keep the extension, then are numbered",
			[]string{filepath.Join(dir, "notes.txt"), filepath.Join(dir, "x/same.png"), filepath.Join(dir, "y/same.png"), "-"},
			CollectOptions{Glob: "*.png"}, []string{"notes", "same_png", "same_png_2", "stdin"}},
		{"a missing file is kept, to fail by name later", []string{filepath.Join(dir, "missing.png")}, CollectOptions{},
			[]string{"missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := Collect(tc.args, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if got := stems(items); !slices.Equal(got, tc.stems) {
				t.Errorf("stems %q, want %q", got, tc.stems)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		o    CollectOptions
		want string
	}{
		{"stdin twice", []string{"-", "-"}, CollectOptions{}, "twice"},
		{"directory without images", []string{filepath.Join(dir, "out")}, CollectOptions{Glob: "*.gif"}, `no files matching "*.gif"`},
		{"bad glob", []string{dir}, CollectOptions{Glob: "["}, "bad glob"},
	} {
		if _, err := Collect(tc.args, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// files lists every file below dir, relative.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			r, _ := filepath.Rel(dir, p)
			out = append(out, r)
		}
		return nil
	})
	return out
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b", "map.png")
	if err := WriteFile(p, func(w io.Writer) error { _, err := io.WriteString(w, "first"); return err }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	err := WriteFile(p, func(w io.Writer) error {
		io.WriteString(w, strings.Repeat("half-written ", 10000))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want the writer's", err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "first" {
		t.Errorf("after a failed rewrite the file holds %q, want the first version", b)
	}
	if got := files(t, dir); !slices.Equal(got, []string{filepath.Join("a", "b", "map.png")}) {
		t.Errorf("files %q: a temporary file was left", got)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
}

func TestRunOrderFailuresAndSkips(t *testing.T) {
	var items []Item
	for i := range 40 {
		items = append(items, Item{Path: fmt.Sprint(i), Name: fmt.Sprintf("img%02d.png", i), Stem: fmt.Sprint(i)})
	}
	var running, most atomic.Int32
	work := func(ctx context.Context, it Item) (string, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
		if strings.HasSuffix(it.Path, "7") {
			return "", fmt.Errorf("%s: imaging: truncated png data", it.Name)
		}
		return "r" + it.Path, nil
	}
	var order []string
	var errs bytes.Buffer
	var prog bytes.Buffer
	s := Run(context.Background(), items, Options{
		Jobs: 4, Errors: &errs, Progress: &prog, Prefix: "gradcam: ",
		Skip: func(it Item) bool { return it.Path == "0" || it.Path == "1" },
	}, work, func(it Item, v string, err error) {
		if err == nil && v != "r"+it.Path {
			t.Errorf("%s: result %q", it.Name, v)
		}
		order = append(order, it.Path)
	})
	want := make([]string, 0, 38)
	for i := 2; i < 40; i++ {
		want = append(want, fmt.Sprint(i))
	}
	if !slices.Equal(order, want) {
		t.Errorf("emitted in order %v, want input order", order)
	}
	if s.Total != 40 || s.Skipped != 2 || s.Failed != 4 || s.Done != 34 || len(s.Failures) != 4 || s.Canceled != 0 {
		t.Errorf("summary %+v", s)
	}
	if m := most.Load(); m < 2 || m > 4 {
		t.Errorf("at most %d items ran at once, want 2..4 with 4 jobs", m)
	}
	// Each failure is one line naming the file, once.
	lines := strings.Split(strings.TrimSpace(errs.String()), "\n")
	if len(lines) != 4 || lines[0] != "gradcam: img07.png: imaging: truncated png data" {
		t.Errorf("error lines %q", lines)
	}
	if !strings.Contains(prog.String(), "[40/40]") || !strings.Contains(prog.String(), "img00.png: skipped") ||
		strings.Contains(prog.String(), "\r") {
		t.Errorf("plain progress:\n%s", prog.String())
	}
	if str := s.String(); !strings.Contains(str, "40 images: 34 done, 4 failed, 2 skipped in") || !strings.Contains(str, "images/s") {
		t.Errorf("summary %q", str)
	}
}

func TestRunTerminalBar(t *testing.T) {
	items := []Item{{Name: "a.png"}, {Name: "b.png"}, {Name: "c.png"}}
	var out bytes.Buffer
	s := Run(context.Background(), items, Options{Jobs: 1, Progress: &out, Errors: &out, Terminal: true},
		func(ctx context.Context, it Item) (int, error) {
			if it.Name == "b.png" {
				return 0, errors.New("bad")
			}
			return 1, nil
		}, nil)
	got := out.String()
	if s.Failed != 1 || !strings.Contains(got, "\r\x1b[K[") || !strings.Contains(got, "3/3, 1 failed") ||
		!strings.Contains(got, "\r\x1b[Kb.png: bad\n") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("bar output %q", got)
	}
}

func TestRunCancel(t *testing.T) {
	items := make([]Item, 20)
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int32
	s := Run(ctx, items, Options{Jobs: 2}, func(ctx context.Context, it Item) (int, error) {
		if ran.Add(1) == 3 {
			cancel()
		}
		return 0, ctx.Err()
	}, nil)
	if s.Canceled == 0 || s.Done+s.Failed+s.Canceled != 20 || int(ran.Load()) != s.Done+s.Failed {
		t.Errorf("summary %+v after %d runs", s, ran.Load())
	}
}

// pngHeader returns the signature and IHDR chunk of a PNG of w x h, with
// no pixel data.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestDecodePixelLimit(t *testing.T) {
	s := Source{LimitHint: " (--max-pixels)"}
	t0 := time.Now()
	_, err := s.decode(pngHeader(30000, 30000))
	var tl *TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, imaging.ErrTooLarge) {
		t.Fatalf("error %v, want a TooLargeError", err)
	}
	if want := "image is 30000x30000 pixels, above the limit of 100000000 (--max-pixels)"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if dt := time.Since(t0); dt > time.Second {
		t.Errorf("refusing took %v: pixels were decoded?", dt)
	}
	// A set limit applies; a small image below it decodes.
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 20, 10)))
	s.Decode.MaxPixels = 199
	if _, err := s.decode(buf.Bytes()); !errors.As(err, &tl) || tl.Limit != 199 {
		t.Errorf("200 pixels with a limit of 199: %v", err)
	}
	s.Decode.MaxPixels = 200
	if img, err := s.decode(buf.Bytes()); err != nil || img.Bounds().Dx() != 20 {
		t.Errorf("200 pixels with a limit of 200: %v", err)
	}
}

func TestTensorPhotoUndoesPreprocessing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := image.NewRGBA(image.Rect(0, 0, 17, 11))
	for i := range src.Pix {
		src.Pix[i] = uint8(rng.IntN(256))
		if i%4 == 3 {
			src.Pix[i] = 255
		}
	}
	for _, name := range []string{"torchvision", "keras-caffe", "tf", "mobilenet-slim"} {
		p, err := imaging.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		// No resampling: the tensor holds the photo's own pixels.
		p.Width, p.Height, p.Resize, p.CentralFraction = 17, 11, imaging.ResizeExact, 0
		x, _, err := p.Apply(src)
		if err != nil {
			t.Fatal(err)
		}
		img, err := tensorPhoto(x, 0, p)
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds() != src.Bounds() {
			t.Fatalf("%s: bounds %v", name, img.Bounds())
		}
		for y := range 11 {
			for x := range 17 {
				a, b := src.RGBAAt(x, y), img.(*image.RGBA).RGBAAt(x, y)
				if a != b {
					t.Fatalf("%s: pixel (%d,%d) %v, want %v", name, x, y, b, a)
				}
			}
		}
	}
}

func TestGuidedPicture(t *testing.T) {
	px := []uint8{10, 20, 30, 40, 50, 60}
	for _, tc := range []struct {
		bgr  bool
		want color.RGBA
	}{{false, color.RGBA{10, 20, 30, 255}}, {true, color.RGBA{30, 20, 10, 255}}} {
		img := guidedPicture(px, 1, 2, tc.bgr)
		if got := img.RGBAAt(0, 0); got != tc.want {
			t.Errorf("bgr %v: %v, want %v", tc.bgr, got, tc.want)
		}
	}
}

func TestErrorLine(t *testing.T) {
	it := Item{Name: "dir/a.png"}
	for _, tc := range []struct{ err, want string }{
		{"dir/a.png: imaging: truncated", "dir/a.png: imaging: truncated"},
		{"imaging: bad\nsecond line", "dir/a.png: imaging: bad; second line"},
	} {
		if got := ErrorLine(it, errors.New(tc.err)); got != tc.want {
			t.Errorf("ErrorLine(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
