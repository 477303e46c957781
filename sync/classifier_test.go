package sync

import (
	"crypto/sha256"
	"crypto/x509"
	"reflect"
	"testing"

	"github.com/certgal/certgal/certsource"
)

// TestClassifierSourceParsesWhatComesUnparsed: a certificate of an
// UnparsedSource (no Cert) is classified exactly as a parsed one, on every
// core, in input order; one that does not parse is Broken.
func TestClassifierSourceParsesWhatComesUnparsed(t *testing.T) {
	ours, other := newTestCA(t, "Corp CA"), newTestCA(t, "Other CA")
	trust := certsource.NewTrust([]*x509.Certificate{ours.cert})
	var parsed, unparsed []*certsource.Certificate
	for i := range 600 {
		ca := ours
		if i%3 == 0 {
			ca = other
		}
		x := ca.issue(t, leaf{serial: int64(i + 1), emails: []string{"a@corp.example"}})
		parsed = append(parsed, certsource.NewCertificate(x, "test"))
		unparsed = append(unparsed, &certsource.Certificate{DER: x.Raw, Hash: sha256.Sum256(x.Raw)})
	}
	broken := []byte("not a certificate")
	unparsed = append(unparsed, &certsource.Certificate{DER: broken, Hash: sha256.Sum256(broken)})

	want := NewClassifier(trust).SourceAll(parsed)
	got := NewClassifier(trust).SourceAll(unparsed)
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
