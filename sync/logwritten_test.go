package sync

import (
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

// TestLogWrittenLines: each change written is a line whose message is the
// action, with the change's fields, and a blob's attribute and SHA-256;
// nothing of one line or entry carries over to the next (the map of fields
// is used again).
func TestLogWrittenLines(t *testing.T) {
	log, hook := test.NewNullLogger()
	s := &Syncer{log: log, metrics: NewMetrics(prometheus.NewRegistry())}
	blob := Change{Action: ActionAdd, DN: "cn=a", Email: "a@corp.example", Serial: "0b", Issuer: "CN=CA", Reason: ReasonNew,
		Attribute: AttrSMIME, SHA256: "ab12"}
	entries := []EntryPlan{
		{DN: "cn=a",
			Removes:   []Change{{Action: ActionRemove, DN: "cn=a", Email: "a@corp.example", Serial: "0a", Issuer: "CN=CA", Reason: ReasonSuperseded}},
			Adds:      []Change{{Action: ActionAdd, DN: "cn=a", Email: "a@corp.example", Serial: "0b", Issuer: "CN=CA", Reason: ReasonNew}},
			SMIMEAdds: []Change{blob}},
		{DN: "cn=b", Adds: []Change{{Action: ActionAdd, DN: "cn=b", Email: "b@corp.example", Serial: "0c", Issuer: "CN=CA", Reason: ReasonNew}}},
	}
	for _, e := range entries {
		s.logWritten(e)
	}
	want := []struct {
		msg    string
		fields logrus.Fields
	}{
		{"remove", logrus.Fields{"dn": "cn=a", "email": "a@corp.example", "serial": "0a", "issuer": "CN=CA", "reason": ReasonSuperseded}},
		{"add", logrus.Fields{"dn": "cn=a", "email": "a@corp.example", "serial": "0b", "issuer": "CN=CA", "reason": ReasonNew}},
		{"add", logrus.Fields{"dn": "cn=a", "email": "a@corp.example", "serial": "0b", "issuer": "CN=CA", "reason": ReasonNew,
			"attribute": AttrSMIME, "sha256": "ab12"}},
		{"add", logrus.Fields{"dn": "cn=b", "email": "b@corp.example", "serial": "0c", "issuer": "CN=CA", "reason": ReasonNew}},
	}
	got := hook.AllEntries()
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Message != w.msg || got[i].Level != logrus.InfoLevel || !reflect.DeepEqual(got[i].Data, w.fields) {
			t.Errorf("line %d: %s %q %v, want info %q %v", i, got[i].Level, got[i].Message, got[i].Data, w.msg, w.fields)
		}
	}
}
