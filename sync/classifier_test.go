package sync

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/certgal/certgal/certsource"
)

// TestClassifierSourceParsesWhatComesUnparsed: a certificate of an
// UnparsedSource (no Cert) is classified exactly as a parsed one, on every
// core, in input order; one that does not parse is Broken.
func TestClassifierSourceParsesWhatComesUnparsed(t *testing.T) {
	ours, other := newTestCA(t, "Corp CA"), newTestCA(t, "Other CA")
	trust := certsource.NewTrust([]*x509.Certificate{ours.cert})
	var parsed, unparsed []*certsource.Certificate
	stored := map[[32]byte][]byte{}
	load := func(c *certsource.Certificate) ([]byte, error) {
		if der, ok := stored[c.Hash]; ok {
			return der, nil
		}
		return nil, errors.New("not stored")
	}
	for i := range 600 {
		ca := ours
		if i%3 == 0 {
			ca = other
		}
		x := ca.issue(t, leaf{serial: int64(i + 1), emails: []string{"a@corp.example"}})
		parsed = append(parsed, certsource.NewCertificate(x, "test"))
		// Each comes without its DER, which load reads.
		u := &certsource.Certificate{Hash: sha256.Sum256(x.Raw)}
		stored[u.Hash] = x.Raw
		unparsed = append(unparsed, u)
	}
	broken := []byte("not a certificate")
	stored[sha256.Sum256(broken)] = broken
	unparsed = append(unparsed, &certsource.Certificate{Hash: sha256.Sum256(broken)})
	// 601 certificates are fewer than parallelMin: make them go to every core.
	defer func(n int) { parallelMin = n }(parallelMin)
	parallelMin = 1

	want, err := NewClassifier(trust).SourceAll(parsed, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewClassifier(trust).SourceAll(unparsed, load)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("certificate %d: unparsed %+v, parsed %+v", i, got[i], want[i])
		}
		if got[i].Owned() != (i%3 != 0) {
			t.Fatalf("certificate %d: owned %v", i, got[i].Owned())
		}
	}
	if last := got[len(got)-1]; !last.Broken || last.Hash != sha256.Sum256(broken) {
		t.Errorf("a value that does not parse: %+v", last)
	}
}

// TestCalculateOnEveryCoreIsCalculate: planning users on several goroutines
// gives the very plan of planning them in turn.
func TestCalculateOnEveryCoreIsCalculate(t *testing.T) {
	ca := newTestCA(t, "Corp CA")
	trust := certsource.NewTrust([]*x509.Certificate{ca.cert})
	k := NewClassifier(trust)
	in := Input{Policy: Policy{MaxValues: 15, MaxDeletes: 1000}, Now: now, Revoked: map[certsource.IssuerID]map[string]bool{}}
	for i := range 300 {
		email := fmt.Sprintf("u%d@corp.example", i)
		x := ca.issue(t, leaf{serial: int64(2*i + 1), emails: []string{email}})
		cur := k.Parsed(x, sha256.Sum256(x.Raw))
		old := ca.issue(t, leaf{serial: int64(2*i + 2), emails: []string{email}, notBefore: now.Add(-300 * 24 * time.Hour)})
		oldCert := k.Parsed(old, sha256.Sum256(old.Raw))
		in.Known = append(in.Known, Known{Cert: cur}, Known{Cert: oldCert})
		u := User{DN: fmt.Sprintf("uid=u%d,dc=corp", i), Addresses: []string{email}}
		switch i % 3 {
		case 1:
			u.Values = []*Cert{oldCert} // superseded: leaves, cur arrives
		case 2:
			u.Values = []*Cert{cur} // converged
		}
		in.Users = append(in.Users, u)
	}
	defer func(n int) { parallelMin = n }(parallelMin)
	parallelMin = 1 << 30
	want := Calculate(in)
	parallelMin = 1
	got := Calculate(in)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("planned on several goroutines:\n%+v\nin turn:\n%+v", got.Changes(), want.Changes())
	}
	if adds, removes, _ := want.Counts(); adds != 200 || removes != 100 {
		t.Fatalf("plan: %d adds, %d removes", adds, removes)
	}
}

// TestClassifierForgetsWhatTwoPassesDidNotUse: a certificate stays while the
// last two passes used it; what the file cache held stays until forgetSaved,
// however many passes fail before one completes.
func TestClassifierForgetsWhatTwoPassesDidNotUse(t *testing.T) {
	ca := newTestCA(t, "Corp Issuing CA")
	trust := certsource.NewTrust([]*x509.Certificate{ca.cert})
	a := ca.issue(t, leaf{serial: 1, emails: []string{"a@corp.example"}})
	b := ca.issue(t, leaf{serial: 2, emails: []string{"b@corp.example"}})
	fromFile := certFields{Hash: [32]byte{7}, SerialHex: "07"}.cert()

	k := NewClassifier(trust)
	k.certs.put(fromFile) // as LoadFile leaves it: used by no pass
	k.DirectoryValue(a.Raw)
	k.DirectoryValue(b.Raw)
	k.EndPass() // 1: both used
	k.DirectoryValue(a.Raw)
	k.EndPass() // 2: b used by the pass before
	if k.known(sha256.Sum256(b.Raw)) == nil {
		t.Fatal("a certificate the previous pass used was forgotten")
	}
	k.EndPass() // 3: b used by this pass again, a by the one before
	k.EndPass() // 4: neither
	k.EndPass() // 5
	if k.certs.len() != 1 || k.certs.get(fromFile.Hash) != fromFile {
		t.Fatalf("after two passes without them: %d certificates kept, want only the file's", k.certs.len())
	}
	k.forgetSaved()
	if k.certs.len() != 0 {
		t.Fatalf("after forgetSaved: %d certificates kept", k.certs.len())
	}
}

// TestClassifierSourceFailsWhenTheStoreCannotGiveTheDERAgain: a certificate
// whose DER the store cannot read again (a file replaced or unreadable since
// it was listed) is no broken certificate: SourceAll fails, naming it, and
// nothing is cached, so the next pass classifies it from its DER.
func TestClassifierSourceFailsWhenTheStoreCannotGiveTheDERAgain(t *testing.T) {
	ca := newTestCA(t, "Corp CA")
	x := ca.issue(t, leaf{serial: 7, emails: []string{"a@corp.example"}})
	c := &certsource.Certificate{Hash: sha256.Sum256(x.Raw)}
	k := NewClassifier(certsource.NewTrust([]*x509.Certificate{ca.cert}))
	gone := errors.New("newcerts/07.pem: no such file")
	if _, err := k.SourceAll([]*certsource.Certificate{c}, func(*certsource.Certificate) ([]byte, error) { return nil, gone }); !errors.Is(err, gone) {
		t.Fatalf("SourceAll with the file gone: %v, want an error wrapping %v", err, gone)
	}
	got, err := k.SourceAll([]*certsource.Certificate{c}, func(*certsource.Certificate) ([]byte, error) { return x.Raw, nil })
	if err != nil || got[0].Broken || !got[0].Owned() {
		t.Fatalf("next pass: %+v, %v; want the certificate classified, not a broken one cached", got, err)
	}
}
