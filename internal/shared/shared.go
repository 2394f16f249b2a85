// Package shared locates the project's shared test data (real models,
// photos and reference outputs), which lives beside the repository in
// ../shared, or wherever GRADCAM_SHARED points.
package shared

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvVar names the environment variable that overrides the location.
const EnvVar = "GRADCAM_SHARED"

// Find returns the shared data directory, or "" when there is none.
func Find() string {
	if d := os.Getenv(EnvVar); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		return ""
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(filepath.Dir(dir), "shared")
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return d
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Dir returns the shared data directory, skipping the test with a message
// saying how to provide it when there is none.
func Dir(tb testing.TB) string {
	tb.Helper()
	d := Find()
	if d == "" {
		tb.Skipf("shared test data not found: put it in ../shared beside the repository or set %s", EnvVar)
	}
	return d
}

// Path joins elem onto the shared data directory, skipping the test when
// the directory or the file is absent.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{Dir(tb)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("shared test file %s is missing: %v", p, err)
	}
	return p
}
