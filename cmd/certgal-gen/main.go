// Command certgal-gen builds a world to try certgal at scale: N directory users
// as LDIF (OpenLDAP inetOrgPerson for slapadd; optionally Active Directory
// users with proxyAddresses) and an `openssl ca` directory that issued them
// certificates, with renewals, revocations (index.txt R lines and a CRL),
// expiries, certificates for departed users, and directory values certgal does
// not own (a partner CA's, a CA copying our CA's name, self-published ones).
//
//	certgal-gen -n 100000 -out /tmp/world -published none,current
//
// writes into -out:
//
//	ca/                     the CA directory: ca.pem, private/ca.key, index.txt, newcerts/SERIAL.pem, crl.pem, ...
//	users-STATE.ldif        the users for `slapadd -q` (entries below ou=people,SUFFIX; the suffix and
//	                        ou=people themselves are not in it), holding the values of STATE
//	changes-STATE.ldif      the one pass from STATE as `ldapmodify -f` input: what certgal should write
//	users-STATE-ad.ldif     with -ad-base: the same for Active Directory / Samba (objectClass user)
//	changes-STATE-ad.ldif
//	certgal.yaml            a configuration for this world (the directory part for testdata/slapd/start.sh)
//	summary.json            what was generated and what a pass from each state must do, and
//	                        published_der_bytes, the DER of the certificates certgal publishes
//	renewed/                with -renew PCT: a later state of the CA store in which PCT per cent of
//	                        the users' current certificates were renewed (new keys, later notBefore):
//	                        newcerts/ holds the new files only, index.txt and serial are the whole
//	                        store's; changes.ldif is the pass from state current after them
//
// STATE (-published) is none (no value of our CA in the directory yet: the
// initial publish), previous (what an earlier pass left before the latest
// renewals, revocations and expiries) or current (converged: nothing to change).
//
// Certificates are ECDSA P-256, signed on every core. To save time one leaf key
// is shared by 1000 certificates; nothing certgal does depends on distinct keys.
// The CA's key is written to ca/private/ca.key as `openssl ca` keeps it: the
// world is for tests, never for real mail.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	n                int
	out              string
	suffix           string
	domain           string
	adBase           string
	published        []state
	renew            int
	seed             uint64
	workers          int
	now              time.Time
	url              string
	bindDN           string
	bindPasswordFile string
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("certgal-gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.n, "n", 1000, "number of users")
	fs.StringVar(&o.out, "out", "", "output directory (created; must be empty if it exists)")
	fs.StringVar(&o.suffix, "suffix", "dc=example,dc=com", "slapd suffix; users go below ou=people,SUFFIX")
	fs.StringVar(&o.domain, "domain", "example.com", "mail domain of the users")
	fs.StringVar(&o.adBase, "ad-base", "", "also write AD LDIFs with users below this DN (e.g. OU=bench,DC=corp,DC=example,DC=com)")
	published := fs.String("published", "none", "comma-separated directory states to write: none, previous, current")
	fs.IntVar(&o.renew, "renew", 0, "also write renewed/: a later CA store in which this per cent of the users' certificates were renewed")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the mix (which users are renewed, revoked, ...)")
	fs.IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "signing goroutines")
	nowFlag := fs.String("now", "", "reference time, RFC 3339 (default: now); validity windows are drawn around it")
	fs.StringVar(&o.url, "url", "ldap://127.0.0.1:389", "directory.url written to certgal.yaml")
	fs.StringVar(&o.bindDN, "bind-dn", "", "directory.bind_dn written to certgal.yaml (default cn=admin,SUFFIX)")
	fs.StringVar(&o.bindPasswordFile, "bind-password-file", "bind-password", "directory.bind_password_file written to certgal.yaml")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	err := func() error {
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		if o.out == "" {
			return errors.New("-out is required")
		}
		if o.n < 1 {
			return errors.New("-n must be at least 1")
		}
		if o.renew < 0 || o.renew > 100 {
			return errors.New("-renew must be a per cent, 0 to 100")
		}
		var err error
		if o.published, err = parseStates(*published); err != nil {
			return err
		}
		o.now = time.Now()
		if *nowFlag != "" {
			if o.now, err = time.Parse(time.RFC3339, *nowFlag); err != nil {
				return fmt.Errorf("-now: %w", err)
			}
		}
		o.now = o.now.UTC().Truncate(time.Second)
		if o.bindDN == "" {
			o.bindDN = "cn=admin," + o.suffix
		}
		return nil
	}()
	if err != nil {
		fmt.Fprintf(stderr, "certgal-gen: %v\n", err)
		return 2
	}
	if err := generate(o, stdout); err != nil {
		fmt.Fprintf(stderr, "certgal-gen: %v\n", err)
		return 1
	}
	return 0
}

// summary is summary.json: what was generated, and what a pass must do.
type summary struct {
	Users        int              `json:"users"`
	Now          time.Time        `json:"now"`
	Certificates map[string]int   `json:"ca_certificates"` // by role
	Foreign      map[string]int   `json:"foreign_values"`  // by issuer
	KeyReuse     int              `json:"certificates_per_leaf_key"`
	States       map[state]stateN `json:"states"`
	// PublishedDERBytes is the DER of the certificates certgal publishes: one a user.
	PublishedDERBytes int       `json:"published_der_bytes"`
	Renewal           *renewalN `json:"renewal,omitempty"`
	Seconds           float64   `json:"seconds"`
}

// stateN describes one directory state and the pass from it.
type stateN struct {
	Values      int `json:"directory_values"` // userCertificate values in the users LDIF
	ValueBytes  int `json:"directory_value_bytes"`
	OwnedValues int `json:"owned_values"`
	Entries     int `json:"entries_to_modify"`
	Adds        int `json:"adds"`
	Removes     int `json:"removes"`
}

// generate writes the world o describes into o.out: the CA directory with every certificate
// issued, the LDIFs of each state asked for, a configuration and summary.json.
func generate(o options, stdout io.Writer) error {
	start := time.Now()
	caDir, err := createOut(o.out)
	if err != nil {
		return err
	}
	p := newPopulation(o.n, o.domain, o.now, o.seed, defaultMix)
	if o.renew > 0 {
		p.drawRenewals(o.renew, o.now, o.seed)
	}
	if err := issueWorld(p, caDir, o); err != nil {
		return err
	}
	sum := newSummary(o, p)
	maxRemoves, err := writeStates(o, p, sum.States)
	if err != nil {
		return err
	}
	if len(p.renewals) > 0 {
		if sum.Renewal, err = writeRenewalChanges(o, p); err != nil {
			return err
		}
		maxRemoves = max(maxRemoves, sum.Renewal.Removes)
	}
	if err := writeConfig(filepath.Join(o.out, "certgal.yaml"), o, caDir, maxRemoves); err != nil {
		return err
	}
	sum.Seconds = time.Since(start).Seconds()
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "summary.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "certgal-gen: %d users, %d CA certificates, %d foreign values, %d bytes of published DER, %d renewals in %s (%.1fs)\n",
		o.n, len(p.ours), len(p.others), sum.PublishedDERBytes, len(p.renewals), o.out, sum.Seconds)
	return nil
}

// createOut creates the output directory, which must be empty if it exists, and the CA
// directory in it with the folders `openssl ca` writes to; it returns the CA directory.
func createOut(out string) (string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	if ents, err := os.ReadDir(out); err != nil {
		return "", err
	} else if len(ents) > 0 {
		return "", fmt.Errorf("%s is not empty", out)
	}
	caDir := filepath.Join(out, "ca")
	for _, d := range []string{filepath.Join(caDir, "newcerts"), filepath.Join(caDir, "private")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(filepath.Join(caDir, "private"), 0o700); err != nil {
		return "", err
	}
	return caDir, nil
}

// issueWorld signs every certificate of p and writes our CA's directory and the partner CA's
// certificate.
func issueWorld(p *population, caDir string, o options) error {
	cas, err := newAuthorities(o.now)
	if err != nil {
		return err
	}
	if err := issueAll(append(append([]*certSpec(nil), p.ours...), p.others...), cas, caDir, o.workers); err != nil {
		return err
	}
	if err := writeCA(caDir, p, cas.ours, o.now); err != nil {
		return err
	}
	if len(p.renewals) > 0 {
		if err := writeRenewed(o, p, cas); err != nil {
			return err
		}
	}
	return writePEM(filepath.Join(o.out, "foreign-ca.pem"), "CERTIFICATE", cas.foreign.cert.Raw, 0o644)
}

// newSummary counts what was generated; the states are filled in as they are written.
func newSummary(o options, p *population) summary {
	sum := summary{Users: o.n, Now: o.now, Certificates: map[string]int{}, Foreign: map[string]int{},
		KeyReuse: keyReuse, States: map[state]stateN{}, PublishedDERBytes: publishedBytes(p, stateCurrent)}
	roles := map[role]string{roleCurrent: "current", roleSuperseded: "superseded", roleRevoked: "revoked",
		roleExpired: "expired", roleOrphan: "no_user", roleUnusable: "unusable"}
	for _, c := range p.ours {
		sum.Certificates[roles[c.role]]++
	}
	issuers := map[issuerKind]string{issuerForeign: "partner_ca", issuerLookalike: "lookalike_ca", issuerSelf: "self_signed"}
	for _, c := range p.others {
		sum.Foreign[issuers[c.issuer]]++
	}
	return sum
}

// writeStates writes the users and changes LDIFs of each state o asks for, for slapd and, with
// -ad-base, for AD, and describes each state in states. It returns the most values a pass
// from one of them removes.
func writeStates(o options, p *population, states map[state]stateN) (int, error) {
	maxRemoves := 0
	for _, st := range o.published {
		n := countValues(p, st)
		for _, fl := range flavours(o) {
			var err error
			if n.Entries, n.Adds, n.Removes, err = writeState(o, fl, p, st); err != nil {
				return 0, err
			}
		}
		maxRemoves = max(maxRemoves, n.Removes)
		states[st] = n
	}
	return maxRemoves, nil
}

// flavours are the directories o asks LDIFs for: slapd, and AD with -ad-base.
func flavours(o options) []flavour {
	fls := []flavour{slapdFlavour(o.suffix)}
	if o.adBase != "" {
		fls = append(fls, adFlavour(o.adBase))
	}
	return fls
}

// countValues counts the userCertificate values of the users in state st.
func countValues(p *population, st state) stateN {
	var n stateN
	for i := range p.users {
		for _, c := range p.users[i].values(st) {
			n.Values++
			n.ValueBytes += len(c.der)
			if c.issuer == issuerOurs {
				n.OwnedValues++
			}
		}
	}
	return n
}

// writeState writes users-STATE.ldif and changes-STATE.ldif for one flavour (with -ad for AD,
// whose users file starts with the base when it is an OU), and returns what writeChanges counts.
func writeState(o options, fl flavour, p *population, st state) (entries, adds, removes int, err error) {
	suffix, adOU := "", ""
	if fl.name == "ad" {
		suffix = "-ad"
		if strings.HasPrefix(strings.ToUpper(o.adBase), "OU=") {
			adOU = o.adBase
		}
	}
	if err := writeUsers(filepath.Join(o.out, "users-"+string(st)+suffix+".ldif"), fl, p, st, adOU); err != nil {
		return 0, 0, 0, err
	}
	return writeChanges(filepath.Join(o.out, "changes-"+string(st)+suffix+".ldif"), fl, p, st)
}

// writeConfig writes a certgal configuration for the world. max_deletes is
// raised to what the largest generated pass removes, or the pass would stop.
func writeConfig(path string, o options, caDir string, maxRemoves int) error {
	abs, err := filepath.Abs(caDir)
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`# Written by certgal-gen for a generated world; the directory part fits
# testdata/slapd/start.sh (plain ldap:// on loopback).
source:
  kind: openssl
  openssl:
    dir: %[1]s
    crl_files: [crl.pem]
trust:
  ca_files: [%[1]s/ca.pem]
directory:
  url: %[2]s
  dialect: openldap
  allow_plaintext: true
  bind_dn: %[3]s
  bind_password_file: %[4]s
  base_dn: %[5]s
policy:
  max_deletes: %[6]d
lookup:
  listen: ""
metrics:
  listen: ""
`, abs, o.url, o.bindDN, o.bindPasswordFile, o.suffix, max(500, maxRemoves))
	return os.WriteFile(path, []byte(cfg), 0o644)
}
