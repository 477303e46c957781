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
}

// Modification is the one modify a changed entry gets: exact values out, new values in.
type Modification struct {
	DN     string
	Add    [][]byte
	Delete [][]byte
}

// ErrConflict wraps a modify that failed because someone else changed the same
// values first (LDAP results 20 and 16): re-read the entry and plan it again.
var ErrConflict = errors.New("entry changed concurrently")

// Directory is what a pass needs from the directory; ldapgal implements it.
type Directory interface {
	// Users streams every user to fn, page by page; fn's error stops the read.
	Users(ctx context.Context, fn func(Entry) error) error
	// User reads one entry again.
	User(ctx context.Context, dn string) (Entry, error)
	// Modify applies one entry's changes in one modify operation.
	Modify(ctx context.Context, m Modification) error
}
