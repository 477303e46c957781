package adtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
)

// Attribute names as Active Directory spells them: no ";binary" option (Samba answers result 16,
// "not found in the schema", to userCertificate;binary).
const (
	AttrUserCertificate      = "userCertificate"
	AttrUserSMIMECertificate = "userSMIMECertificate"
)

// Dial opens an LDAPS connection to the DC that trusts only the CA certificates in caFile,
// without binding. Tests use it with OtherCAFile to see a wrong CA refused, or to bind as
// someone else.
func (dc *DC) Dial(caFile string) (*ldap.Conn, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate", caFile)
	}
	conn, err := ldap.DialURL(dc.URL,
		ldap.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}),
		ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", dc.URL, err)
	}
	conn.SetTimeout(30 * time.Second)
	return conn, nil
}

// Conn returns an LDAPS connection bound as Administrator, closed when t ends.
func (dc *DC) Conn(t testing.TB) *ldap.Conn {
	t.Helper()
	conn, err := dc.bind()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func (dc *DC) bind() (*ldap.Conn, error) {
	conn, err := dc.Dial(dc.CAFile)
	if err != nil {
		return nil, err
	}
	if err := conn.Bind(dc.BindDN, dc.BindPW); err != nil {
		conn.Close()
		return nil, fmt.Errorf("bind %s: %w", dc.BindDN, err)
	}
	return conn, nil
}

// with runs f on a fresh admin connection and closes it; a helper's work does not outlive it.
func (dc *DC) with(t testing.TB, f func(*ldap.Conn) error) {
	t.Helper()
	conn, err := dc.bind()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := f(conn); err != nil {
		t.Fatal(err)
	}
}

var unsafeRDN = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// NewOU creates an OU for this test only, OU=t-<test name>-<n>,<base DN>, and deletes it with
// everything below it when the test ends. n counts up in this process and skips names that
// already exist, so tests of several processes sharing one DC, or leftovers of a run that
// crashed, do not collide.
func (dc *DC) NewOU(t testing.TB) string {
	t.Helper()
	name := strings.Trim(unsafeRDN.ReplaceAllString(t.Name(), "-"), "-")
	if len(name) > 40 { // ou has rangeUpper 64
		name = name[:40]
	}
	var dn string
	dc.with(t, func(conn *ldap.Conn) error {
		for range 1000 {
			dn = fmt.Sprintf("OU=%s,%s", ldap.EscapeDN(fmt.Sprintf("t-%s-%d", name, dc.ouSeq.Add(1))), dc.BaseDN)
			req := ldap.NewAddRequest(dn, nil)
			req.Attribute("objectClass", []string{"organizationalUnit"})
			err := conn.Add(req)
			if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
				continue
			}
			if err != nil {
				return fmt.Errorf("add %s: %w", dn, err)
			}
			return nil
		}
		return fmt.Errorf("no free OU name for %s", t.Name())
	})
	t.Cleanup(func() {
		if err := dc.DeleteTree(dn); err != nil {
			t.Errorf("clean up: %v", err)
		}
	})
	return dn
}

// DeleteTree deletes dn and every entry below it, deepest first. A dn that does not exist is
// not an error.
func (dc *DC) DeleteTree(dn string) error {
	conn, err := dc.bind()
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(dn, ldap.ScopeWholeSubtree,
		ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"1.1"}, nil), 500)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", dn, err)
	}
	type entry struct {
		dn    string
		depth int
	}
	entries := make([]entry, 0, len(res.Entries))
	for _, e := range res.Entries {
		parsed, err := ldap.ParseDN(e.DN)
		if err != nil {
			return fmt.Errorf("parse %q: %w", e.DN, err)
		}
		entries = append(entries, entry{e.DN, len(parsed.RDNs)})
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].depth > entries[j].depth })
	for _, e := range entries {
		err := conn.Del(ldap.NewDelRequest(e.dn, nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return fmt.Errorf("delete %s: %w", e.dn, err)
		}
	}
	return nil
}

// AddUser adds a user CN=<sam>,<ouDN> (objectClass user, as AD's tools create people) with
// sAMAccountName sam, mail (unless empty) and proxyAddresses ("SMTP:" marks the primary
// address, "smtp:" the others), and returns its DN. sAMAccountName is unique in the whole
// domain (result 68 otherwise, whatever the OU) and AD allows at most 20 characters: parallel
// tests must not add the same sam.
func (dc *DC) AddUser(t testing.TB, ouDN, sam, mail string, proxyAddresses ...string) string {
	t.Helper()
	dn := fmt.Sprintf("CN=%s,%s", ldap.EscapeDN(sam), ouDN)
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"user"})
	req.Attribute("sAMAccountName", []string{sam})
	if mail != "" {
		req.Attribute("mail", []string{mail})
	}
	if len(proxyAddresses) > 0 {
		req.Attribute("proxyAddresses", proxyAddresses)
	}
	dc.with(t, func(conn *ldap.Conn) error {
		if err := conn.Add(req); err != nil {
			return fmt.Errorf("add %s: %w", dn, err)
		}
		return nil
	})
	return dn
}

// Certs returns dn's userCertificate values.
func (dc *DC) Certs(t testing.TB, dn string) [][]byte {
	t.Helper()
	return dc.values(t, dn, AttrUserCertificate)
}

// SetCerts replaces dn's userCertificate values with ders (none: removes the attribute).
func (dc *DC) SetCerts(t testing.TB, dn string, ders ...[]byte) {
	t.Helper()
	dc.replace(t, dn, AttrUserCertificate, ders)
}

// SMIME returns dn's userSMIMECertificate values.
func (dc *DC) SMIME(t testing.TB, dn string) [][]byte {
	t.Helper()
	return dc.values(t, dn, AttrUserSMIMECertificate)
}

// SetSMIME replaces dn's userSMIMECertificate values with blobs (none: removes the attribute).
func (dc *DC) SetSMIME(t testing.TB, dn string, blobs ...[]byte) {
	t.Helper()
	dc.replace(t, dn, AttrUserSMIMECertificate, blobs)
}

func (dc *DC) values(t testing.TB, dn, attr string) [][]byte {
	t.Helper()
	var vals [][]byte
	dc.with(t, func(conn *ldap.Conn) error {
		res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{attr}, nil))
		if err != nil {
			return fmt.Errorf("read %s of %s: %w", attr, dn, err)
		}
		if len(res.Entries) != 1 {
			return fmt.Errorf("read %s of %s: %d entries", attr, dn, len(res.Entries))
		}
		vals = res.Entries[0].GetRawAttributeValues(attr)
		return nil
	})
	return vals
}

func (dc *DC) replace(t testing.TB, dn, attr string, vals [][]byte) {
	t.Helper()
	strs := make([]string, len(vals))
	for i, v := range vals {
		strs[i] = string(v)
	}
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace(attr, strs)
	dc.with(t, func(conn *ldap.Conn) error {
		if err := conn.Modify(req); err != nil {
			return fmt.Errorf("modify %s: replace %s: %w", dn, attr, err)
		}
		return nil
	})
}

// The schemaIDGUIDs the README's delegation names: the attributes certgal writes and the class
// of the objects it writes them on (the same in every AD forest).
const (
	guidUserCertificate      = "bf967a7f-0de6-11d0-a285-00aa003049e2"
	guidUserSMIMECertificate = "e16a9db2-403c-11d1-a9c0-0000f80367c1"
	guidUserClass            = "bf967aba-0de6-11d0-a285-00aa003049e2"
)

// ServiceAccount adds a plain user CN=<sam>,<ouDN> with a random password, delegates to it on
// ouDN exactly what the README's "Directory permissions" lists (Write userCertificate and Write
// userSMIMECertificate on the user objects below the OU, as `dsacls … /I:S /G …:WP;…;user`
// does), and exports its keys with `samba-tool domain exportkeytab`. It returns the account's
// DN and the keytab's path (mode 0600, removed with the test). It runs samba-tool against the
// DC's own database, so it needs the DC on this machine (SMBConf).
func (dc *DC) ServiceAccount(t testing.TB, ouDN, sam string) (dn, keytabPath string) {
	t.Helper()
	if dc.SMBConf == "" || dc.Realm == "" {
		t.Fatal("the DC's smb.conf and realm are unknown (AD_SMB_CONF, AD_REALM): cannot export a keytab")
	}
	dn = fmt.Sprintf("CN=%s,%s", ldap.EscapeDN(sam), ouDN)
	pw := "Svc-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "!aA1"
	// unicodePwd is the password in double quotes, UTF-16LE.
	var quoted []byte
	for _, u := range utf16.Encode([]rune(`"` + pw + `"`)) {
		quoted = binary.LittleEndian.AppendUint16(quoted, u)
	}
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"user"})
	req.Attribute("sAMAccountName", []string{sam})
	req.Attribute("userPrincipalName", []string{sam + "@" + strings.ToLower(dc.Realm)})
	req.Attribute("unicodePwd", []string{string(quoted)})
	req.Attribute("userAccountControl", []string{"512"}) // a normal, enabled account
	var sid string
	dc.with(t, func(conn *ldap.Conn) error {
		if err := conn.Add(req); err != nil {
			return fmt.Errorf("add %s: %w", dn, err)
		}
		res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"objectSid"}, nil))
		if err != nil || len(res.Entries) != 1 {
			return fmt.Errorf("read objectSid of %s: %v", dn, err)
		}
		sid = sidString(res.Entries[0].GetRawAttributeValue("objectSid"))
		return nil
	})
	var sddl strings.Builder
	for _, attr := range []string{guidUserCertificate, guidUserSMIMECertificate} {
		// OA: object access allowed; CI: inherited by child objects; IO: not on the OU itself;
		// WP: write property attr; on objects of class user only.
		fmt.Fprintf(&sddl, "(OA;CIIO;WP;%s;%s;%s)", attr, guidUserClass, sid)
	}
	dc.samba(t, "dsacl", "set", "-s", dc.SMBConf, "--objectdn="+ouDN, "--sddl="+sddl.String())
	keytabPath = filepath.Join(t.TempDir(), sam+".keytab")
	dc.samba(t, "domain", "exportkeytab", keytabPath, "--principal="+sam+"@"+dc.Realm, "-s", dc.SMBConf)
	return dn, keytabPath
}

// samba runs samba-tool with args.
func (dc *DC) samba(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "samba-tool", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("samba-tool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// sidString formats a binary SID (MS-DTYP 2.4.2.2) as S-1-….
func sidString(b []byte) string {
	if len(b) < 8 || len(b) < 8+4*int(b[1]) {
		return ""
	}
	var auth uint64
	for _, x := range b[2:8] {
		auth = auth<<8 | uint64(x)
	}
	s := fmt.Sprintf("S-%d-%d", b[0], auth)
	for i := range int(b[1]) {
		s += "-" + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10)
	}
	return s
}
