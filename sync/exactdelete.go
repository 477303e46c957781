package sync

import (
	"strings"
	"unicode"
)

// exactDeletes keeps e's userCertificate removals to the bytes planned. An
// LDAP delete names a value, and the directory deletes what its equality rule
// finds equal to it: on OpenLDAP (certificateExactMatch) any certificate with
// the same issuer and serial, such as one of a re-keyed CA whose serial file
// started again. A removal whose twin the entry holds is skipped and
// reported: the twin may be anyone's. slapd itself refuses to store twins in
// one entry (result 20), so the twin a delete there can meet is one written
// after the read: e gets the CSN the plan was made against, which the write
// asserts (see Modification.CSN), and such a twin makes the write a conflict
// rather than a loss.
func (c *calculator) exactDeletes(u User, e *EntryPlan) []Change {
	e.CSN = u.CSN
	if !c.in.Policy.CertMatchByIssuerSerial || len(e.Removes) == 0 || len(u.Values) < 2 {
		return nil
	}
	var skips []Change
	kept := make([]Change, 0, len(e.Removes))
	for _, r := range e.Removes {
		if twin(r.cert, u.Values) {
			skips = append(skips, newChange(ActionSkip, u.DN, r.Email, r.cert, ReasonSameIssuerSerial))
			continue
		}
		kept = append(kept, r)
	}
	if len(skips) > 0 {
		e.Removes = kept
	}
	return skips
}

// unaddable reports whether the entry cannot take x, not held yet, on a
// directory that matches by issuer and serial: x's twin in values would make
// it refused as a duplicate (result 20) on every pass.
func (c *calculator) unaddable(x *Cert, values certSet) bool {
	return c.in.Policy.CertMatchByIssuerSerial && twin(x, values)
}

// twin reports whether values hold a certificate other than x with x's
// issuer and serial.
func twin(x *Cert, values []*Cert) bool {
	if x.Broken {
		return false
	}
	var name string
	for _, v := range values {
		if v.Hash == x.Hash || v.Broken || v.SerialHex() != x.SerialHex() {
			continue
		}
		if name == "" {
			name = foldDN(x.IssuerName())
		}
		if foldDN(v.IssuerName()) == name {
			return true
		}
	}
	return false
}

// foldDN is the issuer DN as Cert.IssuerName renders it (pkix.Name's String,
// the same for a trusted CA's subject and for a foreign certificate's issuer)
// without case or spaces. slapd compares issuers by its own normalisation,
// which ignores case and insignificant spaces; pkix.Name's rendering also
// forgets the order of RDNs and the string types. So foldDN finds equal at
// least what slapd does, and at worst holds back a removal slapd would have
// kept to its value.
func foldDN(dn string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, strings.ReplaceAll(dn, `\ `, " "))
}
