package certsource

import (
	"context"
	"runtime"
	stdsync "sync"
)

// onEveryCore calls a worker's function with each of 0..n-1, on one worker a
// core, batch indexes at a time (fewer hand-offs between goroutines for small
// pieces of work). Each worker gets its function from newWorker, so it can keep
// scratch space of its own. Once ctx is done no more indexes are handed out;
// the caller checks ctx.Err().
func onEveryCore(ctx context.Context, n, batch int, newWorker func() func(i int)) {
	next := make(chan int, runtime.GOMAXPROCS(0))
	var wg stdsync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
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
