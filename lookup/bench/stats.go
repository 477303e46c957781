package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"runtime/metrics"
	"slices"
	"sync"
	"time"
)

// runtimeSample is what `bench serve` reports about a phase of the benchmark: the counters and
// histograms of the Go runtime that say whether a tail comes from the garbage collector or
// from goroutines waiting for a thread.
type runtimeSample struct {
	samples []metrics.Sample
}

// The metrics read, in the order of runtimeMetrics.
const (
	mGCCycles = iota
	mGCCPU
	mAllocs
	mHeapLive
	mHeapGoal
	mHeapObjects
	mMapped
	mGoroutines
	mPauses
	mSchedLatencies
)

var runtimeMetrics = []string{
	mGCCycles:       "/gc/cycles/total:gc-cycles",
	mGCCPU:          "/cpu/classes/gc/total:cpu-seconds",
	mAllocs:         "/gc/heap/allocs:bytes",
	mHeapLive:       "/gc/heap/live:bytes",
	mHeapGoal:       "/gc/heap/goal:bytes",
	mHeapObjects:    "/memory/classes/heap/objects:bytes",
	mMapped:         "/memory/classes/total:bytes",
	mGoroutines:     "/sched/goroutines:goroutines",
	mPauses:         "/sched/pauses/total/gc:seconds",
	mSchedLatencies: "/sched/latencies:seconds",
}

func readRuntime() runtimeSample {
	s := make([]metrics.Sample, len(runtimeMetrics))
	for i, name := range runtimeMetrics {
		s[i].Name = name
	}
	// A fresh slice each time: Read may reuse the histograms of the samples it is given.
	metrics.Read(s)
	return runtimeSample{samples: s}
}

func (r runtimeSample) u(i int) uint64  { return r.samples[i].Value.Uint64() }
func (r runtimeSample) f(i int) float64 { return r.samples[i].Value.Float64() }
func (r runtimeSample) h(i int) *metrics.Float64Histogram {
	return r.samples[i].Value.Float64Histogram()
}

// since formats what happened between before and r on one line of key=value pairs, for
// bench.sh to print beside the round it belongs to: counters and histograms as differences,
// gauges as they are now.
func (r runtimeSample) since(before runtimeSample) string {
	const mib = 1 << 20
	goal := r.u(mHeapGoal)
	if goal >= 1<<60 {
		goal = 0 // GOGC=off: no goal
	}
	stw := quantiles(r.h(mPauses), before.h(mPauses), 0.99, 1)
	sched := quantiles(r.h(mSchedLatencies), before.h(mSchedLatencies), 0.5, 0.9, 0.99, 0.999)
	return fmt.Sprintf("gc=%d gc_cpu_ms=%.0f alloc_mib=%.1f heap_live_mib=%.1f heap_goal_mib=%.1f"+
		" heap_objects_mib=%.1f mapped_mib=%.1f goroutines=%d stw_p99_us=%s stw_max_us=%s"+
		" sched_waits=%d sched_p50_us=%s sched_p90_us=%s sched_p99_us=%s sched_p999_us=%s",
		r.u(mGCCycles)-before.u(mGCCycles), (r.f(mGCCPU)-before.f(mGCCPU))*1e3,
		float64(r.u(mAllocs)-before.u(mAllocs))/mib, float64(r.u(mHeapLive))/mib, float64(goal)/mib,
		float64(r.u(mHeapObjects))/mib, float64(r.u(mMapped))/mib, r.u(mGoroutines),
		stw.at[0], stw.at[1], sched.total, sched.at[0], sched.at[1], sched.at[2], sched.at[3])
}

type quantileSet struct {
	total uint64
	at    []string // upper bounds of the buckets that hold the quantiles, in µs
}

// quantiles of the observations in h that were not yet in before (same buckets), each given as
// the upper bound of its bucket: the runtime keeps histograms, not observations.
func quantiles(h, before *metrics.Float64Histogram, qs ...float64) quantileSet {
	counts := slices.Clone(h.Counts)
	var total uint64
	for i := range counts {
		counts[i] -= before.Counts[i]
		total += counts[i]
	}
	out := quantileSet{total: total}
	for _, q := range qs {
		v := "-"
		if total > 0 {
			want := min(uint64(math.Ceil(q*float64(total))), total)
			var seen uint64
			for i, c := range counts {
				if seen += c; seen >= want {
					v = fmt.Sprintf("%.0f", h.Buckets[i+1]*1e6)
					if math.IsInf(h.Buckets[i+1], 1) {
						v = fmt.Sprintf(">%.0f", h.Buckets[i]*1e6)
					}
					break
				}
			}
		}
		out.at = append(out.at, v)
	}
	return out
}

// statsServer answers GET /stats with the runtime's figures since the previous GET /stats (or
// since serving began), so that bench.sh can read them per phase of the benchmark without
// restarting the server. It listens on its own address, apart from the lookup being measured.
func statsServer(ctx context.Context, listen string) error {
	var mu sync.Mutex
	last := readRuntime()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		now := readRuntime()
		fmt.Fprintln(w, now.since(last))
		last = now
	})
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return fmt.Errorf("stats listener %s: %w", listen, err)
	}
	return nil
}
