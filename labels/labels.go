// Package labels names the classes of image classifiers: the ImageNet-1k
// names built in, or a list read from a file or from a model's metadata.
package labels

//go:generate go run gen.go ../../shared/models/imagenet_classes.txt

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// List names the classes of a model, by class index.
type List []string

// ImageNet returns the 1000 ImageNet-1k class names, each with its
// synonyms ("tabby, tabby cat").
func ImageNet() List { return List(imagenet[:]) }

// Name returns the full name of class i, or "class i" when the list does not
// have it.
func (l List) Name(i int) string {
	if i >= 0 && i < len(l) {
		return l[i]
	}
	return fmt.Sprintf("class %d", i)
}

// Short returns the first synonym of class i's name ("tabby" for "tabby,
// tabby cat").
func (l List) Short(i int) string {
	n := l.Name(i)
	if s, _, ok := strings.Cut(n, ","); ok {
		return strings.TrimSpace(s)
	}
	return n
}

// Find returns the index of the class whose name or one of whose synonyms
// equals name (case-insensitively), or -1.
func (l List) Find(name string) int {
	name = strings.TrimSpace(name)
	for i, full := range l {
		for _, syn := range strings.Split(full, ",") {
			if strings.EqualFold(strings.TrimSpace(syn), name) {
				return i
			}
		}
	}
	return -1
}

// Read reads one class name per line. Blank lines at the end are dropped;
// a blank line in the middle is an error, since it would shift every index
// after it.
func Read(r io.Reader) (List, error) {
	var l List
	sc := bufio.NewScanner(r)
	blank := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			blank++
			continue
		}
		if blank > 0 {
			return nil, fmt.Errorf("labels: blank line before line %d", len(l)+blank+1)
		}
		l = append(l, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	if len(l) == 0 {
		return nil, fmt.Errorf("labels: no class names")
	}
	return l, nil
}

// ReadFile reads a label file, one class name per line.
func ReadFile(path string) (List, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// ForClasses returns the built-in ImageNet names when n is 1000 (or 1001,
// with a leading background class), and nil otherwise.
func ForClasses(n int) List {
	switch n {
	case 1000:
		return ImageNet()
	case 1001:
		return append(List{"background"}, imagenet[:]...)
	}
	return nil
}
