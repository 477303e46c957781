package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"
)

// targets writes vegeta's targets (its "http" format, one GET a line) for count addresses drawn
// at random out of n, uniformly as bench.lua draws them. The seed is fixed so that every server
// is asked for the same addresses in the same order.
func targets(args []string) error {
	fs := flag.NewFlagSet("targets", flag.ExitOnError)
	n := fs.Int("n", 100000, "addresses in the world (user000001 ... user<n>)")
	count := fs.Int("count", 100000, "targets to write")
	base := fs.String("base", "http://127.0.0.1:18080", "scheme, host and port of the server")
	seed := fs.Uint64("seed", 17, "random seed")
	fs.Parse(args)
	if *n < 1 {
		return fmt.Errorf("targets: -n must be at least 1")
	}
	r := rand.New(rand.NewPCG(*seed, 0))
	w := bufio.NewWriter(os.Stdout)
	for range *count {
		fmt.Fprintf(w, "GET %s/certs/%s\n", *base, Address(r.IntN(*n)+1))
	}
	return w.Flush()
}

// vegetaResult is the part of a line of `vegeta encode --to json` that summarize reads.
type vegetaResult struct {
	Code      int           `json:"code"`
	Timestamp time.Time     `json:"timestamp"`
	Latency   time.Duration `json:"latency"`
	Error     string        `json:"error"`
}

// summarize reads vegeta's results as JSON lines (`vegeta encode --to json`) on stdin and prints
// one RESULT line for bench.sh: the rate actually sent, the share of 200 answers, the 429s, the
// errors, and latency quantiles computed from every request (vegeta's own report stops at p99).
func summarize(args []string) error {
	fs := flag.NewFlagSet("summarize", flag.ExitOnError)
	fs.Parse(args)
	var (
		lats                  []time.Duration
		ok, s429, other, errs int
		first, last           time.Time
	)
	dec := json.NewDecoder(bufio.NewReaderSize(os.Stdin, 1<<20))
	for {
		var r vegetaResult
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("summarize: read vegeta's results: %w", err)
		}
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		if r.Timestamp.After(last) {
			last = r.Timestamp
		}
		lats = append(lats, r.Latency)
		switch {
		case r.Error != "" && r.Code == 0:
			errs++
		case r.Code == 200:
			ok++
		case r.Code == 429:
			s429++
		default:
			other++
		}
	}
	if len(lats) == 0 {
		return fmt.Errorf("summarize: no results")
	}
	slices.Sort(lats)
	q := func(p float64) int64 {
		i := min(int(p*float64(len(lats))), len(lats)-1)
		return lats[i].Microseconds()
	}
	rate := 0.0
	if d := last.Sub(first).Seconds(); d > 0 {
		rate = float64(len(lats)-1) / d
	}
	fmt.Printf("RESULT requests=%d rate=%.0f success=%.4f s429=%d other_status=%d errors=%d"+
		" p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d\n",
		len(lats), rate, float64(ok)/float64(len(lats)), s429, other, errs,
		q(0.5), q(0.9), q(0.99), q(0.999), lats[len(lats)-1].Microseconds())
	return nil
}
