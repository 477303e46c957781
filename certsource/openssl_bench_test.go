package certsource

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/certgal/certgal/certsource/catest"
)

// BenchmarkOpenSSLRead measures what the OpenSSL source keeps and makes: a
// store of CERTGAL_BENCH_FILES certificate files (default 20,000), read by
// ReadUnparsed as a daemon's pass reads it, every file known from the last
// read. "full" is a read that must stat every file and parse index.txt (a
// changed store, or fullCheckEvery passed), "quick" one that finds the store
// unchanged. Besides B/op, each reports the heap the source keeps between
// reads (kept-B/file) and what a snapshot holds while a pass uses it
// (snapshot-B/file). Run with -benchtime 10x; docs/BENCHMARKS.md, "The
// OpenSSL source's memory, issue 17".
func BenchmarkOpenSSLRead(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("CERTGAL_BENCH_FILES")); err == nil && v > 0 {
		n = v
	}
	ca := catest.New(b, "Corp S/MIME CA")
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%d@corp.example", i)
	}
	now := time.Now()
	ca.IssueMany(b, emails, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	for _, mode := range []struct {
		name  string
		every time.Duration
	}{{"full", 0}, {"quick", time.Hour}} {
		b.Run(mode.name, func(b *testing.B) {
			before := heapAfterGC()
			src, _ := newOpenSSL(b, ca)
			src.fullCheckEvery = mode.every
			read := func() *Snapshot {
				snap, err := src.ReadUnparsed(context.Background(), func(der []byte, _ [32]byte) (string, error) { return serialOf(der) })
				if err != nil || len(snap.Certificates) != n {
					b.Fatalf("read: %v", err)
				}
				return snap
			}
			read()
			kept := heapAfterGC()
			snap := read()
			held := heapAfterGC()
			runtime.KeepAlive(snap)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				read()
			}
			b.StopTimer()
			b.ReportMetric(float64(kept-before)/float64(n), "kept-B/file")
			b.ReportMetric(float64(held-kept)/float64(n), "snapshot-B/file")
			runtime.KeepAlive(src)
		})
	}
}

// heapAfterGC is the live heap, after a collection.
func heapAfterGC() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
