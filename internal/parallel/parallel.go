// Package parallel is the one parallel-for of certgal: classifying
// certificates, planning users, building the lookup index and writing entries
// all hand out indexes to a fixed set of goroutines the same way.
package parallel

import (
	"context"
	"runtime"
	stdsync "sync"
)

// Options says how For shares out its work.
type Options struct {
	// Workers is the number of goroutines; 0 means one a core (GOMAXPROCS).
	Workers int
	// Batch is how many consecutive indexes a worker takes at a time (fewer
	// hand-offs for small pieces of work); 0 means 1.
	Batch int
	// Serial is the amount of work below which For runs every index in turn
	// on the caller's goroutine: starting workers costs more than it saves.
	Serial int
}

// For calls a worker's function with each index of 0..n-1. Each worker gets
// its function from newWorker, so it can keep scratch space of its own; the
// functions must only read what is shared and write what is theirs. Once ctx
// is done no more indexes are handed out and For returns when the workers
// have finished the ones they hold: the caller checks ctx.Err().
func For(ctx context.Context, n int, o Options, newWorker func() func(i int)) {
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	batch := max(o.Batch, 1)
	workers = min(workers, (n+batch-1)/batch)
	if workers <= 1 || n < o.Serial {
		f := newWorker()
		for i := 0; i < n && ctx.Err() == nil; i++ {
			f(i)
		}
		return
	}
	next := make(chan int, workers)
	var wg stdsync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := newWorker()
			for start := range next {
				for i := start; i < min(start+batch, n); i++ {
					f(i)
				}
			}
		}()
	}
feed:
	for start := 0; start < n; start += batch {
		select {
		case next <- start:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
}

// Each is For with one function shared by every worker.
func Each(ctx context.Context, n int, o Options, f func(i int)) {
	For(ctx, n, o, func() func(int) { return f })
}
