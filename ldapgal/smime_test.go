package ldapgal

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/certgal/certgal/ldapgal/ldaptest"
	"github.com/certgal/certgal/sync"
)

func TestDialectLimits(t *testing.T) {
	ad, _ := DialectByName(DialectAD)
	ol, _ := DialectByName(DialectOpenLDAP)
	if ad.MaxValueBytes != 32768 || ad.SMIMEWholeAttribute || ad.CertAttr != "userCertificate" {
		t.Errorf("ad dialect: %+v", ad)
	}
	if ol.MaxValueBytes != 0 || !ol.SMIMEWholeAttribute || ol.CertAttr != "userCertificate;binary" {
		t.Errorf("openldap dialect: %+v", ol)
	}
}

// slapdSMIME reads dn's userSMIMECertificate values straight from slapd.
func slapdSMIME(t *testing.T, s *ldaptest.Slapd, dn string) [][]byte {
	t.Helper()
	res, err := s.Conn(t).Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"userSMIMECertificate"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return res.Entries[0].GetRawAttributeValues("userSMIMECertificate")
}

// On OpenLDAP userSMIMECertificate has no equality rule: certgal replaces it
// whole, in the same modify as the certificates.
func TestModifySMIMEOnOpenLDAP(t *testing.T) {
	s := ldaptest.StartSlapd(t)
	dn := s.AddUser(t, "people", "alice", "alice@corp.example")
	cert := selfSigned(t, "alice@corp.example")
	c, err := Open(context.Background(), dirConfig(s), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	before := s.ModifyCount(t)

	blob1, blob2 := []byte("\x30\x03blob-one"), []byte("\x30\x03blob-two")
	if err := c.Modify(ctx, sync.Modification{DN: dn, Add: [][]byte{cert}, SMIMEReplace: true, SMIMEAdd: [][]byte{blob1}, CSN: readCSN(t, c, dn)}); err != nil {
		t.Fatalf("certificate and blob in one modify: %v", err)
	}
	if err := c.Modify(ctx, sync.Modification{DN: dn, SMIMEReplace: true, SMIMEAdd: [][]byte{blob2}, CSN: readCSN(t, c, dn)}); err != nil {
		t.Fatalf("replace the blob: %v", err)
	}
	e, err := c.User(ctx, dn)
	if err != nil || len(e.SMIME) != 1 || string(e.SMIME[0]) != string(blob2) || len(e.Certificates) != 1 {
		t.Fatalf("read back: %d blobs, %d certificates, %v", len(e.SMIME), len(e.Certificates), err)
	}
	if err := c.Modify(ctx, sync.Modification{DN: dn, SMIMEReplace: true, CSN: readCSN(t, c, dn)}); err != nil {
		t.Fatalf("replace with nothing: %v", err)
	}
	if got := slapdSMIME(t, s, dn); len(got) != 0 {
		t.Errorf("after removing the attribute: %d blobs", len(got))
	}
	// Replacing an absent attribute with nothing is no error: a re-run converges.
	if err := c.Modify(ctx, sync.Modification{DN: dn, SMIMEReplace: true, CSN: readCSN(t, c, dn)}); err != nil {
		t.Errorf("remove an absent attribute: %v", err)
	}
	if n := s.ModifyCount(t) - before; n != 4 {
		t.Errorf("server completed %d modify operations, want 4", n)
	}

	// Why the dialect writes whole: an exact delete is refused (18).
	c.Modify(ctx, sync.Modification{DN: dn, SMIMEReplace: true, SMIMEAdd: [][]byte{blob1}, CSN: readCSN(t, c, dn)})
	err = c.Modify(ctx, sync.Modification{DN: dn, SMIMEDelete: [][]byte{blob1}, CSN: readCSN(t, c, dn)})
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultInappropriateMatching) {
		t.Errorf("exact delete on OpenLDAP: %v, want result 18", err)
	}
}

// A value the server refuses is reported as sync.ErrValueRejected only when
// the modify adds something; the message names the attributes.
func TestModifyErrorsNameTheAttributes(t *testing.T) {
	_, dn, c := aliceOnSlapd(t)
	// slapd checks the certificate syntax: junk is result 21.
	err := c.Modify(context.Background(), sync.Modification{DN: dn, Add: [][]byte{[]byte("not a certificate")}})
	if !errors.Is(err, sync.ErrValueRejected) || !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidAttributeSyntax) ||
		!strings.Contains(err.Error(), "userCertificate;binary") {
		t.Errorf("junk certificate: %v, want ErrValueRejected wrapping result 21", err)
	}
}
