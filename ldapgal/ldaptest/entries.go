package ldaptest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// CertAttr is the attribute OpenLDAP stores certificates in: the ;binary option is required
// (plain userCertificate in a modify gets result 17) and reads come back under this name.
const CertAttr = "userCertificate;binary"

const (
	dialTimeout = 5 * time.Second
	opTimeout   = 30 * time.Second
)

// Conn returns a connection over ldap:// bound as the rootdn, closed when t ends.
func (s *Slapd) Conn(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := s.dial()
	if err != nil {
		t.Fatalf("ldaptest: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *Slapd) dial() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: dialTimeout}))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", s.URL, err)
	}
	c.SetTimeout(opTimeout)
	if err := c.Bind(s.RootDN, s.RootPW); err != nil {
		c.Close()
		return nil, fmt.Errorf("bind %s as %s: %w", s.URL, s.RootDN, err)
	}
	return c, nil
}

// do runs f on a fresh root connection, so the helpers never disturb a connection the test uses.
func (s *Slapd) do(t testing.TB, what string, f func(*ldap.Conn) error) {
	t.Helper()
	c, err := s.dial()
	if err != nil {
		t.Fatalf("ldaptest: %s: %v", what, err)
	}
	defer c.Close()
	if err := f(c); err != nil {
		t.Fatalf("ldaptest: %s: %v", what, err)
	}
}

// AddOU creates ou=<name>,<Suffix> if it does not exist yet and returns its DN.
func (s *Slapd) AddOU(t testing.TB, name string) string {
	t.Helper()
	dn := "ou=" + ldap.EscapeDN(name) + "," + s.Suffix
	s.do(t, "add "+dn, func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"organizationalUnit"})
		req.Attribute("ou", []string{name})
		if err := c.Add(req); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			return err
		}
		return nil
	})
	return dn
}

// AddUser creates the inetOrgPerson uid=<uid>,ou=<ou>,<Suffix> (creating the OU if missing) with
// cn and sn set to uid and one mail value per address, and returns its DN.
func (s *Slapd) AddUser(t testing.TB, ou, uid string, mails ...string) string {
	t.Helper()
	dn := "uid=" + ldap.EscapeDN(uid) + "," + s.AddOU(t, ou)
	s.do(t, "add "+dn, func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"inetOrgPerson"})
		req.Attribute("uid", []string{uid})
		req.Attribute("cn", []string{uid})
		req.Attribute("sn", []string{uid})
		if len(mails) > 0 {
			req.Attribute("mail", mails)
		}
		return c.Add(req)
	})
	return dn
}

// Certs returns the userCertificate;binary values of dn in the server's order; nil when it has
// none.
func (s *Slapd) Certs(t testing.TB, dn string) [][]byte {
	t.Helper()
	var certs [][]byte
	s.do(t, "read "+CertAttr+" of "+dn, func(c *ldap.Conn) error {
		res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{CertAttr}, nil))
		if err != nil {
			return err
		}
		if len(res.Entries) != 1 {
			return fmt.Errorf("got %d entries", len(res.Entries))
		}
		if vals := res.Entries[0].GetRawAttributeValues(CertAttr); len(vals) > 0 {
			certs = vals
		}
		return nil
	})
	return certs
}

// SetCerts replaces the userCertificate;binary values of dn with ders in one modify (none
// removes the attribute), e.g. to seed values published by someone else. slapd checks the
// certificate syntax: the values must be DER certificates.
func (s *Slapd) SetCerts(t testing.TB, dn string, ders ...[]byte) {
	t.Helper()
	s.do(t, "replace "+CertAttr+" of "+dn, func(c *ldap.Conn) error {
		vals := make([]string, len(ders))
		for i, d := range ders {
			vals[i] = string(d)
		}
		req := ldap.NewModifyRequest(dn, nil)
		req.Replace(CertAttr, vals)
		return c.Modify(req)
	})
}
