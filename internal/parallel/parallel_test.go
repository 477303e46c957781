package parallel

import (
	"context"
	"sync/atomic"
	"testing"
)

func TestForCallsEveryIndexOnce(t *testing.T) {
	for _, o := range []Options{
		{},
		{Workers: 1},
		{Workers: 3, Batch: 7},
		{Batch: 1000},
		{Serial: 1 << 20},
	} {
		const n = 1001
		var calls [n]atomic.Int32
		var workers atomic.Int32
		For(context.Background(), n, o, func() func(int) {
			workers.Add(1)
			return func(i int) { calls[i].Add(1) }
		})
		for i := range calls {
			if got := calls[i].Load(); got != 1 {
				t.Fatalf("%+v: index %d called %d times", o, i, got)
			}
		}
		if o.Workers > 0 && int(workers.Load()) > o.Workers {
			t.Errorf("%+v: %d workers", o, workers.Load())
		}
	}
}

func TestForStopsHandingOutWorkWhenCancelled(t *testing.T) {
	for _, o := range []Options{{Workers: 2}, {Workers: 1}} {
		ctx, cancel := context.WithCancel(context.Background())
		var done atomic.Int32
		Each(ctx, 100000, o, func(i int) {
			if done.Add(1) == 10 {
				cancel()
			}
		})
		if got := done.Load(); got >= 100000 || got < 10 {
			t.Errorf("%+v: %d indexes done after cancelling at the 10th", o, got)
		}
	}
}

func TestForWithNoWork(t *testing.T) {
	Each(context.Background(), 0, Options{}, func(int) { t.Fatal("called") })
}
