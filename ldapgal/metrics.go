package ldapgal

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics say how the domain controllers answer. They carry no label: which
// DC served a pass is in the log (field dc), since a label per DC name would
// make a series for every DC ever discovered; the position in the list of
// DCs and a count of failovers are what an alert needs.
type Metrics struct {
	failovers  prometheus.Counter
	dcPosition prometheus.Gauge
}

// NewMetrics registers the directory metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		failovers: f.NewCounter(prometheus.CounterOpts{
			Name: "certgal_directory_failovers_total",
			Help: "Connections to a domain controller that failed (refused, timed out, TLS, busy or unavailable) and moved on to the next one.",
		}),
		dcPosition: f.NewGauge(prometheus.GaugeOpts{
			Name: "certgal_directory_dc_position",
			Help: "Position in directory.urls (or the DCs discovered, in DNS order) of the DC the last pass read from: 0 is the first.",
		}),
	}
}
