package ldapgal

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/certgal/certgal/sync"
)

// Modify writes one entry's plan as a single modify: exact values deleted,
// new values added, userCertificate and userSMIMECertificate together (or the
// latter replaced whole, where the dialect allows nothing else). Deletes come
// before adds, so a value deleted and one added with its issuer and serial
// do not meet. Where the server does not delete by bytes (Dialect.CSNAttr), a
// modify that deletes or replaces asserts the CSN the entry was planned
// against (m.CSN): a change since is result 122. Results 20, 16 and 122 mean
// someone else changed the entry first; they are reported as
// sync.ErrConflict. Results 21 and 19 to a modify that adds values mean the
// server refused one of them; they are reported as sync.ErrValueRejected.
func (c *Client) Modify(ctx context.Context, m sync.Modification) error {
	var buf [4]change
	changes := c.changes(buf[:0], m)
	a, err := c.assertCSN(m)
	if err != nil {
		return err
	}
	adds := len(m.Add)+len(m.SMIMEAdd) > 0
	return c.withConn(ctx, func(conn *streamConn) error {
		if err := conn.modify(m.DN, changes, a); err != nil {
			return modifyError(m.DN, c.changed(m), adds, err)
		}
		return nil
	})
}

// changes appends the changes of the modify for m to out (the values are
// m's, not copies).
func (c *Client) changes(out []change, m sync.Modification) []change {
	d := c.dialect
	if len(m.Delete)+len(m.Add) > 0 {
		out = modifyValues(out, d.CertAttr, m.Delete, m.Add)
	}
	switch {
	case m.SMIMEReplace:
		out = append(out, change{ldap.ReplaceAttribute, d.SMIMEAttr, m.SMIMEAdd})
	case len(m.SMIMEDelete)+len(m.SMIMEAdd) > 0:
		out = modifyValues(out, d.SMIMEAttr, m.SMIMEDelete, m.SMIMEAdd)
	}
	return out
}

// changed says what the modify for m changes, for errors to name
// ("userCertificate, replace userSMIMECertificate"); only a failed modify
// needs it.
func (c *Client) changed(m sync.Modification) string {
	d := c.dialect
	var attrs []string
	if len(m.Delete)+len(m.Add) > 0 {
		attrs = append(attrs, d.CertAttr)
	}
	switch {
	case m.SMIMEReplace:
		attrs = append(attrs, "replace "+d.SMIMEAttr)
	case len(m.SMIMEDelete)+len(m.SMIMEAdd) > 0:
		attrs = append(attrs, d.SMIMEAttr)
	}
	return strings.Join(attrs, ", ")
}

// modifyValues deletes the exact values del of attr, then adds add.
func modifyValues(out []change, attr string, del, add [][]byte) []change {
	if len(del) > 0 {
		out = append(out, change{ldap.DeleteAttribute, attr, del})
	}
	if len(add) > 0 {
		out = append(out, change{ldap.AddAttribute, attr, add})
	}
	return out
}

// assertCSN is the assertion of the CSN m was planned against, where the
// server does not delete by bytes and the modify deletes or replaces; none
// (the zero value) otherwise.
func (c *Client) assertCSN(m sync.Modification) (assertionValue, error) {
	attr := c.dialect.CSNAttr
	if attr == "" || (len(m.Delete)+len(m.SMIMEDelete) == 0 && !m.SMIMEReplace) {
		return assertionValue{}, nil
	}
	if m.CSN == "" {
		return assertionValue{}, fmt.Errorf("modify %s: %s: not sent: the entry was read without %s, which a delete on this server must assert; give the bind DN read access to it",
			m.DN, c.changed(m), attr)
	}
	return assertionValue{attr: attr, value: m.CSN}, nil
}

// modify sends one ModifyRequest, encoded into the connection's write
// buffer, and reads its response: nil, or the server's result as an *ldap.Error.
func (c *streamConn) modify(dn string, changes []change, a assertionValue) error {
	id := c.newID()
	c.wbuf = appendModify(c.wbuf[:0], id, dn, changes, a)
	err := c.write(c.wbuf)
	if cap(c.wbuf) > reuseMax {
		c.wbuf = nil
	}
	if err != nil {
		return err
	}
	m, err := c.await(id, ldap.ApplicationModifyResponse)
	if err != nil {
		return err
	}
	return m.result()
}

// modifyError names the entry and attributes of a failed modify, and marks
// a conflict (20, 16, 122) or, to a modify that adds, a rejected value (21, 19).
func modifyError(dn, what string, adds bool, err error) error {
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists),
		ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute),
		ldap.IsErrorWithCode(err, ldap.LDAPResultAssertionFailed):
		return fmt.Errorf("modify %s: %s: %w: %w", dn, what, sync.ErrConflict, err)
	case adds && (ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidAttributeSyntax) ||
		ldap.IsErrorWithCode(err, ldap.LDAPResultConstraintViolation)):
		return fmt.Errorf("modify %s: %s: %w: %w", dn, what, sync.ErrValueRejected, err)
	}
	return fmt.Errorf("modify %s: %s: %w", dn, what, err)
}

// controlTypeAssertion is the LDAP Assertion control (RFC 4528).
const controlTypeAssertion = "1.3.6.1.1.12"
