// Package ldapgal is certgal's directory: it dials LDAP servers (Active
// Directory, OpenLDAP), streams the users and writes one modify per entry.
// It implements sync.Directory.
package ldapgal

import (
	"fmt"
	"strings"

	"github.com/certgal/certgal/sync"
)

// Dialect holds every difference between directory servers, in one place.
type Dialect struct {
	Name string
	// CertAttr is the name userCertificate must be written under: OpenLDAP
	// requires the ;binary option, AD refuses it (result 16).
	CertAttr string
	// SMIMEAttr is Outlook's userSMIMECertificate: plain on both servers.
	SMIMEAttr string
	// SMIMEWholeAttribute says SMIMEAttr can only be replaced or deleted whole:
	// OpenLDAP has no equality rule for it, so deleting one value, or adding
	// one to those present, gets result 18 (inappropriateMatching).
	SMIMEWholeAttribute bool
	// CertMatchByIssuerSerial says the server's equality for CertAttr is
	// issuer and serial, not bytes (OpenLDAP: certificateExactMatch), so a
	// delete of one value deletes any value with its issuer and serial.
	CertMatchByIssuerSerial bool
	// CSNAttr is the operational attribute that changes with every write to
	// an entry (OpenLDAP: entryCSN), read with each entry and asserted (RFC
	// 4528) by a modify that deletes where the server does not match by
	// bytes; "" where deletes are exact (AD: values are compared as bytes).
	CSNAttr       string
	DefaultFilter string
	DefaultMatch  []string
	// MaxValueBytes is the largest value the server stores in CertAttr and
	// SMIMEAttr (AD: rangeUpper 32768, result 21 above it); 0 is no limit.
	MaxValueBytes int
	// Workers is how many entries a pass modifies at once, each on a
	// connection of its own (sync.Syncer.Workers). slapd overlaps the
	// modifies of many clients. Samba commits one write at a time (one
	// transaction lock on its database, whichever process holds the
	// connection), so more connections are no faster and cost the DC more
	// CPU: AD gets one (docs/BENCHMARKS.md, "Active Directory at 5,000 users
	// (Samba), issue 17").
	Workers int
}

// The dialects certgal knows.
const (
	DialectAD       = "ad"
	DialectOpenLDAP = "openldap"
	DialectAuto     = "auto"
)

// adWorkers is Dialect.Workers on Active Directory.
const adWorkers = 1

// adCapability is LDAP_CAP_ACTIVE_DIRECTORY_OID in the rootDSE's supportedCapabilities.
const adCapability = "1.2.840.113556.1.4.800"

// DialectByName returns the named dialect.
func DialectByName(name string) (Dialect, error) {
	switch name {
	case DialectAD:
		return Dialect{
			Name:          DialectAD,
			CertAttr:      "userCertificate",
			SMIMEAttr:     "userSMIMECertificate",
			DefaultFilter: "(&(objectCategory=person)(objectClass=user))",
			DefaultMatch:  []string{"mail", "proxyAddresses"},
			MaxValueBytes: 32768,
			Workers:       adWorkers,
		}, nil
	case DialectOpenLDAP:
		return Dialect{
			Name:                    DialectOpenLDAP,
			CertAttr:                "userCertificate;binary",
			SMIMEAttr:               "userSMIMECertificate",
			SMIMEWholeAttribute:     true,
			CertMatchByIssuerSerial: true,
			CSNAttr:                 "entryCSN",
			DefaultFilter:           "(objectClass=inetOrgPerson)",
			DefaultMatch:            []string{"mail"},
			Workers:                 sync.DefaultWorkers,
		}, nil
	}
	return Dialect{}, fmt.Errorf("unknown directory dialect %q", name)
}

// detectDialect asks the rootDSE whether the server is Active Directory.
func detectDialect(conn *streamConn) (Dialect, error) {
	ad := false
	err := conn.searchBase("", "(objectClass=*)", []string{"supportedCapabilities"}, func(_, attrs []byte) error {
		return eachAttribute(attrs, func(name, vals []byte) error {
			if !strings.EqualFold(string(name), "supportedCapabilities") {
				return nil
			}
			return eachValue(vals, func(v []byte) { ad = ad || string(v) == adCapability })
		})
	})
	if err != nil {
		return Dialect{}, fmt.Errorf("read rootDSE to detect the dialect: %w", err)
	}
	if ad {
		return DialectByName(DialectAD)
	}
	return DialectByName(DialectOpenLDAP)
}
