// Package bufpool recycles float32 buffers between the runs of a model.
//
// A Pool is a free list guarded by a mutex. Unlike a sync.Pool it finds a
// buffer put back by any goroutine on any thread: a sync.Pool keeps one
// buffer a processor where other processors cannot take it, so a run whose
// goroutine moved between threads (as the engine's do when they wait for
// helpers) missed it and allocated anew, about 1.5 MiB a ResNet50 forward,
// garbage that raised the process's peak memory by a few dozen MiB over a
// benchmark's runs. Like a sync.Pool, a Pool hands its idle buffers back
// to the garbage collector: a buffer not taken between two collections
// (at least minAge apart) is dropped.
package bufpool

import (
	"runtime"
	"sync"
	"time"
	"weak"
)

// Pool is a free list of float32 buffers. The zero value is ready to use;
// a Pool must not be copied after first use.
type Pool struct {
	// Exact makes Get return only buffers of exactly the asked length
	// (a plan's buffers, whose sizes recur); otherwise it returns the
	// smallest buffer at least that long, resliced.
	Exact bool

	mu     sync.Mutex
	free   []*[]float32 // put since the last collection
	victim []*[]float32 // put before it and not taken since
	armed  bool
	// collections counts the collections the pool was told of (tests).
	collections int
	aged        time.Time // when free last became victim
}

// minAge is the least time between two agings of a pool's buffers: a
// buffer is dropped when it stays idle over two collections at least
// minAge apart. With a collection every few milliseconds (a small heap
// and a low GOGC), aging at each one dropped buffers between the runs
// that take them: MobileNetV2 with GOGC=10 ran 655 collections in 105
// forwards, at a third of its speed. A variable for the tests.
var minAge = 500 * time.Millisecond

// Get returns a buffer of n floats with arbitrary contents; give it back
// with Put when done.
func (p *Pool) Get(n int) *[]float32 {
	p.mu.Lock()
	b := p.take(&p.free, n)
	if b == nil {
		b = p.take(&p.victim, n)
	}
	if b == nil && !p.Exact {
		// Replace the largest buffer too small for n by the new one,
		// so that the pool holds no more buffers than were in use at
		// once and grows them to the largest length asked.
		p.dropLargest(&p.free)
	}
	p.mu.Unlock()
	if b == nil {
		s := make([]float32, n)
		return &s
	}
	*b = (*b)[:n]
	return b
}

// take removes from *list and returns the best buffer for n floats, or nil.
func (p *Pool) take(list *[]*[]float32, n int) *[]float32 {
	best := -1
	for i, b := range *list {
		c := cap(*b)
		if c < n || p.Exact && c != n {
			continue
		}
		if best < 0 || c < cap(*(*list)[best]) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	l := *list
	b := l[best]
	l[best] = l[len(l)-1]
	l[len(l)-1] = nil
	*list = l[:len(l)-1]
	return b
}

// dropLargest removes the longest buffer from *list, if any.
func (p *Pool) dropLargest(list *[]*[]float32) {
	l := *list
	if len(l) == 0 {
		return
	}
	big := 0
	for i, b := range l {
		if cap(*b) > cap(*l[big]) {
			big = i
		}
	}
	l[big] = l[len(l)-1]
	l[len(l)-1] = nil
	*list = l[:len(l)-1]
}

// Put gives b back to the pool. b must not be used afterwards.
func (p *Pool) Put(b *[]float32) {
	if b == nil || cap(*b) == 0 {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, b)
	if !p.armed {
		p.armed = true
		arm(weak.Make(p))
	}
	p.mu.Unlock()
}

// Len returns the number of buffers the pool holds.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free) + len(p.victim)
}

// sentinel is an object made only to be collected: its cleanup tells a
// pool that a collection happened.
type sentinel struct{ _ *int }

// arm has the next garbage collection call collected on the pool w points
// to, if it still exists. The weak pointer lets a pool nobody uses any
// more be collected itself.
func arm(w weak.Pointer[Pool]) {
	runtime.AddCleanup(&sentinel{}, collected, w)
}

// collected drops the buffers that stayed idle since the previous
// collection and re-arms while the pool holds any.
func collected(w weak.Pointer[Pool]) {
	p := w.Value()
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.collections++
	now := time.Now()
	if now.Sub(p.aged) < minAge {
		// Too soon: a program collecting often would drop buffers it
		// takes on every run, and make them anew.
		arm(w)
		return
	}
	p.aged = now
	old := p.victim
	clear(old)
	p.victim, p.free = p.free, old[:0]
	if len(p.victim) == 0 {
		p.armed = false
		return
	}
	arm(w)
}
