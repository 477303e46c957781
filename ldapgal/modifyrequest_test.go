package ldapgal

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// goLDAPModify is the message go-ldap sends for req, as the server reads it.
func goLDAPModify(t *testing.T, req *ldap.ModifyRequest) message {
	t.Helper()
	client, server := net.Pipe()
	defer server.Close()
	conn := ldap.NewConn(client, false)
	conn.Start()
	defer conn.Close()
	go conn.Modify(req) // never answered: it ends with the connection
	sc := &streamConn{conn: server, r: bufio.NewReader(server)}
	m, err := sc.read()
	if err != nil {
		t.Fatal(err)
	}
	// read's buffer is reused, and the message outlives it.
	m.body, m.controls = bytes.Clone(m.body), bytes.Clone(m.controls)
	return m
}

// parsed is what the server reads of an encoded LDAPMessage.
func parsed(t *testing.T, msg []byte) message {
	t.Helper()
	tag, content, rest, err := tlv(msg)
	if err != nil || tag != 0x30 || len(rest) > 0 {
		t.Fatalf("message: tag %#x, %d bytes after it: %v", tag, len(rest), err)
	}
	m, err := parseMessage(content)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestModifyRequestIsGoLDAPs encodes modifies of every shape and size as
// go-ldap did before (its ModifyRequest, values as strings): the server reads
// the same operation, byte for byte.
func TestModifyRequestIsGoLDAPs(t *testing.T) {
	small, large, huge := []byte("\x30\x03\x02\x01\x05"), bytes.Repeat([]byte{0xa5}, 300), bytes.Repeat([]byte{0x5a}, 70000)
	for _, tc := range []struct {
		name    string
		dn      string
		changes []change
	}{
		{"add one", "uid=a,dc=example", []change{{ldap.AddAttribute, "userCertificate;binary", [][]byte{small}}}},
		{"delete and add", "uid=b,ou=people,dc=example", []change{
			{ldap.DeleteAttribute, "userCertificate", [][]byte{large, small}},
			{ldap.AddAttribute, "userCertificate", [][]byte{large}},
		}},
		{"every kind", "cn=" + strings.Repeat("x", 200) + ",dc=example", []change{
			{ldap.DeleteAttribute, "userCertificate;binary", [][]byte{small}},
			{ldap.AddAttribute, "userCertificate;binary", [][]byte{huge, large}},
			{ldap.ReplaceAttribute, "userSMIMECertificate", [][]byte{large}},
		}},
		{"replace with nothing", "uid=c,dc=example", []change{{ldap.ReplaceAttribute, "userSMIMECertificate", [][]byte{}}}},
		{"empty value", "uid=d,dc=example", []change{{ldap.AddAttribute, "description", [][]byte{{}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ldap.NewModifyRequest(tc.dn, nil)
			for _, ch := range tc.changes {
				vals := make([]string, len(ch.values))
				for i, v := range ch.values {
					vals[i] = string(v)
				}
				req.Changes = append(req.Changes, ldap.Change{Operation: ch.op, Modification: ldap.PartialAttribute{Type: ch.attr, Vals: vals}})
			}
			want := goLDAPModify(t, req)
			for _, id := range []int64{want.id, 127, 128, 255, 256, 1<<31 - 1} {
				got := parsed(t, appendModify(nil, id, tc.dn, tc.changes, assertionValue{}))
				if got.id != id || got.op != want.op || !bytes.Equal(got.body, want.body) || got.controls != nil {
					t.Errorf("id %d: got message %d, op %d, %d bytes, controls %x; want op %d, %d bytes (go-ldap's), no controls",
						id, got.id, got.op, len(got.body), got.controls, want.op, len(want.body))
				}
			}
		})
	}
}

// TestModifyRequestAssertion: the Assertion control carries the equality
// filter ldap.CompileFilter makes of (attr=value), is critical, and leaves
// the operation as it is.
func TestModifyRequestAssertion(t *testing.T) {
	changes := []change{{ldap.DeleteAttribute, "userCertificate;binary", [][]byte{[]byte("old")}}}
	a := assertionValue{attr: "entryCSN", value: "20260101000000.000000Z#000000#000#000000"}
	got := parsed(t, appendModify(nil, 9, "uid=a,dc=example", changes, a))
	plain := parsed(t, appendModify(nil, 9, "uid=a,dc=example", changes, assertionValue{}))
	if !bytes.Equal(got.body, plain.body) {
		t.Errorf("the control changed the operation")
	}
	f, err := ldap.CompileFilter("(" + a.attr + "=" + ldap.EscapeFilter(a.value) + ")")
	if err != nil {
		t.Fatal(err)
	}
	filter := f.Bytes()
	want := "30" + hex.EncodeToString([]byte{byte(14 + 3 + 2 + len(filter))}) +
		"040c" + hex.EncodeToString([]byte(controlTypeAssertion)) + // controlType
		"0101ff" + // criticality TRUE
		"04" + hex.EncodeToString([]byte{byte(len(filter))}) + hex.EncodeToString(filter) // controlValue
	if g := hex.EncodeToString(got.controls); g != want {
		t.Errorf("controls\n got %s\nwant %s", g, want)
	}
}

// response encodes an LDAPResult response of application type op, as a server sends it.
func response(id int64, op uint8, code int64, diag string) []byte {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	r := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ber.Tag(op), nil, "")
	r.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, ""))
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diag, ""))
	msg.AppendChild(r)
	return msg.Bytes()
}

// modifyResult is what modify makes of the responses in stream to request 7.
func modifyResult(stream []byte) (broken bool, err error) {
	c := &streamConn{r: bufioReader(stream)}
	m, err := c.await(7, ldap.ApplicationModifyResponse)
	if err == nil {
		err = m.result()
	}
	return c.broken, err
}

// TestModifyResponse: the server's result is an *ldap.Error with its code and
// diagnostic, the connection still usable; a notice of disconnection, a
// response of another type or a truncated one breaks the connection.
func TestModifyResponse(t *testing.T) {
	const modifyResponse = ldap.ApplicationModifyResponse
	for _, tc := range []struct {
		name   string
		stream []byte
		code   uint16 // 0: no error
		diag   string
		broken bool
	}{
		{"success", response(7, modifyResponse, 0, ""), 0, "", false},
		{"an earlier request's response first", append(response(6, modifyResponse, 20, ""), response(7, modifyResponse, 0, "")...), 0, "", false},
		{"value exists", response(7, modifyResponse, 20, "modify/add: userCertificate: value #0 already exists"), 20, "already exists", false},
		{"assertion failed", response(7, modifyResponse, 122, ""), 122, "", false},
		{"notice of disconnection", response(0, ldap.ApplicationExtendedResponse, 52, "session expired"), ldap.ErrorNetwork, "session expired", true},
		{"another type", response(7, ldap.ApplicationAddResponse, 0, ""), ldap.ErrorUnexpectedResponse, "response of type 9", true},
		{"closed", response(7, modifyResponse, 0, "")[:5], ldap.ErrorNetwork, "read response", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			broken, err := modifyResult(tc.stream)
			if tc.code == 0 {
				if err != nil {
					t.Errorf("error %v, want none", err)
				}
			} else if !ldap.IsErrorWithCode(err, tc.code) || !strings.Contains(err.Error(), tc.diag) {
				t.Errorf("error %v, want result %d with %q", err, tc.code, tc.diag)
			}
			if broken != tc.broken {
				t.Errorf("broken %v, want %v", broken, tc.broken)
			}
		})
	}
}

// FuzzModifyResponse feeds arbitrary server responses to a modify's read:
// it must never panic, and every error is an *ldap.Error, as modifyError
// and failover expect.
func FuzzModifyResponse(f *testing.F) {
	f.Add(response(7, ldap.ApplicationModifyResponse, 0, ""))
	f.Add(response(7, ldap.ApplicationModifyResponse, 16, "no such value"))
	f.Add(response(0, ldap.ApplicationExtendedResponse, 52, ""))
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x07, 0x67, 0x01, 0x0a})
	f.Fuzz(func(t *testing.T, stream []byte) {
		if _, err := modifyResult(stream); err != nil {
			var le *ldap.Error
			if !errors.As(err, &le) {
				t.Fatalf("%v (%T) is not an *ldap.Error", err, err)
			}
		}
	})
}
