package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"os"
)

// flavour is the kind of directory an LDIF is for.
type flavour struct {
	name     string // "slapd" or "ad"
	certAttr string // OpenLDAP needs ;binary, AD refuses it
	dn       func(u *user) string
	// entry writes the attributes of u other than its certificates.
	entry func(w io.Writer, u *user)
}

func slapdFlavour(suffix string) flavour {
	return flavour{
		name:     "slapd",
		certAttr: "userCertificate;binary",
		dn:       func(u *user) string { return "uid=" + u.uid + ",ou=people," + suffix },
		entry: func(w io.Writer, u *user) {
			fmt.Fprintf(w, "objectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\n", u.uid, u.uid, u.uid)
			for _, m := range u.mails {
				fmt.Fprintf(w, "mail: %s\n", m)
			}
		},
	}
}

func adFlavour(base string) flavour {
	return flavour{
		name:     "ad",
		certAttr: "userCertificate",
		dn:       func(u *user) string { return "CN=" + u.uid + "," + base },
		entry: func(w io.Writer, u *user) {
			fmt.Fprintf(w, "objectClass: user\nsAMAccountName: %s\nmail: %s\n", u.uid, u.mails[0])
			// Exchange's form: the primary address as SMTP:, aliases as smtp:.
			for i, m := range u.mails {
				prefix := "smtp:"
				if i == 0 {
					prefix = "SMTP:"
				}
				fmt.Fprintf(w, "proxyAddresses: %s%s\n", prefix, m)
			}
		},
	}
}

// ldifWriter writes LDIF without line folding (slapadd and ldapmodify take long lines).
type ldifWriter struct {
	f   *os.File
	w   *bufio.Writer
	buf []byte
}

func createLDIF(path string) (*ldifWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &ldifWriter{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (l *ldifWriter) value(attr string, der []byte) {
	l.buf = base64.StdEncoding.AppendEncode(append(l.buf[:0], attr+":: "...), der)
	l.w.Write(append(l.buf, '\n'))
}

func (l *ldifWriter) close() error {
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeUsers writes the users as they are in state st, for slapadd (slapd) or
// an LDIF import (AD). The AD file starts with its OU when the base is one.
func writeUsers(path string, fl flavour, p *population, st state, adOU string) error {
	l, err := createLDIF(path)
	if err != nil {
		return err
	}
	if adOU != "" {
		fmt.Fprintf(l.w, "dn: %s\nobjectClass: organizationalUnit\n\n", adOU)
	}
	for i := range p.users {
		u := &p.users[i]
		fmt.Fprintf(l.w, "dn: %s\n", fl.dn(u))
		fl.entry(l.w, u)
		for _, c := range u.values(st) {
			l.value(fl.certAttr, c.der)
		}
		l.w.WriteString("\n")
	}
	return l.close()
}

// writeChanges writes the change LDIF of a pass from state st: one modify per
// entry, exact values deleted, then new values added, as certgal writes it.
// It returns the number of entries, adds and removes.
func writeChanges(path string, fl flavour, p *population, st state) (entries, adds, removes int, err error) {
	l, err := createLDIF(path)
	if err != nil {
		return 0, 0, 0, err
	}
	for i := range p.users {
		u := &p.users[i]
		rm, add := u.changes(st)
		if len(rm)+len(add) == 0 {
			continue
		}
		entries++
		adds += len(add)
		removes += len(rm)
		fmt.Fprintf(l.w, "dn: %s\nchangetype: modify\n", fl.dn(u))
		if len(rm) > 0 {
			fmt.Fprintf(l.w, "delete: %s\n", fl.certAttr)
			for _, c := range rm {
				l.value(fl.certAttr, c.der)
			}
			l.w.WriteString("-\n")
		}
		fmt.Fprintf(l.w, "add: %s\n", fl.certAttr)
		for _, c := range add {
			l.value(fl.certAttr, c.der)
		}
		l.w.WriteString("-\n\n")
	}
	return entries, adds, removes, l.close()
}
