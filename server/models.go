package server

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gradcam/gradcam"
	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/imaging"
)

// registry holds the served models by name. Its set of names is fixed
// once the server serves; each model is loaded once and shared.
type registry struct {
	mu sync.RWMutex
	m  map[string]*entry
}

// entry is one served model, loaded at most once.
type entry struct {
	name string
	file string // the path in the models directory, or ""
	load func() (*gradcam.Model, error)

	once     sync.Once
	done     chan struct{}
	model    *gradcam.Model
	err      error
	loadTime time.Duration

	// Filled on load: the layer catalogue and the shapes for one image.
	layers []engine.Layer
	shapes map[string][]int
	target string
}

func newRegistry() *registry { return &registry{m: make(map[string]*entry)} }

// scan registers every *.onnx file of dir (not recursively).
func (r *registry) scan(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("server: models directory: %w", err)
	}
	for _, de := range des {
		n := de.Name()
		if !strings.EqualFold(filepath.Ext(n), ".onnx") || strings.HasPrefix(n, ".") {
			continue
		}
		path := filepath.Join(dir, n)
		st, err := os.Stat(path) // follows symbolic links
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		name := strings.TrimSuffix(n, filepath.Ext(n))
		if err := r.add(name, path, func() (*gradcam.Model, error) { return gradcam.Load(path, gradcam.Options{}) }); err != nil {
			return err
		}
	}
	return nil
}

func (r *registry) add(name, file string, load func() (*gradcam.Model, error)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[name]; ok {
		return fmt.Errorf("server: two models named %q", name)
	}
	r.m[name] = &entry{name: name, file: file, load: load, done: make(chan struct{})}
	return nil
}

// lookup returns the model called name (with or without ".onnx").
func (r *registry) lookup(name string) *entry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if e, ok := r.m[name]; ok {
		return e
	}
	if strings.HasSuffix(strings.ToLower(name), ".onnx") {
		return r.m[name[:len(name)-len(".onnx")]]
	}
	return nil
}

func (r *registry) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for n := range r.m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (r *registry) all() []*entry {
	var out []*entry
	for _, n := range r.names() {
		out = append(out, r.lookup(n))
	}
	return out
}

// loaded reports whether every model has finished loading.
func (r *registry) loaded() bool {
	for _, e := range r.all() {
		if !e.isDone() {
			return false
		}
	}
	return true
}

// get loads the model the first time and returns it.
func (e *entry) get() (*gradcam.Model, error) {
	e.once.Do(func() {
		defer close(e.done)
		start := time.Now()
		m, err := e.load()
		if err == nil {
			err = e.catalogue(m)
		}
		e.loadTime = time.Since(start)
		e.model, e.err = m, err
		if err != nil {
			e.model = nil
		}
	})
	return e.model, e.err
}

func (e *entry) isDone() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// catalogue lists the model's layers and their shapes for one image.
func (e *entry) catalogue(m *gradcam.Model) error {
	layers, err := m.Engine.Layers()
	if err != nil {
		return err
	}
	p := m.Preprocess
	in := []int{1, 3, p.Height, p.Width}
	if p.Layout == imaging.NHWC {
		in = []int{1, p.Height, p.Width, 3}
	}
	shapes, err := m.Engine.Shapes(in)
	if err != nil {
		return err
	}
	e.layers, e.shapes = layers, shapes
	e.target, _ = m.Engine.AutoTarget()
	return nil
}

// checkName refuses a model name that is empty or holds a path.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty model name")
	case strings.ContainsAny(name, `/\:`) || strings.Contains(name, "..") || strings.ContainsRune(name, 0):
		return fmt.Errorf("model name %q holds a path: name a model of the models directory by its file name", name)
	}
	return nil
}

// spatial reports whether a layer's shape is a feature map usable as a
// CAM target: rank 4 with at least two non-batch dimensions above 1.
func spatial(shape []int) bool {
	if len(shape) != 4 {
		return false
	}
	n := 0
	for _, d := range shape[1:] {
		if d > 1 {
			n++
		}
	}
	return n >= 2
}
