package sync

import (
	"context"
	"errors"
)

// Entry is a directory user as the directory returns it.
type Entry struct {
	DN string
	// Addresses are the raw values of the match attributes (mail, proxyAddresses, …).
	Addresses []string
	// Certificates are the values of userCertificate.
	Certificates [][]byte
	// SMIME are the values of userSMIMECertificate (PKCS#7 blobs).
	SMIME [][]byte
	// CSN is the entry's change sequence number (OpenLDAP's entryCSN) as
	// read with it; "" where the directory has none (AD).
	CSN string
}

// Modification is the one modify a changed entry gets: exact values out, new
// values in, for userCertificate and userSMIMECertificate alike.
type Modification struct {
	DN     string
	Add    [][]byte
	Delete [][]byte
	// SMIMEAdd and SMIMEDelete are exact userSMIMECertificate values.
	SMIMEAdd    [][]byte
	SMIMEDelete [][]byte
	// SMIMEReplace replaces userSMIMECertificate whole with SMIMEAdd (none:
	// removes the attribute), for directories that cannot delete one value.
	SMIMEReplace bool
	// CSN is the entry's CSN when it was planned (Entry.CSN). Where the
	// directory does not delete by exact value (OpenLDAP matches
	// userCertificate by issuer and serial, and replaces
	// userSMIMECertificate whole), a modify that deletes or replaces asserts
	// it: an entry changed since the read is a conflict, not a lost value.
	CSN string
}

// ErrConflict wraps a modify that failed because someone else changed the
// entry first: the same values (LDAP results 20 and 16) or, where the modify
// asserts Modification.CSN, anything (result 122): re-read the entry and plan
// it again.
var ErrConflict = errors.New("entry changed concurrently")

// ErrValueRejected wraps a modify the directory refused because of a value it
// adds (LDAP results 21 invalidAttributeSyntax and 19 constraintViolation: AD
// answers so to a value above the attribute's rangeUpper). Nothing of that
// modify was written.
var ErrValueRejected = errors.New("directory refused a value")

// Directory is what a pass needs from the directory; ldapgal implements it.
type Directory interface {
	// Users streams every user to fn, page by page; fn's error stops the read.
	// An Entry's lists (Addresses, Certificates, SMIME) and its values may be
	// memory the directory reads into again once fn returns: fn copies what
	// it keeps. Its strings are its own.
	Users(ctx context.Context, fn func(Entry) error) error
	// User reads one entry again.
	User(ctx context.Context, dn string) (Entry, error)
	// Modify applies one entry's changes in one modify operation. m's values
	// may be memory the pass writes the next entry's into once Modify
	// returns: Modify copies what it keeps.
	Modify(ctx context.Context, m Modification) error
}
