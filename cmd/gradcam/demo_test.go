package main

import (
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestDemo runs `gradcam demo` in-process: it needs no flags besides
// --out and no files, writes the pictures and figures, and prints them
// with the predictions.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tmp")
	code, stdout, stderr := runGradcam(t, nil, "demo", "--out", dir, "--images", "2", "--methods", "gradcam,layercam")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{"demo.png",
		"shape-1.gradcam.png", "shape-1.grid.png", "shape-1.layercam.png", "shape-1.png",
		"shape-2.gradcam.png", "shape-2.grid.png", "shape-2.layercam.png", "shape-2.png"}
	if got := listFiles(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("wrote %v, want %v", got, want)
	}
	f, err := os.Open(filepath.Join(dir, "demo.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("demo.png: %v", err)
	}
	for _, s := range []string{"predicted", "shape-1.png", "gradcam", "layercam", "the box", filepath.Join(dir, "demo.png")} {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}
}

func TestDemoUsage(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "--methods", "nonesuch"},
		{"demo", "--methods", "guided-backprop"},
		{"demo", "--images", "0"},
		{"demo", "--seed", "-1"},
	} {
		dir := t.TempDir()
		code, _, stderr := runGradcam(t, nil, append(args, "--out", dir)...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
		if files := listFiles(t, dir); len(files) != 0 {
			t.Errorf("%v wrote %v", args, files)
		}
	}
	code, stdout, _ := runGradcam(t, nil, "demo", "--help")
	if code != 0 || !strings.Contains(stdout, "gradcam demo --out") {
		t.Errorf("demo --help: exit %d:\n%s", code, stdout)
	}
}
