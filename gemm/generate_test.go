package gemm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedUpToDate checks that kernels_amd64.s and kernels_amd64.go
// are what internal/asmgen writes now.
func TestGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	asm, decls := filepath.Join(dir, "k.s"), filepath.Join(dir, "k.go")
	cmd := exec.Command(goTool, "run", "./internal/asmgen", "-out", asm, "-goout", decls)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("asmgen: %v\n%s", err, out)
	}
	for _, f := range [][2]string{{asm, "kernels_amd64.s"}, {decls, "kernels_amd64.go"}} {
		want, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f[1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./gemm/", f[1])
		}
	}
}
