package main

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/ldapgal"
	"github.com/certgal/certgal/sync"
)

// cronParser accepts what config validation accepts: 5 fields or a descriptor.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// daemon runs passes one at a time: the first at start-up, then on schedule,
// on POST /-/sync, and never two at once. A reload swaps the configuration
// between passes.
type daemon struct {
	path    string
	log     *logrus.Logger
	metrics *sync.Metrics
	dirMet  *ldapgal.Metrics
	skipped prometheus.Counter
	// blackbox_exporter's reload metrics: the gauge is 0 after a refused reload.
	reloadOK, reloadTime prometheus.Gauge

	kick   chan string         // a pass is wanted; the sender says why
	reload chan *config.Config // a valid new configuration

	// read by the HTTP handlers while the loop writes them
	indexed   atomic.Bool  // a pass produced a plan: the lookup has its index
	lastStart atomic.Int64 // unix ns the last pass started or was accepted; 0 before the first
	trigger   atomic.Bool  // metrics.enable_trigger
	minGap    atomic.Int64 // metrics.trigger_min_interval, ns
	triggerMu stdsync.Mutex

	// OnPass is called after every pass that produced a plan (the lookup index).
	OnPass func(*sync.Result)
}

func newDaemon(path string, log *logrus.Logger, reg prometheus.Registerer) *daemon {
	f := promauto.With(reg)
	d := &daemon{
		path: path, log: log, metrics: sync.NewMetrics(reg), dirMet: ldapgal.NewMetrics(reg),
		skipped: f.NewCounter(prometheus.CounterOpts{
			Name: "certgal_sync_overlapping_skipped_total",
			Help: "Scheduled or requested passes not started because one was still running.",
		}),
		reloadOK: f.NewGauge(prometheus.GaugeOpts{
			Name: "certgal_config_last_reload_successful",
			Help: "1 when the configuration loaded at start-up or at the last reload (SIGHUP), 0 when that reload was refused.",
		}),
		reloadTime: f.NewGauge(prometheus.GaugeOpts{
			Name: "certgal_config_last_reload_success_timestamp_seconds",
			Help: "Unix time the running configuration was loaded.",
		}),
		kick:   make(chan string),
		reload: make(chan *config.Config, 1),
	}
	d.reloaded(true) // the configuration run was given loaded
	return d
}

// reloaded records a load of the configuration file, at start-up or on SIGHUP.
func (d *daemon) reloaded(ok bool) {
	if !ok {
		d.reloadOK.Set(0)
		return
	}
	d.reloadOK.Set(1)
	d.reloadTime.SetToCurrentTime()
}

// request asks for a pass; false when one is running (or already wanted).
func (d *daemon) request(why string) bool {
	select {
	case d.kick <- why:
		d.lastStart.Store(time.Now().UnixNano())
		return true
	default:
		d.skipped.Inc()
		d.log.WithField("trigger", why).Warn("pass not started: the previous one is still running")
		return false
	}
}

// triggerResult is what POST /-/sync got.
type triggerResult int

const (
	triggerStarted  triggerResult = iota
	triggerDisabled               // metrics.enable_trigger is off
	triggerTooSoon                // within metrics.trigger_min_interval of the last pass's start
	triggerBusy                   // a pass is running
)

// requestHTTP is POST /-/sync: a pass, unless the trigger is off, the last
// pass started less than metrics.trigger_min_interval ago (wait says how much
// longer), or one is running.
func (d *daemon) requestHTTP(now time.Time) (res triggerResult, wait time.Duration) {
	if !d.trigger.Load() {
		return triggerDisabled, 0
	}
	// Two requests at once must not both find the gap long enough.
	d.triggerMu.Lock()
	defer d.triggerMu.Unlock()
	if last := d.lastStart.Load(); last != 0 {
		if wait = time.Unix(0, last).Add(time.Duration(d.minGap.Load())).Sub(now); wait > 0 {
			return triggerTooSoon, wait
		}
	}
	if !d.request("http") {
		return triggerBusy, 0
	}
	return triggerStarted, 0
}

func (d *daemon) setTrigger(m config.Metrics) {
	d.trigger.Store(m.EnableTrigger)
	d.minGap.Store(int64(m.TriggerMinInterval))
}

// ready is /readyz: the lookup has an index, from the first pass that produced
// a plan. It stays ready when later passes fail, as the lookup keeps serving
// that index: taking it out of its Service would help nobody. How the passes
// fare is for the metrics and the alerts.
func (d *daemon) ready() bool {
	return d.indexed.Load()
}

// loop runs passes until ctx ends. The running pass is allowed to finish the
// entry it is writing (sync applies an entry without cancellation).
func (d *daemon) loop(ctx context.Context, cfg *config.Config) {
	var p *pipeline
	defer func() {
		if p != nil {
			p.Close()
		}
	}()
	sched, c := d.schedule(cfg)
	defer func() { c.Stop() }()
	d.setTrigger(cfg.Metrics)

	why := "start-up"
	for {
		if why != "" {
			d.lastStart.Store(time.Now().UnixNano())
			p = d.pass(ctx, cfg, p, why)
			why = ""
		}
		select {
		case <-ctx.Done():
			return
		case why = <-d.kick:
		case next := <-d.reload:
			if p != nil {
				p.Close()
				p = nil
			}
			if keys := restartOnly(cfg, next); len(keys) > 0 {
				d.log.WithField("keys", strings.Join(keys, ",")).Warn("configuration changed where a reload cannot apply it; restart certgal for these")
			}
			cfg = next
			d.log.SetLevel(levelOf(cfg.Log))
			d.setTrigger(cfg.Metrics)
			if next.Schedule != sched {
				c.Stop()
				sched, c = d.schedule(cfg)
			}
			d.log.WithField("schedule", sched).Info("configuration reloaded")
		}
	}
}

// restartOnly lists the keys that differ between old and next but are read
// only at start-up: the listeners, the lookup's TLS files and rate limit, and
// the log format.
func restartOnly(old, next *config.Config) []string {
	var keys []string
	for _, k := range []struct {
		key     string
		changed bool
	}{
		{"lookup.listen", old.Lookup.Listen != next.Lookup.Listen},
		{"lookup.tls_cert_file", old.Lookup.TLSCertFile != next.Lookup.TLSCertFile},
		{"lookup.tls_key_file", old.Lookup.TLSKeyFile != next.Lookup.TLSKeyFile},
		{"lookup.rate_per_second", old.Lookup.RatePerSecond != next.Lookup.RatePerSecond},
		{"lookup.burst", old.Lookup.Burst != next.Lookup.Burst},
		{"lookup.trusted_proxies", !slices.Equal(old.Lookup.TrustedProxies, next.Lookup.TrustedProxies)},
		{"metrics.listen", old.Metrics.Listen != next.Metrics.Listen},
		{"log.format", old.Log.Format != next.Log.Format},
	} {
		if k.changed {
			keys = append(keys, k.key)
		}
	}
	return keys
}

func (d *daemon) schedule(cfg *config.Config) (string, *cron.Cron) {
	s, err := cronParser.Parse(cfg.Schedule)
	if err != nil { // validated at load; keep running passes on demand only
		d.log.WithError(err).Error("schedule")
		return cfg.Schedule, cron.New()
	}
	c := cron.New(cron.WithParser(cronParser))
	c.Schedule(s, cron.FuncJob(func() { d.request("schedule") }))
	c.Start()
	return cfg.Schedule, c
}

// pass runs one pass, building the pipeline first when there is none (at
// start-up, after a reload, or after the directory could not be reached).
func (d *daemon) pass(ctx context.Context, cfg *config.Config, p *pipeline, why string) *pipeline {
	log := d.log.WithField("trigger", why)
	if p == nil {
		var err error
		if p, err = newPipeline(ctx, cfg, d.log, d.metrics, ldapgal.WithMetrics(d.dirMet)); err != nil {
			result := sync.ResultDirectoryError
			if errors.As(err, new(configError)) { // a CA file that went away since start-up
				result = sync.ResultSourceError
			}
			d.metrics.CountFailedPass(result)
			log.WithError(err).Error("pass failed before it started")
			return nil
		}
	}
	res, err := p.syncer.Pass(ctx, false)
	if err != nil {
		log.WithError(err).Error("pass failed")
	}
	d.finished(res)
	// What the pass read and planned, and what the lookup's rebuild took
	// from it, is garbage now: the collector's next heap goal is set by
	// what lives between passes, not by a pass whose plan was still held
	// (docs/BENCHMARKS.md, "Goal 1: the daemon's memory, session 10").
	runtime.GC()
	return p
}

// finished gives the plan of a pass that produced one to the lookup, and then
// makes the daemon ready. A pass whose entries were written only in part did
// produce one: the entries that failed are logged with their DN, counted and
// tried again by the next pass. A blocked or failed pass leaves the lookup
// serving the last good index.
func (d *daemon) finished(res *sync.Result) {
	if res.Status != sync.ResultSuccess && res.Status != sync.ResultEntryErrors {
		return
	}
	if d.OnPass != nil {
		d.OnPass(res)
	}
	d.indexed.Store(true)
}

func levelOf(cfg config.Log) logrus.Level {
	lvl, err := logrus.ParseLevel(cfg.Level)
	if err != nil {
		return logrus.InfoLevel
	}
	return lvl
}
