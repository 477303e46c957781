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
	req, what := c.modifyRequest(m)
	if err := c.assertCSN(req, m, what); err != nil {
		return err
	}
	adds := len(m.Add)+len(m.SMIMEAdd) > 0
	return c.withConn(ctx, func(conn *ldap.Conn) error {
		if err := conn.Modify(req); err != nil {
			return modifyError(m.DN, what, adds, err)
		}
		return nil
	})
}

// modifyRequest is the modify for m, and what it changes for errors to
// name ("userCertificate, replace userSMIMECertificate").
func (c *Client) modifyRequest(m sync.Modification) (*ldap.ModifyRequest, string) {
	d := c.dialect
	req := ldap.NewModifyRequest(m.DN, nil)
	var attrs []string
	if len(m.Delete)+len(m.Add) > 0 {
		modifyValues(req, d.CertAttr, m.Delete, m.Add)
		attrs = append(attrs, d.CertAttr)
	}
	switch {
	case m.SMIMEReplace:
		req.Replace(d.SMIMEAttr, toStrings(m.SMIMEAdd))
		attrs = append(attrs, "replace "+d.SMIMEAttr)
	case len(m.SMIMEDelete)+len(m.SMIMEAdd) > 0:
		modifyValues(req, d.SMIMEAttr, m.SMIMEDelete, m.SMIMEAdd)
		attrs = append(attrs, d.SMIMEAttr)
	}
	return req, strings.Join(attrs, ", ")
}

// modifyValues deletes the exact values del of attr, then adds add.
func modifyValues(req *ldap.ModifyRequest, attr string, del, add [][]byte) {
	if len(del) > 0 {
		req.Delete(attr, toStrings(del))
	}
	if len(add) > 0 {
		req.Add(attr, toStrings(add))
	}
}

// assertCSN makes req assert the CSN m was planned against, where the
// server does not delete by bytes and req deletes or replaces.
func (c *Client) assertCSN(req *ldap.ModifyRequest, m sync.Modification, what string) error {
	attr := c.dialect.CSNAttr
	if attr == "" || (len(m.Delete)+len(m.SMIMEDelete) == 0 && !m.SMIMEReplace) {
		return nil
	}
	if m.CSN == "" {
		return fmt.Errorf("modify %s: %s: not sent: the entry was read without %s, which a delete on this server must assert; give the bind DN read access to it",
			m.DN, what, attr)
	}
	ctl, err := assertion(attr, m.CSN)
	if err != nil {
		return fmt.Errorf("modify %s: %s: %w", m.DN, what, err)
	}
	req.Controls = append(req.Controls, ctl)
	return nil
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

func toStrings(values [][]byte) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// controlTypeAssertion is the LDAP Assertion control (RFC 4528).
const controlTypeAssertion = "1.3.6.1.1.12"

// assertion is a critical Assertion control that attr equals value: the
// server performs the operation only then, and answers 122 otherwise. Its
// value is the BER encoding of the filter.
func assertion(attr, value string) (ldap.Control, error) {
	f, err := ldap.CompileFilter("(" + attr + "=" + ldap.EscapeFilter(value) + ")")
	if err != nil {
		return nil, fmt.Errorf("assertion %s=%q: %w", attr, value, err)
	}
	return ldap.NewControlString(controlTypeAssertion, true, string(f.Bytes())), nil
}
