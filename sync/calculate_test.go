package sync

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgal/certgal/certsource"
)

// fx builds one Calculate input from certificates issued in memory.
type fx struct {
	t       testing.TB
	ours    *testCA
	foreign *testCA // same subject DN as ours, different key
	classes *Classifier
	in      Input
}

func newFx(t testing.TB, ours, foreign *testCA) *fx {
	return &fx{t: t, ours: ours, foreign: foreign,
		classes: NewClassifier(certsource.NewTrust([]*x509.Certificate{ours.cert})),
		in: Input{Now: now, Revoked: map[certsource.IssuerID]map[string]bool{},
			Policy: Policy{ExpiredGrace: 24 * time.Hour, MaxValues: 15, MaxDeletes: 500}},
	}
}

func (f *fx) cert(ca *testCA, l leaf) *Cert {
	x := ca.issue(f.t, l)
	return f.classes.DirectoryValue(x.Raw)
}

// valid is an owned certificate the CA store lists as valid.
func (f *fx) valid(l leaf) *Cert {
	c := f.cert(f.ours, l)
	f.in.Known = append(f.in.Known, Known{Cert: c, Status: certsource.StatusValid})
	return c
}

func (f *fx) revokedInIndex(l leaf) *Cert {
	c := f.cert(f.ours, l)
	f.in.Known = append(f.in.Known, Known{Cert: c, Status: certsource.StatusRevoked})
	return c
}

func (f *fx) crl(c *Cert) {
	if f.in.Revoked[c.Issuer()] == nil {
		f.in.Revoked[c.Issuer()] = map[string]bool{}
	}
	f.in.Revoked[c.Issuer()][c.SerialHex()] = true
}

func (f *fx) user(dn string, addrs []string, values ...*Cert) {
	f.in.Users = append(f.in.Users, User{DN: dn, Addresses: addrs, Values: values})
}

func lines(p *Plan) []string {
	var out []string
	for _, c := range p.Changes() {
		l := strings.TrimSpace(fmt.Sprintf("%s %s %s %s %s", c.Action, c.DN, c.Email, c.Serial, c.Reason))
		if c.Held {
			l += " held"
		}
		out = append(out, l)
	}
	return out
}

const alice = "alice@corp.example"

func mail(a ...string) []string { return a }

func TestCalculate(t *testing.T) {
	ours := newTestCA(t, "Corp Issuing CA")
	foreign := newTestCA(t, "Corp Issuing CA")
	day := 24 * time.Hour
	tests := []struct {
		name    string
		build   func(f *fx)
		want    []string
		blocked string
	}{
		{"first publish", func(f *fx) {
			f.valid(leaf{serial: 0x10, emails: mail(alice)})
			f.user("cn=alice", mail(alice))
		}, []string{"add cn=alice alice@corp.example 10 new"}, ""},
		{"already published: nothing to do", func(f *fx) {
			c := f.valid(leaf{serial: 0x10, emails: mail(alice)})
			f.user("cn=alice", mail(alice), c)
		}, nil, ""},
		{"SAN case differs from mail in ASCII letters", func(f *fx) {
			f.valid(leaf{serial: 0x11, emails: mail("Alice@Corp.EXAMPLE")})
			f.user("cn=alice", mail(alice))
		}, []string{"add cn=alice Alice@Corp.EXAMPLE 11 new"}, ""},
		{"look-alike domain (Cyrillic e) in the directory does not match", func(f *fx) {
			f.valid(leaf{serial: 0x14, emails: mail(alice)})
			f.user("cn=alice", mail("alice@corp.\u0435xample"))
		}, []string{"skip  alice@corp.example 14 no_user"}, ""},
		{"accented directory address does not match its ASCII look-alike", func(f *fx) {
			f.valid(leaf{serial: 0x13, emails: mail("jose@corp.example")})
			f.user("cn=jose", mail("jos\u00e9@corp.example"))
		}, []string{"skip  jose@corp.example 13 no_user"}, ""},
		{"IDN: a Unicode domain in the directory meets the certificate's A-label", func(f *fx) {
			f.valid(leaf{serial: 0x15, emails: mail("alice@xn--bcher-kva.example")})
			f.user("cn=alice", mail("alice@bücher.example"))
		}, []string{"add cn=alice alice@xn--bcher-kva.example 15 new"}, ""},
		{"serverAuth-only EKU is unusable", func(f *fx) {
			f.valid(leaf{serial: 0x16, emails: mail(alice), eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			f.user("cn=alice", mail(alice))
		}, []string{"skip  alice@corp.example 16 unusable_no_email_protection"}, ""},
		{"no EKU at all is usable", func(f *fx) {
			f.valid(leaf{serial: 0x17, emails: mail(alice), noEKU: true})
			f.user("cn=alice", mail(alice))
		}, []string{"add cn=alice alice@corp.example 17 new"}, ""},
		{"RSA without keyEncipherment is unusable", func(f *fx) {
			f.valid(leaf{serial: 0x18, emails: mail(alice), rsa: true, ku: x509.KeyUsageDigitalSignature})
			f.user("cn=alice", mail(alice))
		}, []string{"skip  alice@corp.example 18 unusable_no_key_encipherment"}, ""},
		{"RSA with keyEncipherment is usable", func(f *fx) {
			f.valid(leaf{serial: 0x19, emails: mail(alice), rsa: true})
			f.user("cn=alice", mail(alice))
		}, []string{"add cn=alice alice@corp.example 19 new"}, ""},
		{"EC without keyAgreement is unusable", func(f *fx) {
			f.valid(leaf{serial: 0x1A, emails: mail(alice), ku: x509.KeyUsageDigitalSignature})
			f.user("cn=alice", mail(alice))
		}, []string{"skip  alice@corp.example 1A unusable_no_key_agreement"}, ""},
		{"foreign issuer with our subject DN: not published, its value untouched", func(f *fx) {
			c := f.cert(f.foreign, leaf{serial: 0x1B, emails: mail(alice)})
			f.in.Known = append(f.in.Known, Known{Cert: c})
			old := f.cert(f.foreign, leaf{serial: 0x1C, emails: mail(alice), notAfter: now.Add(-10 * day)})
			f.user("cn=alice", mail(alice), old)
		}, []string{"skip  alice@corp.example 1B untrusted_issuer"}, ""},
		{"self-published value (foreign CA, revoked-looking serial) untouched", func(f *fx) {
			self := f.cert(f.foreign, leaf{serial: 0x20, emails: mail(alice)})
			c := f.valid(leaf{serial: 0x20, emails: mail(alice)})
			f.crl(c)
			f.user("cn=alice", mail(alice), self)
		}, nil, ""},
		{"not yet valid: not published, no skip", func(f *fx) {
			f.valid(leaf{serial: 0x21, emails: mail(alice), notBefore: now.Add(day)})
			f.user("cn=alice", mail(alice))
		}, nil, ""},
		{"not yet valid value in directory stays", func(f *fx) {
			cur := f.valid(leaf{serial: 0x22, emails: mail(alice)})
			next := f.valid(leaf{serial: 0x23, emails: mail(alice), notBefore: now.Add(day)})
			f.user("cn=alice", mail(alice), cur, next)
		}, nil, ""},
		{"expired: not published", func(f *fx) {
			f.valid(leaf{serial: 0x24, emails: mail(alice), notBefore: now.Add(-400 * day), notAfter: now.Add(-time.Hour)})
			f.user("cn=alice", mail(alice))
		}, nil, ""},
		{"expired within grace stays, past grace leaves", func(f *fx) {
			recent := f.valid(leaf{serial: 0x25, emails: mail(alice), notBefore: now.Add(-400 * day), notAfter: now.Add(-time.Hour)})
			old := f.valid(leaf{serial: 0x26, emails: mail(alice), notBefore: now.Add(-400 * day), notAfter: now.Add(-25 * time.Hour)})
			f.user("cn=alice", mail(alice), recent, old)
		}, []string{"remove cn=alice alice@corp.example 26 expired"}, ""},
		{"revoked in index: removed, never added", func(f *fx) {
			r := f.revokedInIndex(leaf{serial: 0x27, emails: mail(alice)})
			f.revokedInIndex(leaf{serial: 0x28, emails: mail("bob@corp.example")})
			f.user("cn=alice", mail(alice), r)
			f.user("cn=bob", mail("bob@corp.example"))
		}, []string{"remove cn=alice alice@corp.example 27 revoked"}, ""},
		{"revoked by CRL only while index says valid", func(f *fx) {
			c := f.valid(leaf{serial: 0x29, emails: mail(alice)})
			f.crl(c)
			f.user("cn=alice", mail(alice), c)
		}, []string{"remove cn=alice alice@corp.example 29 revoked"}, ""},
		{"value unknown to the source: kept and reported", func(f *fx) {
			f.valid(leaf{serial: 0x2A, emails: mail("bob@corp.example")})
			u := f.cert(f.ours, leaf{serial: 0x2B, emails: mail(alice)})
			f.user("cn=alice", mail(alice), u)
			f.user("cn=bob", mail("bob@corp.example"))
		}, []string{"add cn=bob bob@corp.example 2A new", "skip cn=alice alice@corp.example 2B unknown_to_source"}, ""},
		{"value unknown to the source but revoked by CRL leaves", func(f *fx) {
			f.valid(leaf{serial: 0x2C, emails: mail("bob@corp.example")})
			u := f.cert(f.ours, leaf{serial: 0x2D, emails: mail(alice)})
			f.crl(u)
			f.user("cn=alice", mail(alice), u)
		}, []string{"remove cn=alice alice@corp.example 2D revoked", "skip  bob@corp.example 2C no_user"}, ""},
		{"renewal: new in, old out", func(f *fx) {
			old := f.valid(leaf{serial: 0x30, emails: mail(alice), notBefore: now.Add(-300 * day)})
			f.valid(leaf{serial: 0x31, emails: mail(alice), notBefore: now.Add(-day)})
			f.user("cn=alice", mail(alice), old)
		}, []string{"remove cn=alice alice@corp.example 30 superseded", "add cn=alice alice@corp.example 31 new"}, ""},
		{"renewed twice in one day: the latest notBefore wins", func(f *fx) {
			f.valid(leaf{serial: 0x32, emails: mail(alice), notBefore: now.Add(-3 * time.Hour)})
			f.valid(leaf{serial: 0x34, emails: mail(alice), notBefore: now.Add(-1 * time.Hour)})
			f.valid(leaf{serial: 0x33, emails: mail(alice), notBefore: now.Add(-2 * time.Hour)})
			f.user("cn=alice", mail(alice))
		}, []string{"add cn=alice alice@corp.example 34 new"}, ""},
		{"same notBefore: the later notAfter wins", func(f *fx) {
			nb := now.Add(-time.Hour)
			f.valid(leaf{serial: 0x35, emails: mail(alice), notBefore: nb, notAfter: now.Add(100 * day)})
			f.valid(leaf{serial: 0x36, emails: mail(alice), notBefore: nb, notAfter: now.Add(200 * day)})
			f.user("cn=alice", mail(alice))
		}, []string{"add cn=alice alice@corp.example 36 new"}, ""},
		{"keep all: every valid certificate", func(f *fx) {
			f.in.Policy.KeepAll = true
			f.valid(leaf{serial: 0x37, emails: mail(alice), notBefore: now.Add(-2 * day)})
			f.valid(leaf{serial: 0x38, emails: mail(alice), notBefore: now.Add(-day)})
			f.user("cn=alice", mail(alice))
		}, []string{"add cn=alice alice@corp.example 38 new", "add cn=alice alice@corp.example 37 new"}, ""},
		{"16 valid certificates, keep all: the newest 15", func(f *fx) {
			f.in.Policy.KeepAll = true
			for i := range 16 {
				f.valid(leaf{serial: int64(0x40 + i), emails: mail(alice), notBefore: now.Add(-time.Duration(16-i) * time.Hour)})
			}
			f.user("cn=alice", mail(alice))
		}, func() []string {
			var w []string
			for i := 15; i >= 1; i-- {
				w = append(w, fmt.Sprintf("add cn=alice alice@corp.example %X new", 0x40+i))
			}
			return append(w, "skip cn=alice alice@corp.example 40 max_values")
		}(), ""},
		{"max_values counts values certgal does not own", func(f *fx) {
			f.in.Policy.KeepAll = true
			f.in.Policy.MaxValues = 2
			self := f.cert(f.foreign, leaf{serial: 0x50, emails: mail(alice)})
			f.valid(leaf{serial: 0x51, emails: mail(alice), notBefore: now.Add(-2 * day)})
			f.valid(leaf{serial: 0x52, emails: mail(alice), notBefore: now.Add(-day)})
			f.user("cn=alice", mail(alice), self)
		}, []string{"add cn=alice alice@corp.example 52 new", "skip cn=alice alice@corp.example 51 max_values"}, ""},
		{"no room at all: the old value is not removed for nothing", func(f *fx) {
			f.in.Policy.MaxValues = 1
			self := f.cert(f.foreign, leaf{serial: 0x53, emails: mail(alice)})
			old := f.valid(leaf{serial: 0x54, emails: mail(alice), notBefore: now.Add(-2 * day)})
			f.valid(leaf{serial: 0x55, emails: mail(alice), notBefore: now.Add(-day)})
			f.user("cn=alice", mail(alice), self, old)
		}, []string{"skip cn=alice alice@corp.example 55 max_values"}, ""},
		{"address claimed by two users: skipped for both", func(f *fx) {
			f.valid(leaf{serial: 0x60, emails: mail("shared@corp.example")})
			f.user("cn=a", mail("shared@corp.example"))
			f.user("cn=b", mail("SHARED@corp.example"))
		}, []string{"skip  shared@corp.example 60 ambiguous_address"}, ""},
		{"certificate naming two users' addresses: skipped", func(f *fx) {
			f.valid(leaf{serial: 0x61, emails: mail(alice, "bob@corp.example")})
			f.user("cn=alice", mail(alice))
			f.user("cn=bob", mail("bob@corp.example"))
		}, []string{"skip  bob@corp.example 61 ambiguous_address"}, ""},
		{"two addresses of the same user: published once", func(f *fx) {
			f.valid(leaf{serial: 0x62, emails: mail(alice, "al@corp.example")})
			f.user("cn=alice", []string{"SMTP:alice@corp.example", "smtp:al@corp.example", alice})
		}, []string{"add cn=alice alice@corp.example 62 new"}, ""},
		{"no user has the address", func(f *fx) {
			f.valid(leaf{serial: 0x63, emails: mail("ghost@corp.example")})
			f.user("cn=alice", mail(alice))
		}, []string{"skip  ghost@corp.example 63 no_user"}, ""},
		{"proxyAddresses alias matches, other address types do not", func(f *fx) {
			f.valid(leaf{serial: 0x64, emails: mail("al@corp.example")})
			f.valid(leaf{serial: 0x65, emails: mail("sip@corp.example")})
			f.user("cn=alice", []string{"SMTP:alice@corp.example", "smtp:AL@corp.example", "SIP:sip@corp.example", "X500:/o=Corp/cn=alice"})
		}, []string{"add cn=alice al@corp.example 64 new", "skip  sip@corp.example 65 no_user"}, ""},
		{"address with filter metacharacters matches exactly", func(f *fx) {
			odd := `*)(uid=*))(|(uid=*\@corp.example`
			f.valid(leaf{serial: 0x66, emails: mail(odd)})
			f.user("cn=odd", mail(odd))
			f.user("cn=alice", mail(alice))
		}, []string{`add cn=odd *)(uid=*))(|(uid=*\@corp.example 66 new`}, ""},
		{"unparseable directory value untouched", func(f *fx) {
			c := f.valid(leaf{serial: 0x67, emails: mail(alice)})
			junk := f.classes.DirectoryValue([]byte("not a certificate"))
			f.user("cn=alice", mail(alice), junk, c)
		}, nil, ""},
		{"valid value of a certificate now matching no address stays when nothing replaces it", func(f *fx) {
			c := f.valid(leaf{serial: 0x68, emails: mail("old@corp.example")})
			f.user("cn=alice", mail(alice), c)
		}, []string{"skip  old@corp.example 68 no_user", "skip cn=alice old@corp.example 68 not_publishable"}, ""},
		{"address changed and a new certificate issued: the old one is not the user's address any more, left alone", func(f *fx) {
			c := f.valid(leaf{serial: 0x69, emails: mail("old@corp.example"), notBefore: now.Add(-10 * day)})
			f.valid(leaf{serial: 0x6A, emails: mail(alice)})
			f.user("cn=alice", mail(alice), c)
		}, []string{"add cn=alice alice@corp.example 6A new", "skip  old@corp.example 69 no_user", "skip cn=alice old@corp.example 69 not_publishable"}, ""},
		{"revocations are never held back by max_deletes", func(f *fx) {
			f.in.Policy.MaxDeletes = 1
			a := f.revokedInIndex(leaf{serial: 0x70, emails: mail(alice)})
			b := f.revokedInIndex(leaf{serial: 0x71, emails: mail(alice)})
			f.user("cn=alice", mail(alice), a, b)
		}, []string{"remove cn=alice alice@corp.example 70 revoked", "remove cn=alice alice@corp.example 71 revoked"}, ""},
		{"renewals do not count against max_deletes 0", func(f *fx) {
			f.in.Policy.MaxDeletes = 0
			a := f.valid(leaf{serial: 0x72, emails: mail(alice), notBefore: now.Add(-10 * day)})
			f.valid(leaf{serial: 0x76, emails: mail(alice), notBefore: now.Add(-day)})
			f.user("cn=alice", mail(alice), a)
		}, []string{"remove cn=alice alice@corp.example 72 superseded", "add cn=alice alice@corp.example 76 new"}, ""},
		{"an expired key with nothing replacing it counts: over max_deletes only revocations are written", func(f *fx) {
			f.in.Policy.MaxDeletes = 1
			gone := f.revokedInIndex(leaf{serial: 0x7A, emails: mail(alice)})
			a := f.valid(leaf{serial: 0x7B, emails: mail(alice), notAfter: now.Add(-3 * day), notBefore: now.Add(-200 * day)})
			b := f.valid(leaf{serial: 0x7C, emails: mail("bob@corp.example"), notAfter: now.Add(-3 * day), notBefore: now.Add(-200 * day)})
			f.valid(leaf{serial: 0x7D, emails: mail("bob@corp.example")})
			f.user("cn=alice", mail(alice), gone, a)
			f.user("cn=bob", mail("bob@corp.example"), b)
			f.user("cn=carol", mail("carol@corp.example"), f.valid(leaf{serial: 0x7E, emails: mail("carol@corp.example"), notAfter: now.Add(-3 * day), notBefore: now.Add(-200 * day)}))
		}, []string{"remove cn=alice alice@corp.example 7A revoked",
			"remove cn=alice alice@corp.example 7B expired held",
			"remove cn=bob bob@corp.example 7C expired held", "add cn=bob bob@corp.example 7D new held",
			"remove cn=carol carol@corp.example 7E expired held"}, "2 removals would leave an address without its key, more than policy.max_deletes (1)"},
		{"an expired key replaced in the same pass does not count", func(f *fx) {
			f.in.Policy.MaxDeletes = 0
			b := f.valid(leaf{serial: 0x7F, emails: mail("bob@corp.example"), notAfter: now.Add(-3 * day), notBefore: now.Add(-200 * day)})
			f.valid(leaf{serial: 0x80, emails: mail("bob@corp.example")})
			f.user("cn=bob", mail("bob@corp.example"), b)
		}, []string{"remove cn=bob bob@corp.example 7F expired", "add cn=bob bob@corp.example 80 new"}, ""},
		{"empty source while the directory holds owned values: blocked", func(f *fx) {
			c := f.cert(f.ours, leaf{serial: 0x73, emails: mail(alice), notAfter: now.Add(-100 * day), notBefore: now.Add(-200 * day)})
			f.user("cn=alice", mail(alice), c)
		}, []string{"remove cn=alice alice@corp.example 73 expired held"}, "returned no certificates"},
		{"empty source and nothing owned: not blocked", func(f *fx) {
			self := f.cert(f.foreign, leaf{serial: 0x74, emails: mail(alice)})
			f.user("cn=alice", mail(alice), self)
		}, nil, ""},
		{"value larger than the directory accepts: skipped", func(f *fx) {
			f.in.Policy.MaxValueBytes = 100
			f.valid(leaf{serial: 0x76, emails: mail(alice), notBefore: now.Add(-day)})
			f.user("cn=alice", mail(alice))
		}, []string{"skip  alice@corp.example 76 value_too_large"}, ""},
		{"frozen issuer: nothing added, nothing superseded, but what is known revoked leaves", func(f *fx) {
			old := f.valid(leaf{serial: 0x77, emails: mail(alice), notBefore: now.Add(-10 * day)})
			f.valid(leaf{serial: 0x78, emails: mail(alice), notBefore: now.Add(-day)})
			gone := f.revokedInIndex(leaf{serial: 0x79, emails: mail(alice)})
			byCRL := f.valid(leaf{serial: 0x81, emails: mail(alice), notBefore: now.Add(-20 * day)})
			f.crl(byCRL)
			f.in.Frozen = map[certsource.IssuerID]string{old.Issuer(): "stale CRL"}
			f.user("cn=alice", mail(alice), old, gone, byCRL)
		}, []string{"remove cn=alice alice@corp.example 79 revoked", "remove cn=alice alice@corp.example 81 revoked", "skip cn=alice alice@corp.example 78 issuer_frozen"}, ""},
		{"other certificates of the CA on the user are not superseded by a mail key", func(f *fx) {
			card := f.valid(leaf{serial: 0x90, emails: mail(alice), eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, notBefore: now.Add(-9 * day)})
			sign := f.valid(leaf{serial: 0x91, emails: mail(alice), ku: x509.KeyUsageDigitalSignature, notBefore: now.Add(-8 * day)})
			old := f.valid(leaf{serial: 0x92, emails: mail(alice), notBefore: now.Add(-7 * day)})
			f.valid(leaf{serial: 0x93, emails: mail(alice), notBefore: now.Add(-day)})
			f.user("cn=alice", mail(alice), card, sign, old)
		}, []string{"remove cn=alice alice@corp.example 92 superseded", "add cn=alice alice@corp.example 93 new",
			"skip cn=alice alice@corp.example 91 not_publishable", "skip cn=alice alice@corp.example 90 not_publishable",
			"skip  alice@corp.example 90 unusable_no_email_protection", "skip  alice@corp.example 91 unusable_no_key_agreement"}, ""},
		{"a revoked smart-card certificate of the CA leaves; an expired one stays", func(f *fx) {
			card := f.revokedInIndex(leaf{serial: 0x94, emails: mail(alice), eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			gone := f.valid(leaf{serial: 0x95, emails: mail(alice), eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, notAfter: now.Add(-30 * day), notBefore: now.Add(-200 * day)})
			f.user("cn=alice", mail(alice), card, gone)
		}, []string{"remove cn=alice alice@corp.example 94 revoked", "skip cn=alice alice@corp.example 95 not_publishable",
			"skip  alice@corp.example 94 unusable_no_email_protection", "skip  alice@corp.example 95 unusable_no_email_protection"}, ""},
		{"one current key per address: two addresses, a certificate for each", func(f *fx) {
			f.valid(leaf{serial: 0x96, emails: mail("ann@corp.example"), notBefore: now.Add(-2 * day)})
			f.valid(leaf{serial: 0x97, emails: mail("ann@sub.example"), notBefore: now.Add(-day)})
			f.user("cn=ann", mail("ann@corp.example", "ann@sub.example"))
		}, []string{"add cn=ann ann@sub.example 97 new", "add cn=ann ann@corp.example 96 new"}, ""},
		{"one current key per address: each address's old key superseded by its own renewal only", func(f *fx) {
			a1 := f.valid(leaf{serial: 0x98, emails: mail("ann@corp.example"), notBefore: now.Add(-9 * day)})
			b1 := f.valid(leaf{serial: 0x99, emails: mail("ann@sub.example"), notBefore: now.Add(-8 * day)})
			both := f.valid(leaf{serial: 0x9A, emails: mail("ann@corp.example", "ann@sub.example"), notBefore: now.Add(-7 * day)})
			f.valid(leaf{serial: 0x9B, emails: mail("ann@corp.example"), notBefore: now.Add(-day)})
			f.user("cn=ann", mail("ann@corp.example", "ann@sub.example"), a1, b1, both)
		}, []string{"remove cn=ann ann@corp.example 98 superseded", "remove cn=ann ann@sub.example 99 superseded", "add cn=ann ann@corp.example 9B new"}, ""},
		{"legacy certificate with the address in the subject only", func(f *fx) {
			f.valid(leaf{serial: 0x9C, subjectEmail: "Alice@corp.example"})
			f.user("cn=alice", mail(alice))
		}, []string{"add cn=alice Alice@corp.example 9C new"}, ""},
		{"a SAN rfc822Name wins over the subject's emailAddress", func(f *fx) {
			f.valid(leaf{serial: 0x9D, emails: mail("other@corp.example"), subjectEmail: alice})
			f.user("cn=alice", mail(alice))
		}, []string{"skip  other@corp.example 9D no_user"}, ""},
		{"duplicate source entries are one certificate", func(f *fx) {
			c := f.valid(leaf{serial: 0x75, emails: mail(alice)})
			f.in.Known = append(f.in.Known, Known{Cert: c})
			f.user("cn=alice", mail(alice))
		}, []string{"add cn=alice alice@corp.example 75 new"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFx(t, ours, foreign)
			tc.build(f)
			p := Calculate(f.in)
			// Lines of one reason and address are ordered by hash: compare as sets.
			got, want := slices.Sorted(slices.Values(lines(p))), slices.Sorted(slices.Values(tc.want))
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if tc.blocked == "" && p.Blocked != "" || !strings.Contains(p.Blocked, tc.blocked) {
				t.Errorf("blocked = %q, want %q", p.Blocked, tc.blocked)
			}
		})
	}
}

func TestCalculateIsDeterministic(t *testing.T) {
	ours := newTestCA(t, "Corp Issuing CA")
	f := newFx(t, ours, ours)
	for i := range 20 {
		f.valid(leaf{serial: int64(100 + i), emails: mail(fmt.Sprintf("u%d@corp.example", i%7)), notBefore: now.Add(-time.Duration(i%3) * time.Hour)})
	}
	for i := range 7 {
		f.user(fmt.Sprintf("cn=u%d", i), mail(fmt.Sprintf("u%d@corp.example", i)))
	}
	first := strings.Join(lines(Calculate(f.in)), "\n")
	for range 5 {
		// Reverse both inputs: the plan must not depend on their order.
		for i, j := 0, len(f.in.Known)-1; i < j; i, j = i+1, j-1 {
			f.in.Known[i], f.in.Known[j] = f.in.Known[j], f.in.Known[i]
		}
		for i, j := 0, len(f.in.Users)-1; i < j; i, j = i+1, j-1 {
			f.in.Users[i], f.in.Users[j] = f.in.Users[j], f.in.Users[i]
		}
		if got := strings.Join(lines(Calculate(f.in)), "\n"); got != first {
			t.Fatalf("plan changed with input order:\n%s\nvs\n%s", got, first)
		}
	}
}

func TestCalculatePublished(t *testing.T) {
	ours := newTestCA(t, "Corp Issuing CA")
	f := newFx(t, ours, ours)
	old := f.valid(leaf{serial: 1, emails: mail(alice), notBefore: now.Add(-48 * time.Hour)})
	cur := f.valid(leaf{serial: 2, emails: mail(alice), notBefore: now.Add(-time.Hour)})
	f.revokedInIndex(leaf{serial: 3, emails: mail("bob@corp.example")})
	f.user("cn=alice", []string{"SMTP:Alice@Corp.example", "smtp:shared@corp.example", "X500:/o=x"}, old)
	f.user("cn=bob", mail("bob@corp.example", "shared@corp.example"))
	p := Calculate(f.in)
	if len(p.Published) != 1 {
		t.Fatalf("published %d users, want 1 (bob has no valid certificate)", len(p.Published))
	}
	got := p.Published[0]
	if strings.Join(got.Addresses, ",") != "alice@corp.example" {
		t.Errorf("addresses %v: want only alice's own, normalized (shared@ is claimed twice)", got.Addresses)
	}
	if len(got.Certs) != 1 || got.Certs[0] != cur {
		t.Errorf("published certs %v, want the current one only", got.Certs)
	}
}
