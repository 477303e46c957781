package sync

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

// TestLogWrittenLines: each change written is a line whose message is the
// action, with the change's fields, and a blob's attribute and SHA-256;
// nothing of one line or entry carries over to the next (the writer's map of
// fields is used again).
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
	w := &writer{}
	for _, e := range entries {
		s.logWritten(w, e)
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

// TestLogWrittenWritesWhatWithFieldsWrites: a line of an entry written is,
// byte for byte, what the logger's WithFields of its fields writes, in both
// formats, from a Logger (whose lines logWritten writes without WithFields)
// and from an Entry with fields of its own, which the lines carry.
func TestLogWrittenWritesWhatWithFieldsWrites(t *testing.T) {
	e := EntryPlan{DN: "cn=a",
		Removes: []Change{{Action: ActionRemove, DN: "cn=a", Email: "a@corp.example", Serial: "0a", Issuer: "CN=CA", Reason: ReasonSuperseded}},
		Adds:    []Change{{Action: ActionAdd, DN: "cn=a", Email: "a@corp.example", Serial: "0b", Issuer: "CN=CA", Reason: ReasonNew}},
		SMIMEAdds: []Change{{Action: ActionAdd, DN: "cn=a", Email: "a@corp.example", Serial: "0b", Issuer: "CN=CA", Reason: ReasonNew,
			Attribute: AttrSMIME, SHA256: "ab12"}}}
	for _, format := range []logrus.Formatter{&logrus.TextFormatter{DisableTimestamp: true}, &logrus.JSONFormatter{DisableTimestamp: true}} {
		for _, entry := range []bool{false, true} {
			var got, want bytes.Buffer
			newLog := func(out *bytes.Buffer) logrus.FieldLogger {
				l := logrus.New()
				l.SetOutput(out)
				l.SetFormatter(format)
				if entry {
					return l.WithField("component", "sync")
				}
				return l
			}
			s := &Syncer{log: newLog(&got), metrics: NewMetrics(prometheus.NewRegistry())}
			s.logWritten(&writer{}, e)
			s.logWritten(&writer{}, e)
			log := newLog(&want)
			for range 2 {
				for _, c := range append(append(e.Removes, e.Adds...), e.SMIMEAdds...) {
					f := logrus.Fields{"dn": c.DN, "email": c.Email, "serial": c.Serial, "issuer": c.Issuer, "reason": c.Reason}
					if c.Attribute != "" {
						f["attribute"], f["sha256"] = c.Attribute, c.SHA256
					}
					log.WithFields(f).Info(string(c.Action))
				}
			}
			if got.String() != want.String() {
				t.Errorf("%T, from an Entry %v:\n%s\nwant\n%s", format, entry, got.String(), want.String())
			}
		}
	}
}
