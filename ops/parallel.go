package ops

import (
	"runtime"
	"sync"
)

// threadCount returns the most goroutines an op may use under c.
func (c *Ctx) threadCount() int {
	if c != nil && c.Threads > 0 {
		return c.Threads
	}
	return runtime.GOMAXPROCS(0)
}

// parallelFor splits [0, n) into at most ctx's thread count contiguous
// chunks and runs fn on each, concurrently when there is more than one.
// grain is the least work per chunk worth a goroutine.
func parallelFor(ctx *Ctx, n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	t := ctx.threadCount()
	if grain < 1 {
		grain = 1
	}
	t = min(t, (n+grain-1)/grain)
	if t <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + t - 1) / t
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
