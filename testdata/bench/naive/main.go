// Command naive is the baseline of `make bench` (testdata/bench/bench.sh) that certgal is compared
// with: a publisher the way existing CA publishers work. For each certificate to publish it takes
// the certificate's e-mail address, searches the directory for the user with that mail, and adds
// the certificate to the entry found: one search and one modify per certificate, in turn, on one
// connection, with go-ldap.
//
// It reads the certificates from the add: lines of a change LDIF (certgal-gen's changes-*.ldif;
// the DNs there are ignored, as a CA publisher does not know them), so that it publishes exactly
// what certgal and ldapmodify publish in the same benchmark. It is a benchmark tool only.
package main

import (
	"bufio"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func main() {
	url := flag.String("url", "", "ldap://host:port")
	bindDN := flag.String("D", "", "bind DN")
	password := flag.String("w", "", "bind password")
	base := flag.String("b", "", "search base")
	attr := flag.String("attr", "userCertificate;binary", "attribute to add to")
	changes := flag.String("f", "", "change LDIF whose added values are the certificates to publish")
	flag.Parse()
	if err := run(*url, *bindDN, *password, *base, *attr, *changes); err != nil {
		fmt.Fprintln(os.Stderr, "naive:", err)
		os.Exit(1)
	}
}

func run(url, bindDN, password, base, attr, changes string) error {
	certs, err := readAdds(changes)
	if err != nil {
		return err
	}
	conn, err := ldap.DialURL(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetTimeout(30 * time.Second)
	if err := conn.Bind(bindDN, password); err != nil {
		return err
	}
	start := time.Now()
	published := 0
	for _, der := range certs {
		x, err := x509.ParseCertificate(der)
		if err != nil || len(x.EmailAddresses) == 0 {
			return fmt.Errorf("certificate without an address: %v", err)
		}
		res, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(mail="+ldap.EscapeFilter(x.EmailAddresses[0])+")", []string{"1.1"}, nil))
		if err != nil {
			return err
		}
		if len(res.Entries) != 1 {
			return fmt.Errorf("%s: %d entries", x.EmailAddresses[0], len(res.Entries))
		}
		req := ldap.NewModifyRequest(res.Entries[0].DN, nil)
		req.Add(attr, []string{string(der)})
		if err := conn.Modify(req); err != nil {
			return fmt.Errorf("modify %s: %w", res.Entries[0].DN, err)
		}
		published++
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("published=%d seconds=%.3f per_second=%.0f\n", published, secs, float64(published)/secs)
	return nil
}

// readAdds returns the values of the add: sections of an LDIF written without line folding.
func readAdds(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var out [][]byte
	adding := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "add: "):
			adding = true
		case line == "-" || line == "":
			adding = false
		case adding:
			_, v, ok := strings.Cut(line, ":: ")
			if !ok {
				return nil, fmt.Errorf("%s: not a base64 value: %.40q", path, line)
			}
			der, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, err
			}
			out = append(out, der)
		}
	}
	return out, sc.Err()
}
