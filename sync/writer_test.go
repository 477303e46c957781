package sync

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/certsource"
)

// TestPassWritesEachEntryItsOwnDER: the certificates a write reads again
// from the CA store go into its worker's buffer, used again for each entry
// the worker writes; each modify still carries its own entry's certificates,
// the one added and the one it supersedes, for every entry of a renewal.
func TestPassWritesEachEntryItsOwnDER(t *testing.T) {
	ca := newTestCA(t, "Corp Issuing CA")
	const users = 5
	var certs []*certsource.Certificate
	mem := &memDir{entries: map[string]*Entry{}}
	olds, news := make([]*x509.Certificate, users), make([]*x509.Certificate, users)
	for i := range users {
		addr := fmt.Sprintf("user%d@corp.example", i)
		olds[i] = ca.issue(t, leaf{serial: int64(100 + i), emails: []string{addr}, notBefore: now.Add(-48 * time.Hour)})
		news[i] = ca.issue(t, leaf{serial: int64(200 + i), emails: []string{addr}, notBefore: now.Add(-time.Hour)})
		for _, x := range []*x509.Certificate{olds[i], news[i]} {
			certs = append(certs, certsource.NewCertificate(x, fmt.Sprintf("newcerts/%X.pem", x.SerialNumber)))
		}
		dn := fmt.Sprintf("cn=user%d", i)
		mem.entries[dn] = &Entry{DN: dn, Addresses: []string{addr}, Certificates: [][]byte{olds[i].Raw}}
	}
	src := originSource{unparsedSource{&certsource.Snapshot{Certificates: certs}}}
	log, _ := test.NewNullLogger()
	s := NewSyncer(src, mem, certsource.NewTrust([]*x509.Certificate{ca.cert}), Policy{MaxValues: 15, MaxDeletes: 100}, log, NewMetrics(prometheus.NewRegistry()))
	s.now = func() time.Time { return now }
	s.Workers = 1 // every entry through one buffer
	res, err := s.Pass(context.Background(), false)
	if err != nil || res.Err != nil || res.Applied != users {
		t.Fatalf("pass: %v, %v, %d entries written; want %d", err, res.Err, res.Applied, users)
	}
	for i := range users {
		dn := fmt.Sprintf("cn=user%d", i)
		if got := mem.entries[dn].Certificates; len(got) != 1 || !bytes.Equal(got[0], news[i].Raw) {
			t.Errorf("%s holds %d values, not its renewed certificate alone", dn, len(got))
		}
	}
	for _, m := range mem.mods {
		var i int
		if _, err := fmt.Sscanf(m.DN, "cn=user%d", &i); err != nil {
			t.Fatal(err)
		}
		if len(m.Add) != 1 || !bytes.Equal(m.Add[0], news[i].Raw) || len(m.Delete) != 1 || !bytes.Equal(m.Delete[0], olds[i].Raw) {
			t.Errorf("%s: the modify's values are not its own entry's certificates", m.DN)
		}
	}
}
