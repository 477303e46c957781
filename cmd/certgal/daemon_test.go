package main

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/sync"
)

func TestDaemonSkipsAPassWhileOneRuns(t *testing.T) {
	log, hook := test.NewNullLogger()
	d := newDaemon("unused.yaml", log, prometheus.NewRegistry())
	// Nobody receives on kick: that is the loop busy with a pass.
	if d.request("schedule") || d.request("http") {
		t.Fatal("a pass was started while one runs")
	}
	if n := testutil.ToFloat64(d.skipped); n != 2 {
		t.Errorf("skipped passes counted %v, want 2", n)
	}
	if len(hook.Entries) != 2 || hook.LastEntry().Data["trigger"] != "http" {
		t.Errorf("skips not logged with their trigger: %v", hook.AllEntries())
	}
	got := make(chan string)
	go func() { got <- <-d.kick }()
	for !d.request("http") { // the receiver may not be waiting yet
		time.Sleep(time.Millisecond)
	}
	if why := <-got; why != "http" {
		t.Errorf("kick carried %q", why)
	}
}

func TestDaemonReadiness(t *testing.T) {
	log, _ := test.NewNullLogger()
	for _, tc := range []struct {
		name   string
		passes []string // the results of the passes so far, in order
		want   bool
	}{
		{"no pass yet", nil, false},
		{"first pass could not reach the directory", []string{sync.ResultDirectoryError}, false},
		{"first pass blocked", []string{sync.ResultBlocked}, false},
		{"first pass succeeded", []string{sync.ResultSuccess}, true},
		{"first pass with entry errors", []string{sync.ResultEntryErrors}, true},
		{"ready after a failed start", []string{sync.ResultSourceError, sync.ResultSuccess}, true},
		{"directory down since", []string{sync.ResultSuccess, sync.ResultDirectoryError, sync.ResultDirectoryError}, true},
		{"CA store failing since", []string{sync.ResultEntryErrors, sync.ResultSourceError}, true},
		{"blocked since", []string{sync.ResultSuccess, sync.ResultBlocked}, true},
	} {
		d := newDaemon("unused.yaml", log, prometheus.NewRegistry())
		var indexes []string
		d.OnPass = func(res *sync.Result) {
			if d.ready() {
				t.Errorf("%s: ready before the lookup had the index", tc.name)
			}
			indexes = append(indexes, res.Status)
		}
		for _, status := range tc.passes {
			d.finished(&sync.Result{Status: status})
		}
		if got := d.ready(); got != tc.want {
			t.Errorf("%s: ready = %v, want %v", tc.name, got, tc.want)
		}
		for _, status := range indexes {
			if status != sync.ResultSuccess && status != sync.ResultEntryErrors {
				t.Errorf("%s: a %s pass replaced the lookup's index", tc.name, status)
			}
		}
	}
}

func TestDaemonTrigger(t *testing.T) {
	log, _ := test.NewNullLogger()
	d := newDaemon("unused.yaml", log, prometheus.NewRegistry())
	now := time.Now()
	if res, _ := d.requestHTTP(now); res != triggerDisabled {
		t.Fatalf("trigger off by default: got %v", res)
	}
	d.setTrigger(config.Metrics{EnableTrigger: true, TriggerMinInterval: time.Minute})
	if res, _ := d.requestHTTP(now); res != triggerBusy { // nobody receives on kick: a pass runs
		t.Errorf("while a pass runs: got %v, want busy", res)
	}
	d.lastStart.Store(now.Add(-45 * time.Second).UnixNano())
	if res, wait := d.requestHTTP(now); res != triggerTooSoon || wait != 15*time.Second {
		t.Errorf("45s after the last start: got %v, wait %s; want too soon, 15s", res, wait)
	}
	got := make(chan string, 1)
	go func() { got <- <-d.kick }()
	later := now.Add(16 * time.Second)
	for {
		res, _ := d.requestHTTP(later)
		if res == triggerStarted {
			break
		}
		if res != triggerBusy { // the receiver may not be waiting yet
			t.Fatalf("a minute after the last start: got %v", res)
		}
		time.Sleep(time.Millisecond)
	}
	if why := <-got; why != "http" {
		t.Errorf("kick carried %q", why)
	}
	if res, _ := d.requestHTTP(time.Now().Add(59 * time.Second)); res != triggerTooSoon {
		t.Errorf("a started pass does not count as the last start: got %v", res)
	}
}

func TestDaemonReloadMetrics(t *testing.T) {
	log, _ := test.NewNullLogger()
	d := newDaemon("unused.yaml", log, prometheus.NewRegistry())
	loaded := testutil.ToFloat64(d.reloadTime)
	if testutil.ToFloat64(d.reloadOK) != 1 || loaded < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("at start-up: successful %v, timestamp %v", testutil.ToFloat64(d.reloadOK), loaded)
	}
	d.reloaded(false)
	if testutil.ToFloat64(d.reloadOK) != 0 || testutil.ToFloat64(d.reloadTime) != loaded {
		t.Errorf("refused reload: successful %v, timestamp %v (was %v)", testutil.ToFloat64(d.reloadOK), testutil.ToFloat64(d.reloadTime), loaded)
	}
	d.reloaded(true)
	if testutil.ToFloat64(d.reloadOK) != 1 {
		t.Error("a good reload after a refused one is not successful")
	}
}

func TestRestartOnly(t *testing.T) {
	base := func() *config.Config {
		c := &config.Config{}
		c.Lookup.Listen, c.Lookup.RatePerSecond, c.Lookup.Burst = ":8080", 10, 20
		c.Metrics.Listen, c.Log.Format, c.Log.Level, c.Schedule = ":9464", "text", "info", "@every 5m"
		return c
	}
	for _, tc := range []struct {
		name   string
		change func(*config.Config)
		want   string
	}{
		{"nothing", func(*config.Config) {}, ""},
		{"what a reload applies", func(c *config.Config) { c.Schedule, c.Log.Level, c.Policy.MaxDeletes = "@hourly", "debug", 7 }, ""},
		{"lookup listener", func(c *config.Config) { c.Lookup.Listen = ":8081" }, "lookup.listen"},
		{"lookup TLS", func(c *config.Config) { c.Lookup.TLSCertFile, c.Lookup.TLSKeyFile = "a", "b" }, "lookup.tls_cert_file lookup.tls_key_file"},
		{"rate limit", func(c *config.Config) { c.Lookup.RatePerSecond, c.Lookup.Burst = 5, 5 }, "lookup.rate_per_second lookup.burst"},
		{"proxies", func(c *config.Config) { c.Lookup.TrustedProxies = []string{"10.0.0.0/8"} }, "lookup.trusted_proxies"},
		{"metrics and log format", func(c *config.Config) { c.Metrics.Listen, c.Log.Format = "", "json" }, "metrics.listen log.format"},
	} {
		next := base()
		tc.change(next)
		if got := strings.Join(restartOnly(base(), next), " "); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
