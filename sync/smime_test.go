package sync

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/certgal/certgal/certsource"
)

// blob makes a certs-only userSMIMECertificate value of certs and classifies it.
func (f *fx) blob(certs ...*Cert) *Blob {
	f.t.Helper()
	der, err := EncodeSMIME(certs)
	if err != nil {
		f.t.Fatal(err)
	}
	return NewBlob(der, f.classes.Parsed)
}

// derOf parses a Cert's DER back, for foreign certificates whose Cert keeps no DER.
func foreignDER(t *testing.T, ca *testCA, l leaf) []byte {
	t.Helper()
	return ca.issue(t, l).Raw
}

// rawBlob makes a certs-only PKCS#7 of arbitrary DER certificates.
func (f *fx) rawBlob(ders ...[]byte) *Blob {
	f.t.Helper()
	der, err := pkcs7.DegenerateCertificate(bytes.Join(ders, nil))
	if err != nil {
		f.t.Fatal(err)
	}
	return NewBlob(der, f.classes.Parsed)
}

// smimeUser adds a user with certificate values and blobs.
func (f *fx) smimeUser(dn string, addrs []string, values []*Cert, blobs ...*Blob) {
	f.in.Users = append(f.in.Users, User{DN: dn, Addresses: addrs, Values: values, SMIME: blobs})
}

// smimeLines is lines with the way each entry's blobs are written: "replace DN"
// when the attribute is written whole.
func smimeLines(p *Plan) []string {
	out := lines(p)
	for _, e := range p.Entries {
		if e.SMIMEReplace {
			out = append(out, "replace "+e.DN)
		}
	}
	return out
}

func TestCalculateSMIME(t *testing.T) {
	ours := newTestCA(t, "Corp Issuing CA")
	foreign := newTestCA(t, "Corp Issuing CA")
	day := 24 * time.Hour
	type mode struct {
		smime SMIMEMode
		whole bool
	}
	report, removeAD, removeLDAP := mode{SMIMEReport, false}, mode{SMIMERemoveStale, false}, mode{SMIMERemoveStale, true}
	manageAD, manageLDAP := mode{SMIMEManage, false}, mode{SMIMEManage, true}
	// renewal issues alice an old and a new certificate; the new one is published.
	renewal := func(f *fx) (old, cur *Cert) {
		old = f.valid(leaf{serial: 0x10, emails: mail(alice), notBefore: now.Add(-300 * day)})
		cur = f.valid(leaf{serial: 0x11, emails: mail(alice), notBefore: now.Add(-day)})
		return old, cur
	}
	tests := []struct {
		name  string
		mode  mode
		build func(f *fx)
		want  []string
	}{
		// report
		{"report: blob of a superseded certificate", report, func(f *fx) {
			old, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(old))
		}, []string{"skip cn=alice alice@corp.example 10 stale_smime"}},
		{"report: blob of the published certificate is fine", report, func(f *fx) {
			_, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(cur))
		}, nil},
		{"report: blob of old and current certificate is not stale", report, func(f *fx) {
			old, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(old, cur))
		}, nil},
		{"report: a revoked certificate's blob leaves all the same", report, func(f *fx) {
			r := f.revokedInIndex(leaf{serial: 0x12, emails: mail(alice)})
			f.smimeUser("cn=alice", mail(alice), nil, f.blob(r))
		}, []string{"remove cn=alice alice@corp.example 12 stale_smime"}},
		{"report: revoked by CRL only", report, func(f *fx) {
			c := f.valid(leaf{serial: 0x13, emails: mail(alice)})
			f.crl(c)
			f.smimeUser("cn=alice", mail(alice), nil, f.blob(c))
		}, []string{"remove cn=alice alice@corp.example 13 stale_smime"}},
		{"report: a revoked blob beside a foreign one stays where the attribute goes whole", mode{SMIMEReport, true}, func(f *fx) {
			r := f.revokedInIndex(leaf{serial: 0x17, emails: mail(alice)})
			self := foreignDER(t, f.foreign, leaf{serial: 0x18, emails: mail(alice)})
			f.smimeUser("cn=alice", mail(alice), nil, f.blob(r), f.rawBlob(self))
		}, []string{"skip cn=alice alice@corp.example 17 stale_smime"}},
		{"report: expired past grace leaves, within grace stays", report, func(f *fx) {
			old := f.valid(leaf{serial: 0x14, emails: mail(alice), notBefore: now.Add(-400 * day), notAfter: now.Add(-25 * time.Hour)})
			recent := f.valid(leaf{serial: 0x15, emails: mail("bob@corp.example"), notBefore: now.Add(-400 * day), notAfter: now.Add(-time.Hour)})
			f.smimeUser("cn=alice", mail(alice), nil, f.blob(old))
			f.smimeUser("cn=bob", mail("bob@corp.example"), nil, f.blob(recent))
		}, []string{"remove cn=alice alice@corp.example 14 stale_smime"}},
		{"report: a foreign certificate in the blob makes it not ours", report, func(f *fx) {
			old, cur := renewal(f)
			self := foreignDER(t, f.foreign, leaf{serial: 0x16, emails: mail(alice)})
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.rawBlob(old.DER(), self))
		}, nil},
		{"report: the CA chain in a blob does not count", report, func(f *fx) {
			old, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.rawBlob(old.DER(), f.ours.cert.Raw))
		}, []string{"skip cn=alice alice@corp.example 10 stale_smime"}},
		{"report: a blob of CA certificates only is nobody's", report, func(f *fx) {
			_, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.rawBlob(f.ours.cert.Raw))
		}, nil},
		{"report: broken blob", report, func(f *fx) {
			_, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, NewBlob([]byte("\x30\x03junk"), f.classes.Parsed))
		}, []string{"skip cn=alice   broken_smime"}},
		{"report: owned certificate unknown to the source is kept", report, func(f *fx) {
			f.valid(leaf{serial: 0x17, emails: mail("bob@corp.example")})
			u := f.cert(f.ours, leaf{serial: 0x18, emails: mail(alice)})
			f.smimeUser("cn=alice", mail(alice), nil, f.blob(u))
		}, []string{"skip  bob@corp.example 17 no_user"}},
		{"report: valid certificate whose user has nothing else published is kept", report, func(f *fx) {
			c := f.valid(leaf{serial: 0x19, emails: mail("old@corp.example")})
			f.smimeUser("cn=alice", mail(alice), nil, f.blob(c))
		}, []string{"skip  old@corp.example 19 no_user"}},
		{"report: not yet valid certificate is kept", report, func(f *fx) {
			_, cur := renewal(f)
			next := f.valid(leaf{serial: 0x1A, emails: mail(alice), notBefore: now.Add(day)})
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(next))
		}, nil},
		{"report: frozen issuer: a revoked blob leaves all the same, a current one stays", report, func(f *fx) {
			r := f.revokedInIndex(leaf{serial: 0x1B, emails: mail(alice)})
			cur := f.valid(leaf{serial: 0x1D, emails: mail("bob@corp.example")})
			f.in.Frozen = map[certsource.IssuerID]string{r.Issuer(): "stale CRL"}
			f.smimeUser("cn=alice", mail(alice), nil, f.blob(r))
			f.smimeUser("cn=bob", mail("bob@corp.example"), []*Cert{cur}, f.blob(cur))
		}, []string{"remove cn=alice alice@corp.example 1B stale_smime"}},
		{"report: signed Outlook blob (signing and encryption certificate) after renewal", report, func(f *fx) {
			old, cur := renewal(f)
			sign := f.valid(leaf{serial: 0x1C, emails: mail(alice), ku: x509.KeyUsageDigitalSignature, notBefore: now.Add(-300 * day)})
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.signedBlob(f.ours, sign, old))
		}, []string{"skip  alice@corp.example 1C unusable_no_key_agreement"}}, // the signing key is no mail key: the blob is not stale

		// remove-stale
		{"remove-stale: with the renewal, in the same entry plan", removeAD, func(f *fx) {
			old, _ := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{old}, f.blob(old))
		}, []string{"remove cn=alice alice@corp.example 10 superseded", "add cn=alice alice@corp.example 11 new",
			"remove cn=alice alice@corp.example 10 stale_smime"}},
		{"remove-stale: foreign and broken blobs stay", removeAD, func(f *fx) {
			old, cur := renewal(f)
			self := foreignDER(t, f.foreign, leaf{serial: 0x20, emails: mail(alice)})
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.rawBlob(self), f.blob(old), NewBlob([]byte("junk"), f.classes.Parsed))
		}, []string{"remove cn=alice alice@corp.example 10 stale_smime", "skip cn=alice   broken_smime"}},
		{"remove-stale: current blob stays", removeAD, func(f *fx) {
			_, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(cur))
		}, nil},
		{"remove-stale whole: every blob stale: the attribute goes", removeLDAP, func(f *fx) {
			old, cur := renewal(f)
			older := f.valid(leaf{serial: 0x21, emails: mail(alice), notBefore: now.Add(-350 * day)})
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(old), f.blob(older))
		}, []string{"remove cn=alice alice@corp.example 10 stale_smime", "remove cn=alice alice@corp.example 21 stale_smime", "replace cn=alice"}},
		{"remove-stale whole: a foreign blob beside it: only reported", removeLDAP, func(f *fx) {
			old, cur := renewal(f)
			self := foreignDER(t, f.foreign, leaf{serial: 0x22, emails: mail(alice)})
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(old), f.rawBlob(self))
		}, []string{"skip cn=alice alice@corp.example 10 stale_smime"}},
		{"remove-stale whole: a current blob beside it: only reported", removeLDAP, func(f *fx) {
			old, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(old), f.blob(cur))
		}, []string{"skip cn=alice alice@corp.example 10 stale_smime"}},
		{"remove-stale whole: a broken blob beside it: only reported", removeLDAP, func(f *fx) {
			old, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(old), NewBlob([]byte{0x30, 0x00}, f.classes.Parsed))
		}, []string{"skip cn=alice   broken_smime", "skip cn=alice alice@corp.example 10 stale_smime"}},
		{"remove-stale: max_deletes counts blobs that take the last key away", mode{SMIMERemoveStale, false}, func(f *fx) {
			f.in.Policy.MaxDeletes = 0
			x := f.valid(leaf{serial: 0x23, emails: mail(alice), notBefore: now.Add(-400 * day), notAfter: now.Add(-3 * day)})
			f.smimeUser("cn=alice", mail(alice), nil, f.blob(x))
		}, []string{"remove cn=alice alice@corp.example 23 stale_smime held", "blocked"}},
		{"remove-stale: a revoked blob is never held back by max_deletes", mode{SMIMERemoveStale, true}, func(f *fx) {
			f.in.Policy.MaxDeletes = 0
			r := f.revokedInIndex(leaf{serial: 0x24, emails: mail(alice)})
			x := f.valid(leaf{serial: 0x25, emails: mail("bob@corp.example"), notBefore: now.Add(-400 * day), notAfter: now.Add(-3 * day)})
			f.smimeUser("cn=alice", mail(alice), nil, f.blob(r))
			f.smimeUser("cn=bob", mail("bob@corp.example"), nil, f.blob(x))
		}, []string{"remove cn=alice alice@corp.example 24 stale_smime", "remove cn=bob bob@corp.example 25 stale_smime held", "replace cn=alice", "blocked"}},

		// manage
		{"manage: first publish writes the blob with the certificate", manageAD, func(f *fx) {
			renewal(f)
			f.smimeUser("cn=alice", mail(alice), nil)
		}, []string{"add cn=alice alice@corp.example 11 new", "add cn=alice alice@corp.example 11 managed_smime"}},
		{"manage: the exact blob is there: nothing to do", manageAD, func(f *fx) {
			_, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(cur))
		}, nil},
		{"manage: a signed blob of exactly the certificate counts", manageAD, func(f *fx) {
			_, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.signedBlob(f.ours, cur))
		}, nil},
		{"manage: stale blob replaced", manageAD, func(f *fx) {
			old, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(old))
		}, []string{"remove cn=alice alice@corp.example 10 stale_smime", "add cn=alice alice@corp.example 11 managed_smime"}},
		{"manage: owned blob holding more than the desired certificates replaced", manageAD, func(f *fx) {
			old, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(cur, old))
		}, []string{"remove cn=alice alice@corp.example 11 replaced_smime", "add cn=alice alice@corp.example 11 managed_smime"}},
		{"manage: the exact blob stays, another owned one leaves", manageAD, func(f *fx) {
			old, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(old), f.blob(cur))
		}, []string{"remove cn=alice alice@corp.example 10 stale_smime"}},
		{"manage: a foreign blob stays beside the managed one", manageAD, func(f *fx) {
			_, cur := renewal(f)
			self := foreignDER(t, f.foreign, leaf{serial: 0x30, emails: mail(alice)})
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.rawBlob(self))
		}, []string{"add cn=alice alice@corp.example 11 managed_smime"}},
		{"manage: keep all: one blob of every published certificate", mode{SMIMEManage, false}, func(f *fx) {
			f.in.Policy.KeepAll = true
			old, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur, old}, f.blob(cur))
		}, []string{"remove cn=alice alice@corp.example 11 replaced_smime", "add cn=alice alice@corp.example 11 managed_smime"}},
		{"manage: nothing to publish: stale blob removed, no empty blob written", manageAD, func(f *fx) {
			r := f.revokedInIndex(leaf{serial: 0x31, emails: mail(alice)})
			f.smimeUser("cn=alice", mail(alice), nil, f.blob(r))
		}, []string{"remove cn=alice alice@corp.example 31 stale_smime"}},
		{"manage: blob too large for the directory: skipped, stale blob still leaves", manageAD, func(f *fx) {
			// Each certificate fits, the blob of both does not.
			f.in.Policy.KeepAll, f.in.Policy.MaxValueBytes = true, 1000
			a := f.valid(leaf{serial: 0x36, emails: mail(alice), rsa: true, notBefore: now.Add(-2 * day)})
			b := f.valid(leaf{serial: 0x37, emails: mail(alice), notBefore: now.Add(-day)})
			r := f.revokedInIndex(leaf{serial: 0x38, emails: mail(alice)})
			if len(a.DER()) > 1000 || len(b.DER())+len(a.DER()) < 1000 {
				t.Fatalf("certificate sizes %d and %d do not suit the test", len(a.DER()), len(b.DER()))
			}
			f.smimeUser("cn=alice", mail(alice), []*Cert{a, b}, f.blob(r))
		}, []string{"remove cn=alice alice@corp.example 38 stale_smime", "skip cn=alice alice@corp.example 37 value_too_large"}},
		{"manage whole: first publish replaces the attribute", manageLDAP, func(f *fx) {
			_, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur})
		}, []string{"add cn=alice alice@corp.example 11 managed_smime", "replace cn=alice"}},
		{"manage whole: stale blob replaced", manageLDAP, func(f *fx) {
			old, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(old))
		}, []string{"remove cn=alice alice@corp.example 10 stale_smime", "add cn=alice alice@corp.example 11 managed_smime", "replace cn=alice"}},
		{"manage whole: lone exact blob: nothing to do", manageLDAP, func(f *fx) {
			_, cur := renewal(f)
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(cur))
		}, nil},
		{"manage whole: a foreign blob: nothing written", manageLDAP, func(f *fx) {
			old, cur := renewal(f)
			self := foreignDER(t, f.foreign, leaf{serial: 0x32, emails: mail(alice)})
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(old), f.rawBlob(self))
		}, []string{"skip cn=alice alice@corp.example 11 foreign_smime", "skip cn=alice alice@corp.example 10 stale_smime"}},
		{"manage whole: exact blob beside a foreign one: nothing written", manageLDAP, func(f *fx) {
			_, cur := renewal(f)
			self := foreignDER(t, f.foreign, leaf{serial: 0x33, emails: mail(alice)})
			f.smimeUser("cn=alice", mail(alice), []*Cert{cur}, f.blob(cur), f.rawBlob(self))
		}, nil},
		{"manage whole: nothing to publish, every blob stale: the attribute goes", manageLDAP, func(f *fx) {
			r := f.revokedInIndex(leaf{serial: 0x34, emails: mail(alice)})
			f.smimeUser("cn=alice", mail(alice), nil, f.blob(r))
		}, []string{"remove cn=alice alice@corp.example 34 stale_smime", "replace cn=alice"}},
		{"ambiguous address: no blob is written for either user", manageAD, func(f *fx) {
			f.valid(leaf{serial: 0x35, emails: mail("shared@corp.example")})
			f.smimeUser("cn=a", mail("shared@corp.example"), nil)
			f.smimeUser("cn=b", mail("shared@corp.example"), nil)
		}, []string{"skip  shared@corp.example 35 ambiguous_address"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFx(t, ours, foreign)
			f.in.Policy.SMIME, f.in.Policy.SMIMEWholeAttribute = tc.mode.smime, tc.mode.whole
			tc.build(f)
			p := Calculate(f.in)
			got := smimeLines(p)
			if p.Blocked != "" {
				got = append(got, "blocked")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, c := range p.Changes() {
				if strings.Contains(c.Reason, "smime") && c.Attribute != AttrSMIME {
					t.Errorf("%s line without attribute %s", c.Reason, AttrSMIME)
				}
			}
			for _, e := range p.Entries {
				for _, c := range e.SMIMEAdds {
					if c.blob.DER != nil || c.SHA256 != "" {
						t.Errorf("%s: Calculate encoded a blob: it must read no DER", e.DN)
					}
				}
			}
			if errs := p.encodeBlobs(heldDER); len(errs) > 0 {
				t.Fatal(errs)
			}
			checkWrittenBlobs(t, p)
		})
	}
}

// heldDER is the DER a test's certificates hold (see Cert.DER).
func heldDER(c *Cert) ([]byte, error) {
	if c.DER() == nil {
		return nil, errors.New("no DER")
	}
	return c.DER(), nil
}

// checkWrittenBlobs asserts what the plan would write: removed blobs are
// certgal's, an added blob holds exactly the entry's desired certificates.
func checkWrittenBlobs(t *testing.T, p *Plan) {
	t.Helper()
	for _, e := range p.Entries {
		for _, c := range e.SMIMERemoves {
			if !c.blob.owned() {
				t.Errorf("%s: plan removes a blob certgal does not own", e.DN)
			}
		}
		for _, c := range e.SMIMEAdds {
			certs, err := ParseSMIME(c.blob.DER)
			if err != nil {
				t.Fatalf("%s: managed blob does not parse: %v", e.DN, err)
			}
			if len(certs) != len(e.desired) {
				t.Errorf("%s: managed blob holds %d certificates, want %d", e.DN, len(certs), len(e.desired))
			}
			for i, x := range certs {
				if !bytes.Equal(x.Raw, e.desired[i].DER()) {
					t.Errorf("%s: managed blob certificate %d is not the desired one", e.DN, i)
				}
			}
		}
		m, err := e.Modification(func(c *Cert) ([]byte, error) { return c.DER(), nil })
		if err != nil {
			t.Fatalf("%s: %v", e.DN, err)
		}
		if e.SMIMEReplace && len(m.SMIMEDelete) > 0 {
			t.Errorf("%s: a whole-attribute write also deletes single values", e.DN)
		}
		if len(m.SMIMEAdd) != len(e.SMIMEAdds) || (!e.SMIMEReplace && len(m.SMIMEDelete) != len(e.SMIMERemoves)) {
			t.Errorf("%s: modification %d adds %d deletes, plan %d adds %d removes", e.DN,
				len(m.SMIMEAdd), len(m.SMIMEDelete), len(e.SMIMEAdds), len(e.SMIMERemoves))
		}
	}
}

// signedBlob makes a blob like Outlook's: a SignedData signed by the first
// certificate's key (the test key every leaf shares), carrying the others too.
func (f *fx) signedBlob(ca *testCA, certs ...*Cert) *Blob {
	f.t.Helper()
	sd, err := pkcs7.NewSignedData([]byte("S/MIME capabilities"))
	if err != nil {
		f.t.Fatal(err)
	}
	signer, err := x509.ParseCertificate(certs[0].DER())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := sd.AddSigner(signer, ecKey, pkcs7.SignerInfoConfig{}); err != nil {
		f.t.Fatal(err)
	}
	for _, c := range certs[1:] {
		x, err := x509.ParseCertificate(c.DER())
		if err != nil {
			f.t.Fatal(err)
		}
		sd.AddCertificate(x)
	}
	der, err := sd.Finish()
	if err != nil {
		f.t.Fatal(err)
	}
	return NewBlob(der, f.classes.Parsed)
}

func TestEntryPlanWithoutAdds(t *testing.T) {
	ours := newTestCA(t, "Corp Issuing CA")
	f := newFx(t, ours, ours)
	c := f.valid(leaf{serial: 1, emails: mail(alice)})
	b := f.blob(c)
	line := func(a Action, reason string) Change { return newChange(a, "cn=a", alice, c, reason) }
	bline := func(a Action, reason string) Change { return newBlobChange(a, "cn=a", b, reason) }
	tests := []struct {
		name string
		e    EntryPlan
		want string
	}{
		{"revoked and expired removals stay, superseded ones wait for their successor",
			EntryPlan{Adds: []Change{line(ActionAdd, ReasonNew)},
				Removes: []Change{line(ActionRemove, ReasonRevoked), line(ActionRemove, ReasonSuperseded), line(ActionRemove, ReasonExpired)}},
			"remove revoked,remove expired"},
		{"stale blobs leave, replaced ones stay",
			EntryPlan{SMIMEAdds: []Change{bline(ActionAdd, ReasonManagedSMIME)},
				SMIMERemoves: []Change{bline(ActionRemove, ReasonStaleSMIME), bline(ActionRemove, ReasonReplacedSMIME)}},
			"remove stale_smime"},
		{"a whole-attribute replace with a new blob is dropped whole",
			EntryPlan{SMIMEReplace: true, SMIMEAdds: []Change{bline(ActionAdd, ReasonManagedSMIME)},
				SMIMERemoves: []Change{bline(ActionRemove, ReasonStaleSMIME)}},
			""},
		{"a whole-attribute removal stays",
			EntryPlan{SMIMEReplace: true, SMIMERemoves: []Change{bline(ActionRemove, ReasonStaleSMIME)}},
			"remove stale_smime,replace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.e.withoutAdds()
			var got []string
			for _, c := range append(append(r.Removes, r.Adds...), append(r.SMIMERemoves, r.SMIMEAdds...)...) {
				got = append(got, string(c.Action)+" "+c.Reason)
			}
			if r.SMIMEReplace {
				got = append(got, "replace")
			}
			if s := strings.Join(got, ","); s != tc.want {
				t.Errorf("got %q, want %q", s, tc.want)
			}
		})
	}
}

func TestParseSMIME(t *testing.T) {
	ours := newTestCA(t, "Corp Issuing CA")
	f := newFx(t, ours, ours)
	a := f.valid(leaf{serial: 1, emails: mail(alice)})
	b := f.valid(leaf{serial: 2, emails: mail(alice), rsa: true})
	der, err := EncodeSMIME([]*Cert{a, b})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := EncodeSMIME([]*Cert{a, b})
	if !bytes.Equal(der, again) {
		t.Error("EncodeSMIME is not deterministic")
	}
	certs, err := ParseSMIME(der)
	if err != nil || len(certs) != 2 || !bytes.Equal(certs[0].Raw, a.DER()) || !bytes.Equal(certs[1].Raw, b.DER()) {
		t.Fatalf("round trip: %d certificates, %v", len(certs), err)
	}
	for name, bad := range map[string][]byte{
		"empty":             nil,
		"not DER":           []byte("hello"),
		"a certificate":     a.DER(),
		"truncated":         der[:len(der)/2],
		"trailing bytes":    append(append([]byte(nil), der...), 0),
		"empty signed data": mustDegenerate(t, nil),
	} {
		if _, err := ParseSMIME(bad); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func mustDegenerate(t *testing.T, certs []byte) []byte {
	t.Helper()
	der, err := pkcs7.DegenerateCertificate(certs)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestManagedBlobReadsWithOpenSSL checks the blob certgal writes is what
// `openssl pkcs7 -inform DER -print_certs` (and so Outlook's CryptoAPI) reads.
func TestManagedBlobReadsWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl not installed")
		}
		t.Skip("openssl not installed")
	}
	ours := newTestCA(t, "Corp Issuing CA")
	f := newFx(t, ours, ours)
	a := f.valid(leaf{serial: 0xA1, emails: mail(alice)})
	b := f.valid(leaf{serial: 0xA2, emails: mail(alice), rsa: true})
	der, err := EncodeSMIME([]*Cert{a, b})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "blob.p7c")
	if err := os.WriteFile(path, der, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "pkcs7", "-inform", "DER", "-in", path, "-print_certs").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs7: %v\n%s", err, out)
	}
	var got [][]byte
	for rest := out; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		got = append(got, blk.Bytes)
	}
	if len(got) != 2 || !bytes.Equal(got[0], a.DER()) || !bytes.Equal(got[1], b.DER()) {
		t.Errorf("openssl printed %d certificates, want the two in order\n%s", len(got), out)
	}
}

func FuzzParseSMIME(f *testing.F) {
	ca := newTestCA(f, "Corp Issuing CA")
	x := ca.issue(f, leaf{serial: 1, emails: mail(alice)})
	good, err := pkcs7.DegenerateCertificate(x.Raw)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80, 0x00, 0x00, 0x00, 0x00})
	f.Add([]byte("junk"))
	trust := certsource.NewTrust([]*x509.Certificate{ca.cert})
	f.Fuzz(func(t *testing.T, der []byte) {
		certs, err := ParseSMIME(der)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificates")
		}
		b := NewBlob(der, NewClassifier(trust).Parsed)
		if b.Broken != (err != nil) {
			t.Fatalf("Broken = %v with parse error %v", b.Broken, err)
		}
		if b.Broken && b.owned() {
			t.Fatal("a broken blob counts as owned")
		}
	})
}

// TestSMIMESizeIsTheEncodedSize: Calculate checks a planned blob against
// policy.max_value_bytes by smimeSize, before any DER is read; it must be the
// size EncodeSMIME gives, across every DER length boundary.
func TestSMIMESizeIsTheEncodedSize(t *testing.T) {
	for _, sizes := range [][]int{
		{1}, {100}, {127}, {128}, {200}, {255}, {256}, {700, 800}, {1500, 1500, 1500},
		{32000}, {65000}, {65535}, {65536}, {40000, 40000}, {1 << 24},
	} {
		var certs []*Cert
		for i, n := range sizes {
			der := bytes.Repeat([]byte{byte(i + 1)}, n)
			certs = append(certs, certFields{DER: der, Size: n}.cert())
		}
		der, err := EncodeSMIME(certs)
		if err != nil {
			t.Fatal(err)
		}
		if got := smimeSize(certs); got != len(der) {
			t.Errorf("sizes %v: smimeSize %d, encoded %d", sizes, got, len(der))
		}
	}
}

// TestBlobThatCannotBeEncodedFailsItsEntry: under manage, Calculate plans the
// blob without DER; when the CA store cannot give a certificate's DER, the
// entry leaves the plan with an error naming it, rather than being written
// without its blob.
func TestBlobThatCannotBeEncodedFailsItsEntry(t *testing.T) {
	day := 24 * time.Hour
	f := newFx(t, newTestCA(t, "Corp Issuing CA"), newTestCA(t, "Partner CA"))
	f.in.Policy.SMIME = SMIMEManage
	old := f.valid(leaf{serial: 0x10, emails: mail(alice), notBefore: now.Add(-300 * day)})
	cur := f.valid(leaf{serial: 0x11, emails: mail(alice), notBefore: now.Add(-day)})
	cur.issuer = &certIssuer{id: cur.Issuer(), name: cur.IssuerName()} // the store's: no DER, read again when written
	bob := f.valid(leaf{serial: 0x12, emails: mail("bob@corp.example"), notBefore: now.Add(-day)})
	f.smimeUser("cn=alice", mail(alice), []*Cert{old}, f.blob(old))
	f.smimeUser("cn=bob", mail("bob@corp.example"), []*Cert{bob}, f.blob(bob))
	p := Calculate(f.in)
	if len(p.Entries) != 1 || p.Entries[0].DN != "cn=alice" {
		t.Fatalf("entries %v, want cn=alice's only", p.Entries)
	}
	lost := errors.New("file gone")
	errs := p.encodeBlobs(func(*Cert) ([]byte, error) { return nil, lost })
	if len(errs) != 1 || !errors.Is(errs[0], lost) || !strings.Contains(errs[0].Error(), "cn=alice") {
		t.Fatalf("errors %v, want one for cn=alice wrapping %v", errs, lost)
	}
	if len(p.Entries) != 0 {
		t.Errorf("the entry whose blob could not be written is still in the plan: %v", p.Entries)
	}
}
