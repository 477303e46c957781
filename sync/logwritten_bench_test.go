package sync

import (
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
)

// BenchmarkLogWritten logs a renewed entry's two lines as the daemon does
// (logrus's text format): a renewal writes 10,000 such entries.
func BenchmarkLogWritten(b *testing.B) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	s := &Syncer{log: log, metrics: NewMetrics(prometheus.NewRegistry())}
	line := Change{DN: "uid=user000042,ou=people,dc=corp,dc=example", Email: "user000042@corp.example",
		Serial: "5f1c0a77e3a9b2d4c6e8f0a1b3c5d7e9", Issuer: "CN=Corp Issuing CA,O=Corp", SHA256: "ab12"}
	add, remove := line, line
	add.Action, add.Reason = ActionAdd, ReasonSuperseded
	remove.Action, remove.Reason = ActionRemove, ReasonSuperseded
	e := EntryPlan{DN: line.DN, Adds: []Change{add}, Removes: []Change{remove}}
	w := &writer{}
	b.ReportAllocs()
	for b.Loop() {
		s.logWritten(w, e)
	}
}
