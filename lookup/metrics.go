package lookup

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The endpoint label values.
const (
	epCerts = iota
	epSearch
	epPage
	epOther
	numEndpoints
)

var endpointNames = [numEndpoints]string{"certs", "search", "page", "other"}

// commonCodes get their counters resolved up front, so counting a request is one atomic add.
var commonCodes = [...]int{200, 304, 400, 404, 405, 406, 429, 503}

// The kinds of failure to read a certificate from the store.
const (
	storeRead    = iota // the file could not be read
	storeCorrupt        // its bytes were not those written
	numStoreErrors
)

type metrics struct {
	storeErrors [numStoreErrors]prometheus.Counter
	requests    *prometheus.CounterVec
	byCode      [numEndpoints][len(commonCodes)]prometheus.Counter
	duration    [numEndpoints]prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "certgal_lookup_requests_total",
			Help: "Lookup requests answered, by endpoint (certs, search, page, other) and HTTP status code.",
		}, []string{"endpoint", "code"}),
	}
	duration := f.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "certgal_lookup_request_duration_seconds",
		Help:    "Time to answer a lookup request, by endpoint, until the response is handed to the connection.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, .5},
	}, []string{"endpoint"})
	storeErrors := f.NewCounterVec(prometheus.CounterOpts{
		Name: "certgal_lookup_store_errors_total",
		Help: "Certificates the lookup could not serve from its file of certificates: kind read (it could not be read) or corrupt (its bytes were not those written; never served).",
	}, []string{"kind"})
	m.storeErrors[storeRead] = storeErrors.WithLabelValues("read")
	m.storeErrors[storeCorrupt] = storeErrors.WithLabelValues("corrupt")
	for e, name := range endpointNames {
		m.duration[e] = duration.WithLabelValues(name)
		for i, code := range commonCodes {
			m.byCode[e][i] = m.requests.WithLabelValues(name, strconv.Itoa(code))
		}
	}
	return m
}

func (m *metrics) count(endpoint, code int, seconds float64) {
	m.duration[endpoint].Observe(seconds)
	for i, c := range commonCodes {
		if c == code {
			m.byCode[endpoint][i].Inc()
			return
		}
	}
	m.requests.WithLabelValues(endpointNames[endpoint], strconv.Itoa(code)).Inc()
}
