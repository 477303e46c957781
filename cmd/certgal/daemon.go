package main

import (
	"context"
	"errors"
	"slices"
	"strings"
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

	kick    chan string         // a pass is wanted; the sender says why
	reload  chan *config.Config // a valid new configuration
	running atomic.Bool

	// read by /readyz while the loop writes them
	interval    atomic.Int64 // schedule interval, ns
	lastSuccess atomic.Int64 // unix ns; 0 before the first successful pass
	firstDone   atomic.Bool

	// OnPass is called after every pass that produced a plan (the lookup index).
	OnPass func(*sync.Result)
}

func newDaemon(path string, log *logrus.Logger, reg prometheus.Registerer) *daemon {
	return &daemon{
		path: path, log: log, metrics: sync.NewMetrics(reg), dirMet: ldapgal.NewMetrics(reg),
		skipped: promauto.With(reg).NewCounter(prometheus.CounterOpts{
			Name: "certgal_sync_overlapping_skipped_total",
			Help: "Scheduled or requested passes not started because one was still running.",
		}),
		kick:   make(chan string),
		reload: make(chan *config.Config, 1),
	}
}

// request asks for a pass; false when one is running (or already wanted).
func (d *daemon) request(why string) bool {
	select {
	case d.kick <- why:
		return true
	default:
		d.skipped.Inc()
		d.log.WithField("trigger", why).Warn("pass not started: the previous one is still running")
		return false
	}
}

// ready is /readyz: the last pass succeeded within three schedule intervals,
// or the first pass is still running.
func (d *daemon) ready(now time.Time) bool {
	if !d.firstDone.Load() {
		return true
	}
	last := d.lastSuccess.Load()
	return last != 0 && now.Sub(time.Unix(0, last)) <= 3*time.Duration(d.interval.Load())
}

// scheduleInterval is the gap between the next two activations of spec.
func scheduleInterval(s cron.Schedule, now time.Time) time.Duration {
	next := s.Next(now)
	return s.Next(next).Sub(next)
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

	why := "start-up"
	for {
		if why != "" {
			d.running.Store(true)
			p = d.pass(ctx, cfg, p, why)
			d.running.Store(false)
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
	d.interval.Store(int64(scheduleInterval(s, time.Now())))
	c := cron.New(cron.WithParser(cronParser))
	c.Schedule(s, cron.FuncJob(func() { d.request("schedule") }))
	c.Start()
	return cfg.Schedule, c
}

// pass runs one pass, building the pipeline first when there is none (at
// start-up, after a reload, or after the directory could not be reached).
func (d *daemon) pass(ctx context.Context, cfg *config.Config, p *pipeline, why string) *pipeline {
	defer d.firstDone.Store(true)
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
	if res.Status == sync.ResultSuccess {
		d.lastSuccess.Store(time.Now().UnixNano())
	}
	// A blocked or failed pass leaves the lookup serving the last good index.
	if (res.Status == sync.ResultSuccess || res.Status == sync.ResultEntryErrors) && d.OnPass != nil {
		d.OnPass(res)
	}
	return p
}

func levelOf(cfg config.Log) logrus.Level {
	lvl, err := logrus.ParseLevel(cfg.Level)
	if err != nil {
		return logrus.InfoLevel
	}
	return lvl
}
