package ldapgal

import (
	"fmt"
	"strings"

	"github.com/certgal/certgal/sync"
)

// entryMapper is the one set of rules that turns a directory entry into a
// sync.Entry, for every read (Users, User): which attributes a search asks for, and which field each one's
// values go to.
type entryMapper struct {
	// cert, smime and csn are the dialect's attribute names without options:
	// a search asks for "userCertificate;binary", and a server may answer with
	// or without the option, in any case. csn is "" where the dialect has none.
	cert, smime, csn string
	match            []string // the attributes that hold addresses
	requested        []string // what a search asks for
}

func newEntryMapper(d Dialect, match []string) entryMapper {
	requested := append([]string{d.CertAttr, d.SMIMEAttr}, match...)
	if d.CSNAttr != "" {
		requested = append(requested, d.CSNAttr)
	}
	return entryMapper{
		cert:      withoutOptions(d.CertAttr),
		smime:     withoutOptions(d.SMIMEAttr),
		csn:       withoutOptions(d.CSNAttr),
		match:     match,
		requested: requested,
	}
}

// withoutOptions strips attribute options: "userCertificate;binary" → "userCertificate".
func withoutOptions(attr string) string {
	name, _, _ := strings.Cut(attr, ";")
	return name
}

// values is one attribute's values: the content of the SET OF
// AttributeValue that the streaming reader decodes in place. A struct rather
// than a func, so that the compiler sees the values handed on do not escape:
// a closure would cost the streaming reader allocations per entry.
type values struct {
	set []byte
}

// each calls fn with every value in turn.
func (vs values) each(fn func(v []byte)) error {
	return eachValue(vs.set, fn)
}

// add puts the values of the attribute called name into out. Certificates
// and blobs are kept as given (on the streaming path, slices of the
// message's buffer); addresses and the CSN are copied into strings, from a's
// chunks when a is not nil.
func (m *entryMapper) add(out *sync.Entry, name string, vs values, a *entryArena) error {
	name = withoutOptions(name)
	switch {
	case strings.EqualFold(name, m.cert):
		return vs.each(func(v []byte) { out.Certificates = append(out.Certificates, v) })
	case strings.EqualFold(name, m.smime):
		return vs.each(func(v []byte) { out.SMIME = append(out.SMIME, v) })
	case m.csn != "" && strings.EqualFold(name, m.csn):
		// Single-valued; a second value would make the CSN unusable to assert.
		n, csn := 0, []byte(nil)
		err := vs.each(func(v []byte) { n, csn = n+1, v })
		out.CSN = ""
		if n == 1 {
			out.CSN = a.csn(csn)
		}
		return err
	}
	for _, attr := range m.match {
		if strings.EqualFold(name, attr) {
			if err := vs.each(func(v []byte) { out.Addresses = append(out.Addresses, a.addr(v)) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// fromStream maps a SearchResultEntry the streaming reader decoded in place:
// its DN and the content of its attribute list. With an arena (Users), the
// entry's strings are carved from it, and its lists are a's, used again for
// the next entry (sync.Directory's Users says so); without one (User),
// everything the entry holds but its values is its own.
func (m *entryMapper) fromStream(dn, attrs []byte, a *entryArena) (sync.Entry, error) {
	out := sync.Entry{DN: a.name(dn)}
	if a != nil {
		out.Addresses, out.Certificates, out.SMIME = a.addrList[:0], a.certs[:0], a.smime[:0]
	}
	err := eachAttribute(attrs, func(name, vals []byte) error {
		return m.add(&out, string(name), values{set: vals}, a)
	})
	if err != nil {
		return sync.Entry{}, fmt.Errorf("entry %q: %w", dn, err)
	}
	if a != nil {
		a.addrList, a.certs, a.smime = out.Addresses, out.Certificates, out.SMIME
		out.Addresses, out.Certificates, out.SMIME = orNil(out.Addresses), orNil(out.Certificates), orNil(out.SMIME)
	}
	return out, nil
}

// orNil is l, or nil when it is empty: an entry without a value of an
// attribute has no list of them, whichever way it was read.
func orNil[T any](l []T) []T {
	if len(l) == 0 {
		return nil
	}
	return l
}
