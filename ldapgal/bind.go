package ldapgal

import (
	"errors"
	"fmt"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"github.com/go-ldap/ldap/v3/gssapi"
)

// bind sends one BindRequest with auth (a simple password, or a SASL
// mechanism that completes in one step) and checks that it succeeded.
func (c *streamConn) bind(dn string, auth *ber.Packet) error {
	return c.roundTrip(bindRequest(dn, auth), nil, ldap.ApplicationBindResponse)
}

// simpleBind binds as dn with password.
func (c *streamConn) simpleBind(dn, password string) error {
	return c.bind(dn, ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, password, ""))
}

// externalBind binds with SASL EXTERNAL: as the identity the transport
// proves (over ldapi://, the process's uid).
func (c *streamConn) externalBind() error {
	auth := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "")
	auth.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "EXTERNAL", ""))
	// An empty authorization identity; without it slapd answers 14 (in progress).
	auth.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	return c.bind("", auth)
}

func bindRequest(dn string, auth *ber.Packet) *ber.Packet {
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "")
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, ""))
	req.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
	req.AppendChild(auth)
	return req
}

// gssapiBind binds with Kerberos (RFC 4752) as the keytab's principal to the
// service ldap/<host>, the SPN every AD domain controller has. It asks for no
// security layer: connect only gets here over TLS, and AD refuses sign or
// seal inside TLS. The exchange is go-ldap's GSSAPIBindRequest, run here so
// that the streaming reader binds the same way as go-ldap's connections.
func (c *streamConn) gssapiBind(k *kerberos, host string) error {
	if host == "" {
		return errors.New("no host name in the URL to name the service ldap/<host>")
	}
	spn := "ldap/" + host
	if err := k.serviceTicket(spn); err != nil {
		return err
	}
	// A security context of its own for each bind: the pass's connections
	// bind concurrently, and only the Kerberos client (its tickets) is shared.
	g := &gssapi.Client{Client: k.client}
	defer g.DeleteSecContext()
	var in, out []byte
	var err error
	needInit := true
	for {
		if needInit {
			out, needInit, err = g.InitSecContext(spn, in)
		} else {
			out, err = g.NegotiateSaslAuth(in, "")
		}
		if err != nil {
			return err
		}
		if in, err = c.saslStep("GSSAPI", out); err != nil {
			return err
		}
		if !needInit && len(in) == 0 {
			return nil
		}
	}
}

// saslStep sends one SASL BindRequest with the client's credentials and
// returns the server's: success and 14 (SASL bind in progress) are both
// answers to go on with.
func (c *streamConn) saslStep(mechanism string, cred []byte) ([]byte, error) {
	auth := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "")
	auth.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, mechanism, ""))
	if len(cred) > 0 {
		auth.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(cred), ""))
	}
	m, err := c.exchange(bindRequest("", auth), nil, ldap.ApplicationBindResponse)
	if err != nil {
		return nil, err
	}
	return saslResult(m)
}

// saslResult reads a BindResponse: the LDAPResult, then the optional
// serverSaslCreds [7].
func saslResult(m message) ([]byte, error) {
	err := m.result()
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSaslBindInProgress) {
		return nil, err
	}
	rest := m.body
	for range 3 { // resultCode, matchedDN, diagnosticMessage
		if _, _, rest, err = tlv(rest); err != nil {
			return nil, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("bind response: %w", err))
		}
	}
	for len(rest) > 0 {
		var tag byte
		var v []byte
		if tag, v, rest, err = tlv(rest); err != nil {
			return nil, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("bind response: %w", err))
		}
		if tag == 0x87 {
			// The message's bytes are reused by the next read.
			return append([]byte(nil), v...), nil
		}
	}
	return nil, nil
}
