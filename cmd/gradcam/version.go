package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/gradcam/gradcam/gemm"
)

// versionCmd prints build information.
type versionCmd struct{}

// Help shows an example.
func (c *versionCmd) Help() string {
	return `Prints the module version (and VCS revision when the binary was built
with it), the Go version, the target and the matrix-multiply kernel chosen
for this CPU.

Example:

    gradcam version`
}

// Run prints the version.
func (c *versionCmd) Run(g *globals) error {
	version, rev := "(unknown)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					rev += " (modified)"
				}
			}
		}
	}
	fmt.Fprintf(g.stdout, "gradcam %s\n", version)
	if rev != "" {
		fmt.Fprintf(g.stdout, "revision %s\n", rev)
	}
	fmt.Fprintf(g.stdout, "%s %s/%s, %d CPUs\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintf(g.stdout, "gemm kernel %s, %d threads\n", gemm.Kernel(), gemm.Threads())
	return nil
}
