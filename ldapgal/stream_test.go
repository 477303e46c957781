package ldapgal

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/ldapgal/ldaptest"
	"github.com/certgal/certgal/sync"
)

// goLDAPUsers reads the users the way Users did before streamConn: go-ldap's
// paged search and its decoded entries. streamConn must return exactly this.
func goLDAPUsers(t *testing.T, c *Client) map[string]sync.Entry {
	t.Helper()
	out := map[string]sync.Entry{}
	err := withGoLDAP(t, c, func(conn *ldap.Conn) error {
		req := ldap.NewSearchRequest(c.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			c.filter, c.entries.requested, nil)
		res, err := conn.SearchWithPaging(req, 3)
		if err != nil {
			return err
		}
		for _, e := range res.Entries {
			out[e.DN] = fromGoLDAP(t, &c.entries, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withGoLDAP runs op on a go-ldap connection to c's directory, secured and
// bound as c's connections are.
func withGoLDAP(t *testing.T, c *Client, op func(*ldap.Conn) error) error {
	t.Helper()
	sc, err := c.dialer.connect(context.Background(), c.dcs[0])
	if err != nil {
		return err
	}
	if n := sc.r.Buffered(); n > 0 {
		t.Fatalf("%d unexpected bytes after the bind", n)
	}
	if err := sc.conn.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	_, isTLS := sc.conn.(*tls.Conn)
	conn := ldap.NewConn(sc.conn, isTLS)
	conn.Start()
	defer conn.Close()
	return op(conn)
}

func entryString(e sync.Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s addresses=%q", e.DN, e.Addresses)
	for _, v := range e.Certificates {
		fmt.Fprintf(&b, " cert=%x", v[len(v)-8:])
	}
	for _, v := range e.SMIME {
		fmt.Fprintf(&b, " smime=%x", v)
	}
	return b.String()
}

// TestUsersOverEveryTransport reads the same users over ldaps, StartTLS,
// plain ldap and ldapi (SASL EXTERNAL), in small pages, as a bound user
// subject to slapd's size limit, and compares them with go-ldap's reading.
func TestUsersOverEveryTransport(t *testing.T) {
	s := ldaptest.StartSlapd(t)
	for i := range 12 {
		uid := fmt.Sprintf("u%02d", i)
		dn := s.AddUser(t, "people", uid, uid+"@corp.example", "Alias."+uid+"@Corp.example")
		switch i % 3 {
		case 1:
			s.SetCerts(t, dn, selfSigned(t, uid+"@corp.example"))
		case 2:
			s.SetCerts(t, dn, selfSigned(t, uid+"@corp.example"), selfSigned(t, "Alias."+uid+"@Corp.example"))
		}
	}
	ref, err := Open(context.Background(), dirConfig(s), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want := goLDAPUsers(t, ref)
	if len(want) != 12 {
		t.Fatalf("go-ldap read %d users", len(want))
	}

	for _, tc := range []struct {
		name string
		mod  func(*config.Directory)
	}{
		{"ldaps", func(c *config.Directory) {}},
		{"StartTLS", func(c *config.Directory) { c.URL, c.StartTLS = s.URL, true }},
		{"plain", func(c *config.Directory) { c.URL, c.AllowPlaintext = s.URL, true }},
		{"ldapi EXTERNAL", func(c *config.Directory) { c.URL, c.BindDN, c.BindPassword = s.LDAPIURL, "", "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := dirConfig(s)
			cfg.PageSize = 5
			tc.mod(&cfg)
			c, err := Open(context.Background(), cfg, quiet())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var got []string
			if err := c.Users(context.Background(), func(e sync.Entry) error {
				got = append(got, entryString(e))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var w []string
			for _, e := range want {
				w = append(w, entryString(e))
			}
			slices.Sort(got)
			slices.Sort(w)
			if !slices.Equal(got, w) {
				t.Errorf("streamed\n%s\ngo-ldap\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
			}
		})
	}

	t.Run("errors carry the LDAP result code", func(t *testing.T) {
		cfg := dirConfig(s)
		cfg.BaseDN = "ou=nowhere," + s.Suffix
		c, err := Open(context.Background(), cfg, quiet())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Users(context.Background(), func(sync.Entry) error { return nil })
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) || !strings.Contains(err.Error(), "search ou=nowhere") {
			t.Errorf("search under a missing base: %v", err)
		}
	})
}

// searchEntry encodes a SearchResultEntry message the way a server sends it.
func searchEntry(id int64, dn string, attrs map[string][][]byte) []byte {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	e := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "")
	e.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		a := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		a.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, n, ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		for _, v := range attrs[n] {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(v), ""))
		}
		a.AppendChild(set)
		list.AppendChild(a)
	}
	e.AppendChild(list)
	msg.AppendChild(e)
	return msg.Bytes()
}

func searchDone(id int64, code int64, cookie []byte) []byte {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	d := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultDone, nil, "")
	d.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, ""))
	d.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	d.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "diagnostic", ""))
	msg.AppendChild(d)
	if cookie != nil {
		p := ldap.NewControlPaging(5)
		p.SetCookie(cookie)
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
		cs.AppendChild(p.Encode())
		msg.AppendChild(cs)
	}
	return msg.Bytes()
}

// decodeAll runs the decoder over one response stream as page does: every
// message, every entry turned into a sync.Entry with the arena Users uses
// (and its values copied, as sync's reader does), the cookie of the last done.
func decodeAll(c *Client, stream []byte) (entries []sync.Entry, cookie []byte, err error) {
	r := &streamConn{r: bufioReader(stream)}
	var arena entryArena
	for {
		m, err := r.read()
		if err != nil {
			return entries, cookie, err
		}
		switch m.op {
		case ldap.ApplicationSearchResultEntry:
			tag, dn, attrs, err := tlv(m.body)
			if err != nil || tag != 0x04 {
				return entries, cookie, fmt.Errorf("dn: %v", err)
			}
			if tag, attrs, _, err = tlv(attrs); err != nil || tag != 0x30 {
				return entries, cookie, fmt.Errorf("attrs: %v", err)
			}
			e, err := c.entries.fromStream(dn, attrs, &arena)
			if err != nil {
				return entries, cookie, err
			}
			entries = append(entries, keepEntry(e))
		case ldap.ApplicationSearchResultDone:
			if err := m.result(); err != nil {
				return entries, cookie, err
			}
			return entries, nil, nil
		}
		if cookie, err = pagingCookie(m.controls); err != nil {
			return entries, cookie, err
		}
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func testClient() *Client { return testClientOf(DialectAD) }

// testClientOf is a Client that only decodes entries of the named dialect.
func testClientOf(dialect string) *Client {
	d, _ := DialectByName(dialect)
	return &Client{dialect: d, entries: newEntryMapper(d, d.DefaultMatch)}
}

func TestDecodeEntriesAndCookie(t *testing.T) {
	c := testClient()
	var stream []byte
	stream = append(stream, searchEntry(2, "CN=a,DC=corp", map[string][][]byte{
		"mail":                 {[]byte("a@corp.example")},
		"proxyAddresses":       {[]byte("SMTP:a@corp.example"), []byte("smtp:x@corp.example")},
		"userCertificate":      {[]byte("cert one"), bytes.Repeat([]byte{0x30}, 300)},
		"userSMIMECertificate": {[]byte("blob")},
		"description":          {[]byte("ignored")},
	})...)
	stream = append(stream, searchEntry(2, "CN=b,DC=corp", nil)...)
	got, _, err := decodeAll(c, append(stream, searchDone(2, 0, nil)...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || entryString(got[0]) != `CN=a,DC=corp addresses=["a@corp.example" "SMTP:a@corp.example" "smtp:x@corp.example"] cert=63657274206f6e65 cert=3030303030303030 smime=626c6f62` ||
		entryString(got[1]) != `CN=b,DC=corp addresses=[]` {
		t.Errorf("decoded %q", got)
	}
	if _, err := pagingCookie(nil); err != nil {
		t.Error(err)
	}
	done := searchDone(3, 0, []byte("next page"))
	m, err := parseMessage(done[2:])
	if err != nil {
		t.Fatal(err)
	}
	if cookie, err := pagingCookie(m.controls); err != nil || string(cookie) != "next page" {
		t.Errorf("cookie %q, %v", cookie, err)
	}
	_, _, err = decodeAll(c, searchDone(3, int64(ldap.LDAPResultSizeLimitExceeded), nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || !strings.Contains(err.Error(), "diagnostic") {
		t.Errorf("done with result 4: %v", err)
	}
}

// FuzzDecode feeds arbitrary server responses to the decoder: it must return
// an error or entries, never panic, and never read past a message.
func FuzzDecode(f *testing.F) {
	f.Add(searchEntry(2, "CN=a,DC=corp", map[string][][]byte{"mail": {[]byte("a@corp.example")}, "userCertificate": {[]byte("x")}}))
	f.Add(searchDone(2, 0, []byte("cookie")))
	f.Add(searchDone(2, 32, nil))
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	f.Add([]byte{0x30, 0x05, 0x02, 0x01, 0x01, 0x64, 0x00})
	c := testClient()
	f.Fuzz(func(t *testing.T, stream []byte) {
		entries, _, _ := decodeAll(c, stream)
		for _, e := range entries {
			for _, v := range append(e.Certificates, e.SMIME...) {
				if len(v) > len(stream) {
					t.Fatalf("a value longer than the input")
				}
			}
		}
	})
}

// fromGoLDAP maps an entry go-ldap decoded by the same rules: each
// attribute's values, as go-ldap decoded them, are encoded again as the SET
// OF content the streaming reader hands on.
func fromGoLDAP(t testing.TB, m *entryMapper, e *ldap.Entry) sync.Entry {
	t.Helper()
	out := sync.Entry{DN: e.DN}
	for _, a := range e.Attributes {
		var set cryptobyte.Builder
		for _, v := range a.ByteValues {
			set.AddASN1OctetString(v)
		}
		if err := m.add(&out, a.Name, values{set: set.BytesOrPanic()}, nil); err != nil {
			t.Fatalf("%s %s: %v", e.DN, a.Name, err)
		}
	}
	return out
}
