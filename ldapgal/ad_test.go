package ldapgal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/ldapgal/adtest"
	"github.com/certgal/certgal/sync"
)

// adConfig is certgal's directory section for the DC, with the test's OU as
// base DN so it sees only its own users, and dialect auto.
func adConfig(dc *adtest.DC, ou string) config.Directory {
	cfg := config.Default().Dir
	cfg.URL, cfg.CAFile, cfg.BaseDN = dc.URL, dc.CAFile, ou
	cfg.BindDN, cfg.BindPassword = dc.BindDN, config.Secret(dc.BindPW)
	cfg.Dialect = DialectAuto
	cfg.Timeout = 10 * time.Second
	return cfg
}

func TestADDialectAndPagedUsers(t *testing.T) {
	dc := adtest.Need(t)
	ou := dc.NewOU(t)
	for i := range 5 {
		sam := fmt.Sprintf("ldg-page%d", i)
		dc.AddUser(t, ou, sam, sam+"@corp.example", "SMTP:"+sam+"@corp.example", "smtp:alias-"+sam+"@corp.example", "X500:/o=Corp/cn="+sam)
	}
	alice := dc.AddUser(t, ou, "ldg-alice", "", "SMTP:Alice@Corp.example")
	blob := []byte("\x30\x03any")
	cert := selfSigned(t, "alice@corp.example")
	dc.SetCerts(t, alice, cert)
	dc.SetSMIME(t, alice, blob)

	cfg := adConfig(dc, ou)
	cfg.PageSize = 2
	c, err := Open(context.Background(), cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := c.Dialect()
	if d.Name != DialectAD || d.CertAttr != "userCertificate" || d.MaxValueBytes != 32768 {
		t.Fatalf("dialect auto on Samba: %+v, want ad", d)
	}
	got := map[string]sync.Entry{}
	if err := c.Users(context.Background(), func(e sync.Entry) error { got[strings.ToLower(e.DN)] = keepEntry(e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("%d users streamed in pages of 2, want 6", len(got))
	}
	e := got[strings.ToLower(alice)]
	if !slices.Equal(e.Addresses, []string{"SMTP:Alice@Corp.example"}) {
		t.Errorf("alice's addresses (no mail, proxyAddresses only): %q", e.Addresses)
	}
	if len(e.Certificates) != 1 || !bytes.Equal(e.Certificates[0], cert) || len(e.SMIME) != 1 || !bytes.Equal(e.SMIME[0], blob) {
		t.Errorf("alice's values: %d certificates, %d blobs", len(e.Certificates), len(e.SMIME))
	}
	p := got[strings.ToLower("CN=ldg-page3,"+ou)]
	if len(p.Addresses) != 4 {
		t.Errorf("page3's addresses: %q, want mail and three proxyAddresses", p.Addresses)
	}
}

func TestADModify(t *testing.T) {
	dc := adtest.Need(t)
	ou := dc.NewOU(t)
	dn := dc.AddUser(t, ou, "ldg-bob", "bob@corp.example")
	mine, theirs := selfSigned(t, "bob@corp.example"), selfSigned(t, "bob@corp.example")
	foreignBlob, staleBlob, newBlob := []byte("\x30\x03foreign"), []byte("\x30\x03stale"), []byte("\x30\x03new")
	dc.SetCerts(t, dn, theirs)
	dc.SetSMIME(t, dn, foreignBlob, staleBlob)
	c, err := Open(context.Background(), adConfig(dc, ou), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	// Certificates and blobs in one modify; exact values, the others untouched.
	err = c.Modify(ctx, sync.Modification{DN: dn, Add: [][]byte{mine}, SMIMEDelete: [][]byte{staleBlob}, SMIMEAdd: [][]byte{newBlob}})
	if err != nil {
		t.Fatalf("modify: %v", err)
	}
	if got := dc.SMIME(t, dn); len(got) != 2 || !slices.ContainsFunc(got, func(v []byte) bool { return bytes.Equal(v, foreignBlob) }) ||
		!slices.ContainsFunc(got, func(v []byte) bool { return bytes.Equal(v, newBlob) }) {
		t.Errorf("blobs after modify: %q", got)
	}
	if got := dc.Certs(t, dn); len(got) != 2 {
		t.Errorf("%d certificates, want 2", len(got))
	}

	// Someone else converged it first: 20 and 16 are conflicts.
	err = c.Modify(ctx, sync.Modification{DN: dn, SMIMEDelete: [][]byte{staleBlob}})
	if !errors.Is(err, sync.ErrConflict) || !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		t.Errorf("deleting an absent blob: %v, want ErrConflict wrapping 16", err)
	}
	err = c.Modify(ctx, sync.Modification{DN: dn, Add: [][]byte{mine}})
	if !errors.Is(err, sync.ErrConflict) || !ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
		t.Errorf("adding a present certificate: %v, want ErrConflict wrapping 20", err)
	}

	// Above rangeUpper: result 21, reported as a refused value; nothing of the modify is written.
	big := bytes.Repeat([]byte{0xa5}, 32769)
	err = c.Modify(ctx, sync.Modification{DN: dn, Delete: [][]byte{mine}, SMIMEAdd: [][]byte{big}})
	if !errors.Is(err, sync.ErrValueRejected) || !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidAttributeSyntax) {
		t.Errorf("oversized blob: %v, want ErrValueRejected wrapping 21", err)
	}
	if got := dc.Certs(t, dn); len(got) != 2 {
		t.Errorf("a refused modify changed the entry: %d certificates, want 2", len(got))
	}
}

func TestADConnectionErrors(t *testing.T) {
	dc := adtest.Need(t)
	ou := dc.NewOU(t)
	cfg := adConfig(dc, ou)
	cfg.BindPassword = "wrong"
	_, err := Open(context.Background(), cfg, quiet())
	if err == nil || !strings.Contains(err.Error(), "Invalid Credentials") || !strings.Contains(err.Error(), "data 52e") {
		t.Errorf("wrong password: %v", err)
	}
	cfg = adConfig(dc, ou)
	cfg.CAFile = dc.OtherCAFile
	_, err = Open(context.Background(), cfg, quiet())
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("server certificate from another CA: %v", err)
	}
	cfg = adConfig(dc, ou)
	cfg.URL, cfg.StartTLS = strings.Replace(dc.URL, "ldaps://", "ldap://", 1), true
	cfg.URL = strings.TrimSuffix(cfg.URL, ":636") + ":389"
	if c, err := Open(context.Background(), cfg, quiet()); err != nil {
		t.Errorf("StartTLS on 389: %v", err)
	} else {
		c.Close()
	}
}
