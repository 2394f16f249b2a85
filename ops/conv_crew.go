package ops

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The convolution and pooling kernels split their work over a crew of
// goroutines that stay awake for a while between operations. A forward
// pass is a few hundred parallel sections, most well under a millisecond;
// waking a parked thread for each (what starting goroutines amounts to)
// costs about 0.1 ms on the virtual machines measured, as much as the
// sections themselves, so that two threads ran MobileNetV2 no faster than
// one. The crew's workers spin (yielding) for crewSpin after their last
// job before they park, which is what keeps them warm from one section to
// the next; the caller always works on its own job too and can finish it
// alone, so a busy or absent crew only costs speed.

// crewSpin is how long an idle worker keeps looking for work before it
// parks. On a quiet machine 100 us and 300 us ran ResNet50 and MobileNetV2
// at the same speed; with the other core busy, 100 us left MobileNetV2 at
// 14 ms where 300 us gave 17 ms (the spinning worker takes turns with the
// thread that has work).
const crewSpin = 100 * time.Microsecond

// crewJob is one parallel section: parts calls of fn, taken in turn.
type crewJob struct {
	fn      func(part int)
	parts   int32
	helpers atomic.Int32  // workers still allowed to join
	next    atomic.Int32  // next part to take
	left    atomic.Int32  // parts not finished
	done    chan struct{} // closed when left reaches 0
}

// run takes and runs parts until none is left.
func (j *crewJob) run() {
	for {
		i := j.next.Add(1) - 1
		if i >= j.parts {
			return
		}
		j.fn(int(i))
		if j.left.Add(-1) == 0 {
			close(j.done)
		}
	}
}

// crewWaitSpin is how long the caller of a section polls for the crew's
// last parts before it blocks: long enough for most parts, short enough
// not to take a core for long from a worker that shares it. A caller that
// blocks is woken by the worker that finishes last, and the Go scheduler
// then runs it on that worker's thread: the worker waits for another
// thread to wake, and joins the next section late. With 20 us, workers
// joined MobileNetV2's sections 3-5 us late on average (0.2-0.3 ms a run
// of 5.3); with 100 us the run took 1-2% less (medians of 300 runs, the
// settings alternated run by run in one process, three rounds).
const crewWaitSpin = 100 * time.Microsecond

type crewWorker struct {
	parked atomic.Bool
	wake   chan struct{}
}

type crewT struct {
	job     atomic.Pointer[crewJob]
	start   sync.Once
	workers []*crewWorker
}

var crew crewT

// startWorkers starts GOMAXPROCS-1 workers, once.
func (c *crewT) startWorkers() {
	c.start.Do(func() {
		n := runtime.GOMAXPROCS(0) - 1
		for range n {
			w := &crewWorker{wake: make(chan struct{}, 1)}
			c.workers = append(c.workers, w)
			go c.loop(w)
		}
	})
}

func (c *crewT) loop(w *crewWorker) {
	var seen *crewJob
	idle := time.Now()
	for i := 0; ; i++ {
		if j := c.job.Load(); j != nil && j != seen {
			seen = j
			if j.helpers.Add(-1) >= 0 {
				j.run()
			}
			idle = time.Now()
			continue
		}
		if i%64 != 0 || time.Since(idle) < crewSpin {
			runtime.Gosched()
			continue
		}
		// Park, unless a job came in meanwhile.
		w.parked.Store(true)
		if j := c.job.Load(); j != nil && j != seen {
			w.parked.Store(false)
			continue
		}
		<-w.wake
		w.parked.Store(false)
		idle = time.Now()
	}
}

// do runs fn(0), ..., fn(parts-1) on the calling goroutine and up to
// helpers crew workers, returning when all have finished.
func (c *crewT) do(parts, helpers int, fn func(part int)) {
	if parts <= 0 {
		return
	}
	if parts == 1 || helpers <= 0 {
		for i := range parts {
			fn(i)
		}
		return
	}
	c.startWorkers()
	j := &crewJob{fn: fn, parts: int32(parts), done: make(chan struct{})}
	j.helpers.Store(int32(helpers))
	j.left.Store(int32(parts))
	c.job.Store(j)
	for _, w := range c.workers {
		if w.parked.Load() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
	j.run()
	if j.left.Load() > 0 {
		t0 := time.Now()
		for i := 0; j.left.Load() > 0; i++ {
			if i%16 == 15 && time.Since(t0) > crewWaitSpin {
				<-j.done
				break
			}
		}
	}
	c.job.CompareAndSwap(j, nil)
}

// crewFor is parallelFor on the crew: it splits [0, n) into at most the
// context's thread count contiguous chunks of at least grain and runs fn
// on each.
func crewFor(ctx *Ctx, n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	t := ctx.threadCount()
	grain = max(grain, 1)
	t = min(t, (n+grain-1)/grain)
	if t <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + t - 1) / t
	parts := (n + chunk - 1) / chunk
	crew.do(parts, t-1, func(p int) {
		lo := p * chunk
		fn(lo, min(lo+chunk, n))
	})
}

// crewTasks runs fn(i) for every i in [0, n) over the context's threads,
// each task taken in turn by whichever goroutine is free (tasks of
// unequal cost balance themselves).
func crewTasks(ctx *Ctx, n int, fn func(i int)) {
	crew.do(n, ctx.threadCount()-1, fn)
}

// counter returns a function that hands out 0, 1, 2, ... to concurrent
// callers, one number per call.
func counter() func() int {
	var n atomic.Int64
	return func() int { return int(n.Add(1) - 1) }
}
