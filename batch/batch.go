// Package batch runs a model over many images: it collects the inputs (files,
// directories walked recursively, standard input), spreads the work over
// worker goroutines, reports progress, skips what is already done, survives
// bad images, and writes every output file atomically, so that a stopped or
// failed run never leaves a half-written file.
//
// Collect turns command-line arguments into Items; Run processes them with
// any function and hands the results back in input order; Explainer and
// Predictor are the functions the gradcam command runs: they read an item,
// classify or explain it, and write the pictures and records.
package batch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Stdin is the argument that names standard input.
const Stdin = "-"

// Item is one input of a batch.
type Item struct {
	// Path is the file to read, or Stdin.
	Path string
	// Name identifies the item in messages and records: the path as the
	// user gave it or as found under a directory, or "stdin".
	Name string
	// Stem is where the item's outputs go, relative to the output
	// directory and without extension: the file's path below the
	// directory it was found in (its base name for files named
	// directly), minus the extension. Stems are unique within a batch.
	Stem string
	// Tensor marks a NumPy .npy file holding a ready model input instead
	// of a photo.
	Tensor bool
}

// ImageExts are the file extensions Collect takes from a directory when no
// glob is given.
var ImageExts = []string{".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"}

// CollectOptions controls Collect.
type CollectOptions struct {
	// Glob selects the files taken from directories, matched (path.Match
	// syntax) against the base name, or against the path below the
	// directory when the pattern has a slash. Empty means the files whose
	// extension is one of ImageExts. Files named directly are always
	// taken.
	Glob string
	// Exclude lists directories not to descend into (typically the output
	// directory, when it lies inside an input directory).
	Exclude []string
}

// Collect turns arguments (files, directories, or Stdin) into items, in
// argument order and, within a directory, in lexical order. Directories
// are walked recursively; hidden files and directories (names starting
// with a dot) are passed over. A file that does not exist is still
// returned, to fail by name when it is read. Stdin may appear once.
func Collect(args []string, o CollectOptions) ([]Item, error) {
	if o.Glob != "" {
		if _, err := path.Match(o.Glob, ""); err != nil {
			return nil, fmt.Errorf("bad glob %q: %w", o.Glob, err)
		}
	}
	excl := make(map[string]bool)
	for _, d := range o.Exclude {
		if a, err := filepath.Abs(d); err == nil {
			excl[a] = true
		}
	}
	var items []Item
	stdin := false
	for _, arg := range args {
		if arg == Stdin {
			if stdin {
				return nil, errors.New("standard input (-) given twice")
			}
			stdin = true
			items = append(items, Item{Path: Stdin, Name: "stdin", Stem: "stdin"})
			continue
		}
		st, err := os.Stat(arg)
		if err != nil || !st.IsDir() {
			items = append(items, Item{Path: arg, Name: arg, Stem: trimExt(filepath.Base(arg))})
			continue
		}
		n := len(items)
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != arg && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if a, err := filepath.Abs(p); err == nil && excl[a] && p != arg {
					return filepath.SkipDir
				}
				return nil
			}
			rel, err := filepath.Rel(arg, p)
			if err != nil {
				return err
			}
			if !selected(filepath.ToSlash(rel), o.Glob) {
				return nil
			}
			items = append(items, Item{Path: p, Name: p, Stem: trimExt(rel)})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walking %s: %w", arg, err)
		}
		if len(items) == n {
			what := "no image files"
			if o.Glob != "" {
				what = fmt.Sprintf("no files matching %q", o.Glob)
			}
			return nil, fmt.Errorf("%s: %s", arg, what)
		}
	}
	uniqueStems(items)
	return items, nil
}

// selected reports whether a file found under a directory, at the
// slash-separated relative path rel, is taken.
func selected(rel, glob string) bool {
	if glob == "" {
		return slices.Contains(ImageExts, strings.ToLower(path.Ext(rel)))
	}
	name := path.Base(rel)
	if strings.Contains(glob, "/") {
		name = rel
	}
	ok, _ := path.Match(glob, name)
	return ok
}

func trimExt(p string) string {
	if e := filepath.Ext(p); e != "" && e != p {
		return p[:len(p)-len(e)]
	}
	return p
}

// uniqueStems makes the stems distinct: a clash (a.png and a.jpg, or two
// files of the same name from different places) keeps the extension in
// the stem, then numbers what still clashes.
func uniqueStems(items []Item) {
	count := make(map[string]int)
	for _, it := range items {
		count[it.Stem]++
	}
	for i := range items {
		it := &items[i]
		if count[it.Stem] > 1 && it.Path != Stdin {
			if e := filepath.Ext(it.Path); e != "" {
				it.Stem += "_" + strings.ToLower(e[1:])
			}
		}
	}
	seen := make(map[string]int)
	for i := range items {
		s := items[i].Stem
		seen[s]++
		if k := seen[s]; k > 1 {
			items[i].Stem = fmt.Sprintf("%s_%d", s, k)
		}
	}
}

// ReadItem returns the bytes of an item: the file's, or all of stdin's for
// Stdin.
func ReadItem(it Item, stdin io.Reader) ([]byte, error) {
	if it.Path == Stdin {
		if stdin == nil {
			return nil, errors.New("no standard input")
		}
		return io.ReadAll(stdin)
	}
	return os.ReadFile(it.Path)
}

// WriteFile writes a file atomically: write fills a temporary file in the
// same directory (created with its parents if needed), which is renamed
// to path once complete and closed. On any error the temporary file is
// removed and path is left as it was.
func WriteFile(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<16)
	if err := write(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// DefaultJobs is the number of images processed at once when
// Options.Jobs is 0: one per two CPUs, at least one. One explanation
// already spreads its matrix products over every CPU, and measured on two
// cores a second concurrent image brings little (see the README).
func DefaultJobs() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// Options controls Run.
type Options struct {
	// Jobs is the number of items processed at once; 0 means
	// DefaultJobs.
	Jobs int
	// Progress receives progress reports; nil means none.
	Progress io.Writer
	// Terminal draws a progress bar redrawn in place on Progress (which
	// should then be a terminal) instead of one line per item.
	Terminal bool
	// Errors receives one line per failed item, "<Prefix><name>: <error>",
	// even when Progress is nil; nil means nowhere.
	Errors io.Writer
	// Prefix starts every line written to Progress and Errors (e.g. the
	// program's name and a colon).
	Prefix string
	// Skip, when set, is asked about each item before it is run; items it
	// approves are counted as skipped (e.g. outputs that exist, for a
	// resumed run).
	Skip func(Item) bool
}

// Failure is an item that failed.
type Failure struct {
	Item Item
	Err  error
}

// Summary counts what Run did.
type Summary struct {
	Total    int // items given
	Done     int // processed without error
	Failed   int // processed with an error
	Skipped  int // left out by Options.Skip
	Canceled int // not processed because the context ended
	Failures []Failure
	Elapsed  time.Duration
}

// Rate is the number of items processed (done or failed) per second.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Done+s.Failed) / s.Elapsed.Seconds()
}

// String gives the summary in one line: "12 images: 11 done, 1 failed,
// 0 skipped in 4.2 s (2.9 images/s)".
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s: %d done, %d failed, %d skipped", s.Total, plural(s.Total, "image"), s.Done, s.Failed, s.Skipped)
	if s.Canceled > 0 {
		fmt.Fprintf(&b, ", %d not run (interrupted)", s.Canceled)
	}
	fmt.Fprintf(&b, " in %.1f s (%.2f images/s)", s.Elapsed.Seconds(), s.Rate())
	return b.String()
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// ErrorLine formats an item's error as "<name>: <message>" on one line,
// without repeating the name when the message already starts with it.
func ErrorLine(it Item, err error) string {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	if strings.HasPrefix(msg, it.Name+":") {
		return msg
	}
	return it.Name + ": " + msg
}

// result is one finished item.
type result[T any] struct {
	i   int
	v   T
	err error
	dt  time.Duration
}

// Run processes items with work, on Options.Jobs goroutines at once, and
// calls emit for each processed item (not for skipped ones) in input
// order, from the calling goroutine. A failing item is reported and the
// others go on. When ctx ends, no new item starts; the summary counts the
// items not started as canceled.
func Run[T any](ctx context.Context, items []Item, o Options, work func(context.Context, Item) (T, error), emit func(Item, T, error)) Summary {
	start := time.Now()
	s := Summary{Total: len(items)}
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = DefaultJobs()
	}
	p := &progress{o: o, total: len(items), start: start}
	todo := make([]int, 0, len(items))
	skipped := make([]bool, len(items))
	for i, it := range items {
		if o.Skip != nil && o.Skip(it) {
			skipped[i] = true
			s.Skipped++
			p.skip(it)
			continue
		}
		todo = append(todo, i)
	}
	next := make(chan int)
	results := make(chan result[T])
	var wg sync.WaitGroup
	for range min(jobs, max(1, len(todo))) {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				v, err := work(ctx, items[i])
				results <- result[T]{i, v, err, time.Since(t0)}
			}
		})
	}
	go func() {
		defer close(next)
		for _, i := range todo {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	pending := make(map[int]result[T])
	ord := 0 // index into todo of the next item to emit
	for r := range results {
		pending[r.i] = r
		for ord < len(todo) {
			r, ok := pending[todo[ord]]
			if !ok {
				break
			}
			delete(pending, todo[ord])
			ord++
			it := items[r.i]
			if r.err != nil {
				s.Failed++
				s.Failures = append(s.Failures, Failure{it, r.err})
			} else {
				s.Done++
			}
			p.finish(it, r.err, r.dt, func() {
				if emit != nil {
					emit(it, r.v, r.err)
				}
			})
		}
	}
	s.Canceled = len(todo) - ord
	s.Elapsed = time.Since(start)
	p.close()
	return s
}

// progress reports a batch's advance.
type progress struct {
	o      Options
	total  int
	n      int // items finished or skipped
	failed int
	start  time.Time
	drawn  bool // a bar is on screen
}

func (p *progress) skip(it Item) {
	p.n++
	if p.o.Progress != nil && !p.o.Terminal {
		fmt.Fprintf(p.o.Progress, "%s[%d/%d] %s: skipped, outputs exist\n", p.o.Prefix, p.n, p.total, it.Name)
	}
}

// finish reports an item and runs emit with the bar cleared.
func (p *progress) finish(it Item, err error, dt time.Duration, emit func()) {
	p.n++
	if err != nil {
		p.failed++
	}
	p.clear()
	if err != nil && p.o.Errors != nil {
		fmt.Fprintf(p.o.Errors, "%s%s\n", p.o.Prefix, ErrorLine(it, err))
	}
	emit()
	if p.o.Progress == nil {
		return
	}
	if p.o.Terminal {
		p.bar(it)
		return
	}
	if err != nil {
		// The error line said it.
		return
	}
	fmt.Fprintf(p.o.Progress, "%s[%d/%d] %s: ok in %.2f s\n", p.o.Prefix, p.n, p.total, it.Name, dt.Seconds())
}

// bar draws "[#####.....] 5/14, 1 failed, 2.1 images/s, 4 s left  name".
func (p *progress) bar(it Item) {
	const width = 24
	fill := 0
	if p.total > 0 {
		fill = p.n * width / p.total
	}
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.n) / el
	}
	line := fmt.Sprintf("%s[%s%s] %d/%d", p.o.Prefix, strings.Repeat("#", fill), strings.Repeat(".", width-fill), p.n, p.total)
	if p.failed > 0 {
		line += fmt.Sprintf(", %d failed", p.failed)
	}
	line += fmt.Sprintf(", %.1f images/s", rate)
	if rate > 0 && p.n < p.total {
		line += fmt.Sprintf(", %.0f s left", float64(p.total-p.n)/rate)
	}
	name := it.Name
	if r := []rune(name); len(r) > 30 {
		name = "…" + string(r[len(r)-29:])
	}
	fmt.Fprintf(p.o.Progress, "\r\x1b[K%s  %s", line, name)
	p.drawn = true
}

// clear erases the bar so that other lines can be written.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.o.Progress, "\r\x1b[K")
		p.drawn = false
	}
}

func (p *progress) close() { p.clear() }
