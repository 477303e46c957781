package sync

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the pass's Prometheus metrics. No label ever carries a DN or an
// address: they would be unbounded and personal.
type Metrics struct {
	passes         *prometheus.CounterVec
	lastSuccess    prometheus.Gauge
	duration       prometheus.Histogram
	changes        *prometheus.CounterVec
	skipped        *prometheus.CounterVec
	entryErrors    prometheus.Counter
	sourceCerts    *prometheus.GaugeVec
	directoryUsers prometheus.Gauge
	expiring       *prometheus.GaugeVec
	uncovered      prometheus.Gauge

	// entriesFailed is the last writing pass's count, so that an entry that
	// fails every pass (a protected AD account) shows as a level, not a rate.
	entriesFailed prometheus.Gauge
}

// Pass results, the values of certgal_sync_passes_total's result label.
const (
	ResultSuccess        = "success"
	ResultEntryErrors    = "entry_errors"
	ResultBlocked        = "blocked"
	ResultSourceError    = "source_error"
	ResultDirectoryError = "directory_error"
	ResultDryRun         = "dry_run"
)

// NewMetrics registers the pass metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		passes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "certgal_sync_passes_total", Help: "Passes run, by result.",
		}, []string{"result"}),
		lastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "certgal_sync_last_success_timestamp_seconds", Help: "Unix time the last pass completed without errors.",
		}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name: "certgal_sync_duration_seconds", Help: "Duration of a pass.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}),
		changes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "certgal_sync_changes_total", Help: "Values written to the directory, by action.",
		}, []string{"action"}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "certgal_sync_skipped_total", Help: "Certificates, values and CA store inputs skipped, by reason.",
		}, []string{"reason"}),
		entryErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "certgal_sync_entry_errors_total", Help: "Entries whose modify failed.",
		}),
		sourceCerts: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "certgal_source_certificates", Help: "Certificates in the CA store at the last pass, by state.",
		}, []string{"state"}),
		directoryUsers: f.NewGauge(prometheus.GaugeOpts{
			Name: "certgal_directory_users", Help: "Users read from the directory at the last pass.",
		}),
		expiring: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "certgal_published_certificates_expiring",
			Help: "Published certificates that end within the window (7d, 30d), at the last pass.",
		}, []string{"within"}),
		uncovered: f.NewGauge(prometheus.GaugeOpts{
			Name: "certgal_users_without_certificate", Help: "Directory users nothing is published for, at the last pass.",
		}),
	}
	m.entriesFailed = f.NewGauge(prometheus.GaugeOpts{
		Name: "certgal_sync_entries_failed",
		Help: "Entries not written, or written only in part, by the last pass that wrote (result success or entry_errors).",
	})
	for _, r := range []string{ResultSuccess, ResultEntryErrors, ResultBlocked, ResultSourceError, ResultDirectoryError, ResultDryRun} {
		m.passes.WithLabelValues(r)
	}
	for _, a := range []Action{ActionAdd, ActionRemove} {
		m.changes.WithLabelValues(string(a))
	}
	// Present from the start, so rates and alerts see the first skip as a change.
	for _, r := range []string{ReasonNoUser, ReasonAmbiguous, ReasonUntrusted, ReasonMaxValues, ReasonUnknownOwned,
		ReasonTooLarge, ReasonFrozen, ReasonStaleSMIME, ReasonBrokenSMIME, ReasonForeignSMIME, ReasonValueRejected} {
		m.skipped.WithLabelValues(r)
	}
	return m
}

// CountFailedPass counts a pass that failed before Syncer.Pass could run it,
// such as one whose directory could not be dialled.
func (m *Metrics) CountFailedPass(result string) {
	m.passes.WithLabelValues(result).Inc()
}

// countSource sets certgal_source_certificates from the CA store's counts by state.
func (m *Metrics) countSource(states map[string]int) {
	for state, n := range states {
		m.sourceCerts.WithLabelValues(state).Set(float64(n))
	}
}

// countPass counts a pass that ran, by its result.
func (m *Metrics) countPass(res *Result, took time.Duration) {
	m.duration.Observe(took.Seconds())
	m.passes.WithLabelValues(res.Status).Inc()
	if res.Status == ResultSuccess {
		m.lastSuccess.SetToCurrentTime()
	}
	if res.Status == ResultSuccess || res.Status == ResultEntryErrors {
		m.entriesFailed.Set(float64(res.Failed))
	}
}

// countProblems counts what the CA store skipped (broken files, CRLs, index lines), by reason.
func (m *Metrics) countProblems(problems map[string]int) {
	for reason, n := range problems {
		m.skipped.WithLabelValues(reason).Add(float64(n))
	}
}

// countPlan sets the gauges of what a plan publishes (certificates near
// their end, users without any) and counts its skips.
func (m *Metrics) countPlan(p *Plan, users int) {
	for i, w := range expiryWindows {
		m.expiring.WithLabelValues(w.label).Set(float64(p.Expiring[i]))
	}
	m.uncovered.Set(float64(users - p.UsersWithCertificate))
	for _, c := range p.Skips {
		m.skipped.WithLabelValues(c.Reason).Inc()
	}
}
