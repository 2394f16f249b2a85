package bufpool

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestGetReusesAcrossGoroutines(t *testing.T) {
	var p Pool
	b := p.Get(100)
	if len(*b) != 100 {
		t.Fatalf("len %d, want 100", len(*b))
	}
	(*b)[0] = 42
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.Put(b)
	}()
	wg.Wait()
	c := p.Get(80)
	if c != b || len(*c) != 80 || (*c)[0] != 42 {
		t.Errorf("Get(80) after Put of a 100-float buffer made a new one (len %d)", len(*c))
	}
}

func TestBestFitAndExact(t *testing.T) {
	for _, tc := range []struct {
		exact bool
		caps  []int
		n     int
		want  int // cap of the buffer Get returns; 0: a new one; -1: a new one replacing the largest
	}{
		{false, []int{300, 100, 200}, 150, 200},
		{false, []int{300, 100, 200}, 100, 100},
		{false, []int{100}, 101, -1},
		{false, []int{100, 50}, 101, -1},
		{true, []int{300, 100, 200}, 150, 0},
		{true, []int{300, 100, 200}, 200, 200},
	} {
		p := Pool{Exact: tc.exact}
		held := map[*[]float32]bool{}
		for _, c := range tc.caps {
			b := make([]float32, c)
			held[&b] = true
			p.Put(&b)
		}
		got := p.Get(tc.n)
		switch {
		case len(*got) != tc.n:
			t.Errorf("%+v: len %d", tc, len(*got))
		case tc.want <= 0 && held[got]:
			t.Errorf("%+v: got a held buffer of cap %d, want a new one", tc, cap(*got))
		case tc.want > 0 && (!held[got] || cap(*got) != tc.want):
			t.Errorf("%+v: got cap %d (held %v), want a held one of cap %d", tc, cap(*got), held[got], tc.want)
		}
		if l := p.Len(); tc.want != 0 && l != len(tc.caps)-1 || tc.want == 0 && l != len(tc.caps) {
			// A hit or a replacement leaves one buffer fewer.
			t.Errorf("%+v: pool holds %d after Get", tc, l)
		}
	}
}

// TestCollectionsDropIdleBuffers checks that a buffer left idle over two
// collections is dropped and that one taken between them stays.
func TestCollectionsDropIdleBuffers(t *testing.T) {
	defer func(d time.Duration) { minAge = d }(minAge)
	minAge = 0
	var p Pool
	a, b := p.Get(1000), p.Get(2000)
	p.Put(a)
	p.Put(b)
	if p.Len() != 2 {
		t.Fatalf("pool holds %d, want 2", p.Len())
	}
	// gc runs collections until the pool has been told of one (cleanups
	// run on their own goroutine after a cycle).
	gc := func() {
		seen := func() int {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.collections
		}
		n := seen()
		for i := 0; i < 1000 && seen() == n; i++ {
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
		if seen() == n {
			t.Fatal("no cleanup ran after 1000 collections")
		}
	}
	gc()
	if p.Len() != 2 {
		t.Fatalf("after one collection the pool holds %d, want 2 (kept as victims)", p.Len())
	}
	p.Put(p.Get(1000)) // in use again
	gc()
	if p.Len() != 1 {
		t.Fatalf("pool holds %d after collections, want the buffer in use only", p.Len())
	}
	gc()
	if p.Len() != 0 {
		t.Errorf("pool still holds %d idle buffers", p.Len())
	}
}

// TestFrequentCollectionsKeepBuffers checks that collections closer than
// minAge do not age the buffers.
func TestFrequentCollectionsKeepBuffers(t *testing.T) {
	defer func(d time.Duration) { minAge = d }(minAge)
	minAge = time.Hour
	var p Pool
	p.Put(p.Get(1000))
	p.mu.Lock()
	p.aged = time.Now()
	p.mu.Unlock()
	seen := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.collections
	}
	for i := 0; i < 1000 && seen() < 3; i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if seen() < 3 {
		t.Fatalf("the pool was told of %d collections, want 3", seen())
	}
	if p.Len() != 1 {
		t.Errorf("pool holds %d after collections within minAge, want 1", p.Len())
	}
}
