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

// alignedParts cuts m rows into at most threads parts whose boundaries are
// multiples of al (the height of packed slivers), as even as such
// boundaries allow: boundary i is i*m/parts rounded to the nearest
// multiple of al. Rounding each share up instead leaves the last thread
// short: 256 rows in slivers of 14 went 140 + 116, now 126 + 130. It
// returns the number of parts and the rows of part i as bounds(i).
func alignedParts(m, threads, al int) (parts int, bounds func(i int) (lo, hi int)) {
	parts = max(1, min(threads, (m+al-1)/al))
	cut := func(i int) int {
		if i >= parts {
			return m
		}
		return min(m, (2*i*m+parts*al)/(2*parts*al)*al)
	}
	return parts, func(i int) (int, int) { return cut(i), cut(i + 1) }
}
