package main

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/config"
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
	now := time.Now()
	tests := []struct {
		name        string
		firstDone   bool
		lastSuccess time.Time
		want        bool
	}{
		{"first pass still running", false, time.Time{}, true},
		{"first pass failed", true, time.Time{}, false},
		{"success one interval ago", true, now.Add(-time.Minute), true},
		{"success three intervals ago", true, now.Add(-3 * time.Minute), true},
		{"success four intervals ago", true, now.Add(-4 * time.Minute), false},
	}
	for _, tc := range tests {
		d := newDaemon("unused.yaml", log, prometheus.NewRegistry())
		d.interval.Store(int64(time.Minute))
		d.firstDone.Store(tc.firstDone)
		if !tc.lastSuccess.IsZero() {
			d.lastSuccess.Store(tc.lastSuccess.UnixNano())
		}
		if got := d.ready(now); got != tc.want {
			t.Errorf("%s: ready = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestScheduleInterval(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 17, 3, 0, time.UTC)
	for spec, want := range map[string]time.Duration{
		"@every 5m": 5 * time.Minute, "@hourly": time.Hour, "*/10 * * * *": 10 * time.Minute, "30 2 * * *": 24 * time.Hour,
	} {
		s, err := cronParser.Parse(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if got := scheduleInterval(s, now); got != want {
			t.Errorf("%s: interval %s, want %s", spec, got, want)
		}
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
