package server

import (
	"context"
	"sync/atomic"
)

// pool admits at most workers+queue requests at once and lets at most
// workers of them compute; the others wait for a worker. Admission never
// blocks: a full pool is refused at once, so that overload turns into
// 503s rather than a pile-up.
type pool struct {
	admitted chan struct{} // capacity workers+queue
	running  chan struct{} // capacity workers
	waiting  atomic.Int64  // admitted, not computing
	busy     atomic.Int64  // computing
}

func newPool(workers, queue int) *pool {
	return &pool{
		admitted: make(chan struct{}, workers+queue),
		running:  make(chan struct{}, workers),
	}
}

// ticket is an admitted request's place in the pool.
type ticket struct {
	p        *pool
	working  bool
	released bool
}

// admit takes a place in the pool, or returns nil when it is full. A
// ticket must be given back with done.
func (p *pool) admit() *ticket {
	select {
	case p.admitted <- struct{}{}:
		p.waiting.Add(1)
		return &ticket{p: p}
	default:
		return nil
	}
}

// work waits for a worker, until ctx is done.
func (t *ticket) work(ctx context.Context) error {
	select {
	case t.p.running <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	t.p.waiting.Add(-1)
	t.p.busy.Add(1)
	t.working = true
	return nil
}

// done frees the worker, if the ticket has one, and the place. Calls
// after the first do nothing.
func (t *ticket) done() {
	if t.released {
		return
	}
	t.released = true
	if t.working {
		t.working = false
		t.p.busy.Add(-1)
		<-t.p.running
	} else {
		t.p.waiting.Add(-1)
	}
	<-t.p.admitted
}
