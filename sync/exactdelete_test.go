package sync

import (
	"strings"
	"testing"
	"time"
)

// On a directory that matches userCertificate by issuer and serial, a value
// whose issuer and serial another value of the entry shares is never removed:
// the delete could take the other one.
func TestExactDeletes(t *testing.T) {
	ours := newTestCA(t, "Corp Issuing CA")
	rekeyed := newTestCA(t, "Corp Issuing CA") // same subject DN, another key: not trusted
	folded := newTestCA(t, "corp  ISSUING ca")
	other := newTestCA(t, "Partner CA")
	day := 24 * time.Hour
	tests := []struct {
		name         string
		issuerSerial bool // Policy.CertMatchByIssuerSerial
		build        func(f *fx)
		want         []string
	}{
		{"revoked value with a foreign twin is kept and reported", true, func(f *fx) {
			x := f.revokedInIndex(leaf{serial: 0x20, emails: mail(alice)})
			f.user("cn=alice", mail(alice), x, f.cert(rekeyed, leaf{serial: 0x20, emails: mail(alice)}))
		}, []string{"skip cn=alice alice@corp.example 20 same_issuer_serial"}},
		{"revoked value with a twin where values match by bytes (AD) leaves", false, func(f *fx) {
			x := f.revokedInIndex(leaf{serial: 0x20, emails: mail(alice)})
			f.user("cn=alice", mail(alice), x, f.cert(rekeyed, leaf{serial: 0x20, emails: mail(alice)}))
		}, []string{"remove cn=alice alice@corp.example 20 revoked"}},
		{"issuer differing in case and spaces is a twin", true, func(f *fx) {
			x := f.revokedInIndex(leaf{serial: 0x21, emails: mail(alice)})
			f.user("cn=alice", mail(alice), x, f.cert(folded, leaf{serial: 0x21, emails: mail(alice)}))
		}, []string{"skip cn=alice alice@corp.example 21 same_issuer_serial"}},
		{"same serial from another issuer is no twin", true, func(f *fx) {
			x := f.revokedInIndex(leaf{serial: 0x22, emails: mail(alice)})
			f.user("cn=alice", mail(alice), x, f.cert(other, leaf{serial: 0x22, emails: mail(alice)}))
		}, []string{"remove cn=alice alice@corp.example 22 revoked"}},
		{"same issuer, another serial is no twin", true, func(f *fx) {
			x := f.revokedInIndex(leaf{serial: 0x23, emails: mail(alice)})
			f.user("cn=alice", mail(alice), x, f.cert(rekeyed, leaf{serial: 0x24, emails: mail(alice)}))
		}, []string{"remove cn=alice alice@corp.example 23 revoked"}},
		{"expired value with a twin is kept", true, func(f *fx) {
			x := f.valid(leaf{serial: 0x25, emails: mail(alice), notBefore: now.Add(-400 * day), notAfter: now.Add(-30 * day)})
			f.user("cn=alice", mail(alice), x, f.cert(rekeyed, leaf{serial: 0x25, emails: mail(alice)}))
		}, []string{"skip cn=alice alice@corp.example 25 same_issuer_serial"}},
		{"superseded value with a twin is kept; the new one is added", true, func(f *fx) {
			old := f.valid(leaf{serial: 0x26, emails: mail(alice), notBefore: now.Add(-60 * day)})
			f.valid(leaf{serial: 0x27, emails: mail(alice)})
			f.user("cn=alice", mail(alice), old, f.cert(rekeyed, leaf{serial: 0x26, emails: mail(alice)}))
		}, []string{"add cn=alice alice@corp.example 27 new", "skip cn=alice alice@corp.example 26 same_issuer_serial"}},
		{"a new certificate whose twin the entry holds is not added: the old one stays", true, func(f *fx) {
			old := f.valid(leaf{serial: 0x29, emails: mail(alice), notBefore: now.Add(-60 * day)})
			f.valid(leaf{serial: 0x2A, emails: mail(alice)})
			f.user("cn=alice", mail(alice), old, f.cert(rekeyed, leaf{serial: 0x2A, emails: mail(alice)}))
		}, []string{"skip cn=alice alice@corp.example 2A same_issuer_serial"}},
		{"the same where values match by bytes (AD): added", false, func(f *fx) {
			old := f.valid(leaf{serial: 0x2B, emails: mail(alice), notBefore: now.Add(-60 * day)})
			f.valid(leaf{serial: 0x2C, emails: mail(alice)})
			f.user("cn=alice", mail(alice), old, f.cert(rekeyed, leaf{serial: 0x2C, emails: mail(alice)}))
		}, []string{"remove cn=alice alice@corp.example 2B superseded", "add cn=alice alice@corp.example 2C new"}},
		{"a broken value is no twin", true, func(f *fx) {
			x := f.revokedInIndex(leaf{serial: 0x28, emails: mail(alice)})
			f.user("cn=alice", mail(alice), x, f.classes.DirectoryValue([]byte("not a certificate")))
		}, []string{"remove cn=alice alice@corp.example 28 revoked"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFx(t, ours, rekeyed)
			f.in.Policy.CertMatchByIssuerSerial = tc.issuerSerial
			tc.build(f)
			got := lines(Calculate(f.in))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// The CSN the entry was read with reaches the modify, which asserts it, also
// when a rejected value makes the pass write the entry again without adds.
func TestExactDeletesCarryTheCSN(t *testing.T) {
	ours := newTestCA(t, "Corp Issuing CA")
	f := newFx(t, ours, ours)
	f.in.Policy.CertMatchByIssuerSerial = true
	x := f.revokedInIndex(leaf{serial: 0x30, emails: mail(alice)})
	f.valid(leaf{serial: 0x31, emails: mail(alice)})
	f.in.Users = append(f.in.Users, User{DN: "cn=alice", Addresses: mail(alice), Values: []*Cert{x}, CSN: "20261206000000.000001Z#000000#000#000000"})
	p := Calculate(f.in)
	if len(p.Entries) != 1 {
		t.Fatalf("plan: %v", lines(p))
	}
	der := func(c *Cert) ([]byte, error) { return []byte(c.SerialHex()), nil }
	for name, e := range map[string]EntryPlan{"plan": p.Entries[0], "without adds": p.Entries[0].withoutAdds()} {
		m, err := e.Modification(der)
		if err != nil || m.CSN != "20261206000000.000001Z#000000#000#000000" || len(m.Delete) != 1 {
			t.Errorf("%s: modification %+v, %v: want the entry's CSN and one delete", name, m, err)
		}
	}
}
