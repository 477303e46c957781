// Command passes is the "warm daemon" side of `make bench` (testdata/bench/bench.sh): it wires a
// Syncer from a certgal configuration the way `certgal sync` does (openssl source only) and runs
// several passes in one process, so the second and later passes show what a daemon's scheduled
// pass costs once its caches are filled. It prints one line per pass:
//
//	pass=1 seconds=1.234 result=success users=100000 adds=0 removes=0 entries=0 pass_rss_kb=123456
//
// pass_rss_kb is the pass's own peak RSS: the kernel's high-water mark is reset after each pass,
// so the process's peak is the largest of them (and /usr/bin/time's is the last pass's).
//
// With -cpuprofile / -memprofile it profiles the passes after the first (the warm ones), or all
// with -profile-all. It is a benchmark tool, not part of certgal's command line.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/certsource"
	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/ldapgal"
	"github.com/certgal/certgal/sync"
)

func main() {
	cfgPath := flag.String("config", "", "certgal configuration (source.kind openssl)")
	passes := flag.Int("passes", 3, "passes to run in this process")
	dryRun := flag.Bool("dry-run", false, "plan only")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the warm passes here")
	memProfile := flag.String("memprofile", "", "write a heap profile (after the last pass) here, and one after the first pass to PATH.first")
	midProfile := flag.String("midprofile", "", "write a heap profile of what is live when the second pass has read every user here (a diagnosis: it collects then)")
	profileAll := flag.Bool("profile-all", false, "profile the first (cold) pass too")
	workers := flag.Int("workers", 0, "Syncer.Workers (0: certgal's default)")
	logLevel := flag.String("log", "warn", "log level (info logs a line per change, as certgal sync does)")
	flag.Parse()
	if err := run(*cfgPath, *passes, *dryRun, profiles{*cpuProfile, *memProfile, *midProfile, *profileAll}, *workers, *logLevel); err != nil {
		fmt.Fprintln(os.Stderr, "passes:", err)
		os.Exit(1)
	}
}

// profiles are where the profiles go ("": none).
type profiles struct {
	cpu, mem, mid string
	all           bool // profile the first pass too
}

func run(cfgPath string, passes int, dryRun bool, prof profiles, workers int, logLevel string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, dir, err := newSyncer(ctx, cfgPath, workers, logLevel)
	if err != nil {
		return err
	}
	defer dir.Close()

	var cpu *os.File
	users := 0
	for i := 1; i <= passes; i++ {
		if prof.cpu != "" && cpu == nil && (i > 1 || prof.all) {
			if cpu, err = startCPUProfile(prof.cpu); err != nil {
				return err
			}
		}
		s.Progress = &sync.Progress{}
		if i == 2 && prof.mid != "" {
			go profileWhenRead(s.Progress, users, prof.mid)
		}
		if users, err = timePass(ctx, s, i, dryRun); err != nil {
			return err
		}
		if i == 1 && prof.mem != "" {
			if err := writeHeapProfile(prof.mem + ".first"); err != nil {
				return err
			}
		}
		// The next line's pass_rss_kb is that pass's own peak (proc(5): clear_refs 5 resets VmHWM).
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	}
	if cpu != nil {
		pprof.StopCPUProfile()
		cpu.Close()
	}
	if prof.mem != "" {
		err = writeHeapProfile(prof.mem)
	}
	runtime.KeepAlive(s) // the heap profile shows what a daemon keeps between passes
	return err
}

// newSyncer wires a Syncer from the configuration at cfgPath as `certgal sync` does, for an
// openssl source; the caller closes the directory client it returns.
func newSyncer(ctx context.Context, cfgPath string, workers int, logLevel string) (*sync.Syncer, *ldapgal.Client, error) {
	cfg, err := config.LoadFile(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Source.Kind != "openssl" {
		return nil, nil, fmt.Errorf("source.kind %q: only openssl is wired here", cfg.Source.Kind)
	}
	log := logrus.New()
	log.SetOutput(os.Stderr)
	lvl, err := logrus.ParseLevel(logLevel)
	if err != nil {
		return nil, nil, err
	}
	log.SetLevel(lvl)
	trust, err := certsource.LoadTrust(cfg.Trust.CAFiles)
	if err != nil {
		return nil, nil, err
	}
	src := certsource.NewOpenSSL(cfg.Source.OpenSSL, trust, log)
	dir, err := ldapgal.Open(ctx, cfg.Dir, log)
	if err != nil {
		return nil, nil, err
	}
	smime, _ := sync.ParseSMIMEMode(cfg.Policy.SMIMEAttribute)
	d := dir.Dialect()
	pol := sync.Policy{KeepAll: cfg.Policy.Keep == "all", ExpiredGrace: cfg.Policy.ExpiredGrace,
		MaxValues: cfg.Policy.MaxValues, MaxDeletes: cfg.Policy.MaxDeletes, SMIME: smime,
		MaxValueBytes: d.MaxValueBytes, SMIMEWholeAttribute: d.SMIMEWholeAttribute, CertMatchByIssuerSerial: d.CertMatchByIssuerSerial}
	s := sync.NewSyncer(src, dir, trust, pol, log, sync.NewMetrics(prometheus.NewRegistry()))
	if workers > 0 {
		s.Workers = workers
	}
	// certgal's default places need not exist here: the benchmark says where.
	s.CacheDir = os.Getenv("CERTGAL_CACHE_DIR")
	return s, dir, nil
}

// profileWhenRead writes a heap profile to path once p counts users read.
func profileWhenRead(p *sync.Progress, users int, path string) {
	for p.UsersRead.Load() < int64(users) {
		time.Sleep(time.Millisecond)
	}
	if err := writeHeapProfile(path); err != nil {
		fmt.Fprintln(os.Stderr, "passes:", err)
	}
}

// timePass runs pass i and prints its line; it returns how many users the pass read.
func timePass(ctx context.Context, s *sync.Syncer, i int, dryRun bool) (int, error) {
	// Progress says when the writes begin: the time before is reading and planning.
	start := time.Now()
	done := make(chan struct{})
	applyStart := watchApply(s.Progress, done)
	res, err := s.Pass(ctx, dryRun)
	end := time.Now()
	close(done)
	if err != nil {
		return 0, fmt.Errorf("pass %d: %w", i, err)
	}
	applySecs := 0.0
	select {
	case t := <-applyStart:
		applySecs = end.Sub(t).Seconds()
	default:
	}
	adds, removes, _ := res.Plan.Counts()
	fmt.Printf("pass=%d seconds=%.3f apply_seconds=%.3f result=%s users=%d adds=%d removes=%d entries=%d pass_rss_kb=%d\n",
		i, end.Sub(start).Seconds(), applySecs, res.Status, res.Users, adds, removes, len(res.Plan.Entries), maxRSS())
	if res.Err != nil {
		return 0, fmt.Errorf("pass %d: %w", i, res.Err)
	}
	return res.Users, nil
}

// watchApply sends the time at which p first counts an entry to write, to within 5 ms; it
// sends nothing when done is closed before.
func watchApply(p *sync.Progress, done <-chan struct{}) <-chan time.Time {
	applyStart := make(chan time.Time, 1)
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				if p.EntriesTotal.Load() > 0 {
					applyStart <- now
					return
				}
			}
		}
	}()
	return applyStart
}

// startCPUProfile starts writing a CPU profile to path; the caller stops it and closes the file.
func startCPUProfile(path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// writeHeapProfile writes a heap profile after a collection, so that it shows what is live.
func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// maxRSS is the peak resident set (VmHWM) since the last reset, in kB.
func maxRSS() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb
		}
	}
	return -1
}
