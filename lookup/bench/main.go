// Command bench is the certgal side of `make bench-lookup` (see bench.sh): it generates the
// certificates both servers serve, and serves them from a lookup index.
//
//	bench gen -n 100000 -dir DIR     # DIR/ca.pem, DIR/www/certs/user000001@bench.example, ...
//	bench serve -dir DIR -listen 127.0.0.1:18080 -rate 1e9 -burst 1000000000 [-stats 127.0.0.1:18083]
//	bench bare -dir DIR -listen 127.0.0.1:18082   # reference: a bare net/http handler and a map
//	bench targets -n 100000 -count 100000 -base http://127.0.0.1:18080   # vegeta's targets
//	vegeta encode --to json RESULTS | bench summarize                     # one RESULT line
//	bench syscost                    # what a system call and a certificate's pread cost here
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/internal/parallel"
	"github.com/certgal/certgal/lookup"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench gen|serve|bare|targets|summarize|syscost [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "serve":
		err = serve(os.Args[2:])
	case "bare":
		err = bare(os.Args[2:])
	case "targets":
		err = targets(os.Args[2:])
	case "summarize":
		err = summarize(os.Args[2:])
	case "syscost":
		err = syscost(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Address is the i-th benchmark address; bench.lua builds the same.
func Address(i int) string { return fmt.Sprintf("user%06d@bench.example", i) }

// gen issues n S/MIME certificates, one per address, signed by a throwaway CA. They share
// one key pair: the benchmark serves bytes, and signing is what makes generation slow.
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	n := fs.Int("n", 100000, "certificates to generate")
	dir := fs.String("dir", "", "output directory")
	fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("gen: -dir is required")
	}
	certDir := filepath.Join(*dir, "www", "certs")
	if err := os.MkdirAll(certDir, 0o755); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bench S/MIME CA", Organization: []string{"Bench"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := os.WriteFile(filepath.Join(*dir, "ca.der"), caDER, 0o644); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	ski := sha1.Sum(spki)

	start := time.Now()
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	parallel.Each(ctx, *n, parallel.Options{}, func(i int) {
		addr := Address(i + 1)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(1001 + i)), Subject: pkix.Name{CommonName: strings.TrimSuffix(addr, "@bench.example")},
			EmailAddresses: []string{addr}, SubjectKeyId: ski[:],
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err == nil {
			err = os.WriteFile(filepath.Join(certDir, addr), der, 0o644)
		}
		if err != nil {
			stop(err)
		}
	})
	if err := context.Cause(ctx); err != nil {
		return err
	}
	fmt.Printf("generated %d certificates in %s\n", *n, time.Since(start).Round(time.Millisecond))
	return nil
}

// serve builds a lookup index from the files gen wrote and serves it as certgal run would:
// rate limiting and ETags on (the rate raised so that one benchmark client is not limited).
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fs.String("dir", "", "the directory gen wrote")
	listen := fs.String("listen", "127.0.0.1:18080", "listen address")
	perSecond := fs.Float64("rate", 1e9, "lookup.rate_per_second")
	burst := fs.Int("burst", 1e9, "lookup.burst")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the serving here")
	stats := fs.String("stats", "", "answer GET /stats on this address with the runtime's figures since the last GET /stats")
	fs.Parse(args)

	certs, err := readCerts(*dir)
	if err != nil {
		return err
	}
	entries := make([]lookup.Entry, 0, len(certs))
	for _, c := range certs {
		entries = append(entries, lookup.Entry{Addresses: []string{c.addr}, DER: [][]byte{c.der}})
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	ix := lookup.NewIndex(entries)
	built := time.Since(start)
	// One entry fewer: the same entries would give the same index back, unbuilt.
	start = time.Now()
	ix = ix.Rebuild(entries[:max(len(entries)-1, 0)])
	rebuilt := time.Since(start)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := ix.Stats()
	fmt.Printf("index: %d addresses, %d certificates; built in %s, rebuilt with one entry fewer, the others reused, in %s; heap %d MiB (DER read: %d MiB before the index)\n",
		st.Addresses, st.Certificates, built.Round(time.Millisecond), rebuilt.Round(time.Millisecond),
		after.HeapAlloc>>20, before.HeapAlloc>>20)
	debug.FreeOSMemory()

	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	srv := lookup.NewServer(config.Lookup{Listen: *listen, RatePerSecond: *perSecond, Burst: *burst}, prometheus.NewRegistry(), log)
	// Every address, as nginx and bare serve them: the timed rebuild above left one out.
	srv.Swap(ix.Rebuild(entries))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *stats != "" {
		go func() {
			if err := statsServer(ctx, *stats); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		}()
	}
	fmt.Printf("serving on %s\n", *listen)
	sched := readHistogram("/sched/latencies:seconds")
	gcs := readUint("/gc/cycles/total:gc-cycles")
	err = srv.ListenAndServe(ctx)
	// Why a tail is long: how long goroutines waited for a thread, and how often the
	// garbage collector ran, while serving.
	fmt.Printf("served: %d GC cycles; goroutines waited to run: %s\n", readUint("/gc/cycles/total:gc-cycles")-gcs,
		percentiles(readHistogram("/sched/latencies:seconds"), sched))
	return err
}

// certFile is a certificate gen wrote: its address (the name of its file) and its DER.
type certFile struct {
	addr string
	der  []byte
}

// readCerts reads the certificates gen wrote into dir, in the order of their addresses.
func readCerts(dir string) ([]certFile, error) {
	certDir := filepath.Join(dir, "www", "certs")
	files, err := os.ReadDir(certDir)
	if err != nil {
		return nil, err
	}
	certs := make([]certFile, 0, len(files))
	for _, f := range files {
		der, err := os.ReadFile(filepath.Join(certDir, f.Name()))
		if err != nil {
			return nil, err
		}
		certs = append(certs, certFile{addr: f.Name(), der: der})
	}
	return certs, nil
}

func readUint(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func readHistogram(name string) *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Float64Histogram()
}

// percentiles of the observations in h that were not yet in before (same buckets).
func percentiles(h, before *metrics.Float64Histogram) string {
	counts := slices.Clone(h.Counts)
	total := uint64(0)
	for i := range counts {
		counts[i] -= before.Counts[i]
		total += counts[i]
	}
	out := fmt.Sprintf("%d times", total)
	for _, p := range []float64{0.5, 0.9, 0.99, 0.999} {
		want, seen := uint64(p*float64(total)), uint64(0)
		for i, c := range counts {
			if seen += c; seen > want {
				out += fmt.Sprintf(", p%g ≤ %s", p*100, time.Duration(h.Buckets[i+1]*1e9))
				break
			}
		}
	}
	return out
}

// bare is the reference the design's budget names: a bare net/http handler serving the same
// bytes from a map, without rate limiting, ETags, metrics or timeouts. The distance between
// it and serve is what certgal's lookup costs; between it and nginx, what net/http costs.
func bare(args []string) error {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	dir := fs.String("dir", "", "the directory gen wrote")
	listen := fs.String("listen", "127.0.0.1:18082", "listen address")
	fs.Parse(args)
	certs, err := readCerts(*dir)
	if err != nil {
		return err
	}
	m := make(map[string][]byte, len(certs))
	for _, c := range certs {
		m["/certs/"+c.addr] = c.der
	}
	ctype := []string{"application/pkix-cert"}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := m[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header()["Content-Type"] = ctype
		w.Write(b)
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *listen, Handler: h}
	go func() { <-ctx.Done(); srv.Close() }()
	fmt.Printf("bare handler serving on %s\n", *listen)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}
