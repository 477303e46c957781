package ldapgal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// The paged read of all users is most of a pass's work, and go-ldap decodes
// each response into a tree of packets that copies every value several times
// (docs/BENCHMARKS.md, "What was optimised, and what it did", item 1).
// streamConn is certgal's own LDAP connection: it decodes each response in
// place from one buffer per message, and the values it hands on are slices
// of that buffer. It secures and binds every connection (see connect), reads
// the users, and carries the pass's writes and re-reads from the Client's
// idle set (see modify, searchBase).

// maxMessage bounds one LDAP message from the server (go-ldap allows 2 GiB).
// AD stores at most about 1,200 values of 32 KiB per attribute.
const maxMessage = 256 << 20

// streamConn is one LDAP connection, used by one goroutine at a time.
type streamConn struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
	nextID  int64
	// buf holds the last message read, up to reuseMax bytes: a buffer per
	// message was much of what a pass allocates (docs/BENCHMARKS.md, "Figures
	// moved out of code comments (ldapgal, config)").
	buf []byte
	// wbuf holds the last modify sent, up to reuseMax bytes.
	wbuf []byte
	// broken: a request or response failed short of the server's answer (the
	// transport, the framing, a search left unfinished); the connection is
	// not used again.
	broken bool
}

// reuseMax is the largest message read into streamConn.buf; a larger one
// (an entry with many certificates) gets a buffer of its own.
const reuseMax = 64 << 10

func (c *streamConn) Close() error {
	// An unbind first, as a polite client does; its failure does not matter.
	unbind := ber.Encode(ber.ClassApplication, ber.TypePrimitive, ldap.ApplicationUnbindRequest, nil, "")
	_, _ = c.send(unbind, nil)
	return c.conn.Close()
}

// newID is the message ID of the next request.
func (c *streamConn) newID() int64 {
	id := c.nextID
	c.nextID++
	return id
}

// send writes one LDAPMessage with a new message ID and returns the ID.
func (c *streamConn) send(op *ber.Packet, controls []ldap.Control) (int64, error) {
	id := c.newID()
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	msg.AppendChild(op)
	if len(controls) > 0 {
		cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
		for _, ctl := range controls {
			cs.AppendChild(ctl.Encode())
		}
		msg.AppendChild(cs)
	}
	return id, c.write(msg.Bytes())
}

// write sends one encoded LDAPMessage.
func (c *streamConn) write(msg []byte) error {
	if c.timeout > 0 {
		c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	}
	if _, err := c.conn.Write(msg); err != nil {
		c.broken = true
		return ldap.NewError(ldap.ErrorNetwork, err)
	}
	return nil
}

// roundTrip sends op and reads the one response of type want.
func (c *streamConn) roundTrip(op *ber.Packet, controls []ldap.Control, want uint8) error {
	m, err := c.exchange(op, controls, want)
	if err != nil {
		return err
	}
	return m.result()
}

// exchange sends op and returns the one response of type want, whatever its
// result. Its bytes are reused by the next read.
func (c *streamConn) exchange(op *ber.Packet, controls []ldap.Control, want uint8) (message, error) {
	id, err := c.send(op, controls)
	if err != nil {
		return message{}, err
	}
	return c.await(id, want)
}

// await reads up to the response to request id, which must be of type want.
// A notice of disconnection (message ID 0, RFC 4511 4.4.1) ends the wait:
// the server is closing the connection, as Samba does to a session whose
// Kerberos ticket has ended.
func (c *streamConn) await(id int64, want uint8) (message, error) {
	for {
		m, err := c.read()
		if err != nil {
			return message{}, err
		}
		if m.id == 0 {
			c.broken = true
			return message{}, ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("notice of disconnection from the server: %v", m.result()))
		}
		if m.id != id {
			continue
		}
		if m.op != want {
			c.broken = true
			return message{}, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("response of type %d, want %d", m.op, want))
		}
		return m, nil
	}
}

// usable reports whether an idle connection can carry a request: nothing
// failed on it, and the server has neither closed it nor sent anything
// since its last response (a notice of disconnection). The read that finds
// out does not wait: its deadline has passed.
func (c *streamConn) usable() bool {
	if c.broken || c.r.Buffered() > 0 {
		return false
	}
	if err := c.conn.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return false
	}
	_, err := c.r.Peek(1)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	// read sets its own deadline only when there is a timeout.
	return c.conn.SetReadDeadline(time.Time{}) == nil
}

// message is one decoded LDAPMessage. body is the protocol operation's
// content; controls the content of its [0] controls, if any.
type message struct {
	id       int64
	op       uint8 // application tag number
	body     []byte
	controls []byte
}

// read reads the next LDAPMessage. Its bytes are valid until the next read.
func (c *streamConn) read() (message, error) {
	m, err := c.readMessage()
	if err != nil {
		c.broken = true
	}
	return m, err
}

func (c *streamConn) readMessage() (message, error) {
	if c.timeout > 0 {
		c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	}
	var head [6]byte
	if _, err := io.ReadFull(c.r, head[:2]); err != nil {
		return message{}, ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("read response: %w", err))
	}
	if head[0] != 0x30 {
		return message{}, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("response is not a SEQUENCE (tag %#x)", head[0]))
	}
	n := int(head[1])
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 {
			return message{}, ldap.NewError(ldap.ErrorUnexpectedResponse, errors.New("response length: indefinite or too long"))
		}
		if _, err := io.ReadFull(c.r, head[2:2+k]); err != nil {
			return message{}, ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("read response: %w", err))
		}
		n = 0
		for _, b := range head[2 : 2+k] {
			n = n<<8 | int(b)
		}
	}
	if n > maxMessage {
		return message{}, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("response of %d bytes exceeds %d", n, maxMessage))
	}
	var buf []byte
	var err error
	if n <= reuseMax {
		if cap(c.buf) < n {
			c.buf = make([]byte, max(n, 4096))
		}
		buf = c.buf[:n]
		_, err = io.ReadFull(c.r, buf)
	} else {
		buf, err = readN(c.r, n)
	}
	if err != nil {
		return message{}, ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("read response: %w", err))
	}
	m, err := parseMessage(buf)
	if err != nil {
		return message{}, ldap.NewError(ldap.ErrorUnexpectedResponse, err)
	}
	return m, nil
}

// readN reads exactly n bytes into a new buffer. A large message's buffer
// grows as its bytes arrive, so a length the server announces but never sends
// costs no memory.
func readN(r io.Reader, n int) ([]byte, error) {
	if n <= 1<<20 {
		buf := make([]byte, n)
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	var b bytes.Buffer
	if _, err := io.CopyN(&b, r, int64(n)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b.Bytes(), nil
}

// parseMessage decodes the content of an LDAPMessage SEQUENCE.
func parseMessage(b []byte) (message, error) {
	var m message
	tag, idBytes, rest, err := tlv(b)
	if err != nil || tag != 0x02 {
		return m, fmt.Errorf("message ID: tag %#x: %v", tag, err)
	}
	if m.id, err = parseInt(idBytes); err != nil {
		return m, fmt.Errorf("message ID: %w", err)
	}
	tag, m.body, rest, err = tlv(rest)
	if err != nil {
		return m, fmt.Errorf("protocol operation: %w", err)
	}
	if tag&0xc0 != 0x40 || tag&0x1f == 0x1f {
		return m, fmt.Errorf("protocol operation: tag %#x is not an application tag", tag)
	}
	m.op = tag & 0x1f
	for len(rest) > 0 {
		var v []byte
		if tag, v, rest, err = tlv(rest); err != nil {
			return m, fmt.Errorf("controls: %w", err)
		}
		if tag == 0xa0 {
			m.controls = v
		}
	}
	return m, nil
}

// result is the LDAPResult of a response: nil on success, else an *ldap.Error.
func (m message) result() error {
	tag, code, rest, err := tlv(m.body)
	if err != nil || tag != 0x0a {
		return ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("result code: tag %#x: %v", tag, err))
	}
	n, err := parseInt(code)
	if err != nil {
		return ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("result code: %w", err))
	}
	if n == ldap.LDAPResultSuccess {
		return nil
	}
	var diag []byte
	if _, _, rest, err = tlv(rest); err == nil { // matchedDN
		_, diag, _, _ = tlv(rest)
	}
	return ldap.NewError(uint16(n), errors.New(string(diag)))
}

// searchAll runs a paged search and calls fn with each entry: one request
// per page, the next sent once fn has seen the page before it.
func (c *streamConn) searchAll(base, filter string, attrs []string, pageSize int, fn func(dn []byte, attrs []byte) error) error {
	f, err := ldap.CompileFilter(filter)
	if err != nil {
		return err
	}
	paging := ldap.NewControlPaging(uint32(pageSize))
	for {
		id, err := c.send(searchRequest(base, ldap.ScopeWholeSubtree, f, attrs), []ldap.Control{paging})
		if err != nil {
			return err
		}
		cookie, err := c.page(id, fn)
		if err != nil || len(cookie) == 0 {
			return err
		}
		paging.SetCookie(cookie)
	}
}

// searchBase reads the entry dn itself, if filter matches it, and calls fn
// with it. The values fn sees are slices of the message's buffer.
func (c *streamConn) searchBase(dn, filter string, attrs []string, fn func(dn []byte, attrs []byte) error) error {
	f, err := ldap.CompileFilter(filter)
	if err != nil {
		return err
	}
	id, err := c.send(searchRequest(dn, ldap.ScopeBaseObject, f, attrs), nil)
	if err != nil {
		return err
	}
	_, err = c.page(id, fn)
	return err
}

// searchRequest is a SearchRequest without limits that dereferences no aliases.
func searchRequest(base string, scope int, filter *ber.Packet, attrs []string) *ber.Packet {
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchRequest, nil, "")
	req.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, base, ""))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(scope), ""))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(ldap.NeverDerefAliases), ""))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, ""))
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, ""))
	req.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, ""))
	req.AppendChild(filter)
	as := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for _, a := range attrs {
		as.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, ""))
	}
	req.AppendChild(as)
	return req
}

// page reads the responses to search id up to its SearchResultDone and
// returns the paging cookie ("" after the last page). A search it leaves
// before its end leaves responses on the way: the connection is broken.
func (c *streamConn) page(id int64, fn func(dn []byte, attrs []byte) error) (cookie []byte, err error) {
	done := false
	defer func() { c.broken = c.broken || !done }()
	for {
		m, err := c.read()
		if err != nil {
			return nil, err
		}
		if m.id == 0 {
			// A notice of disconnection (RFC 4511 4.4.1): the server is going away.
			if err := m.result(); err != nil {
				return nil, err
			}
			return nil, ldap.NewError(ldap.ErrorNetwork, errors.New("unsolicited notification from the server"))
		}
		if m.id != id {
			continue
		}
		switch m.op {
		case ldap.ApplicationSearchResultEntry:
			if err := resultEntry(m.body, fn); err != nil {
				return nil, err
			}
		case ldap.ApplicationSearchResultReference, ldap.ApplicationIntermediateResponse:
			// Referrals are not followed (go-ldap's Search collected and ignored them too).
		case ldap.ApplicationSearchResultDone:
			done = true
			if err := m.result(); err != nil {
				return nil, err
			}
			return pagingCookie(m.controls)
		default:
			return nil, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("unexpected response of type %d to a search", m.op))
		}
	}
}

// resultEntry calls fn with the DN and attribute list of a SearchResultEntry's content.
func resultEntry(body []byte, fn func(dn []byte, attrs []byte) error) error {
	tag, dn, attrs, err := tlv(body)
	if err != nil || tag != 0x04 {
		return ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("entry name: tag %#x: %v", tag, err))
	}
	tag, attrs, _, err = tlv(attrs)
	if err != nil || tag != 0x30 {
		return ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("entry attributes: tag %#x: %v", tag, err))
	}
	return fn(dn, attrs)
}

// pagingCookie finds the paged results control (RFC 2696) among controls.
func pagingCookie(controls []byte) ([]byte, error) {
	for len(controls) > 0 {
		tag, ctl, rest, err := tlv(controls)
		if err != nil || tag != 0x30 {
			return nil, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("control: tag %#x: %v", tag, err))
		}
		controls = rest
		tag, oid, ctl, err := tlv(ctl)
		if err != nil || tag != 0x04 || string(oid) != ldap.ControlTypePaging {
			continue
		}
		for len(ctl) > 0 {
			var v []byte
			if tag, v, ctl, err = tlv(ctl); err != nil {
				return nil, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("paging control: %v", err))
			}
			if tag != 0x04 { // criticality BOOLEAN comes first when present
				continue
			}
			// controlValue: SEQUENCE { size INTEGER, cookie OCTET STRING }
			tag, seq, _, err := tlv(v)
			if err != nil || tag != 0x30 {
				return nil, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("paging control value: tag %#x: %v", tag, err))
			}
			if _, _, seq, err = tlv(seq); err != nil {
				return nil, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("paging control size: %v", err))
			}
			tag, cookie, _, err := tlv(seq)
			if err != nil || tag != 0x04 {
				return nil, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("paging cookie: tag %#x: %v", tag, err))
			}
			return bytes.Clone(cookie), nil // the message's buffer is read into again
		}
	}
	return nil, nil
}

// eachAttribute calls fn with each attribute of a PartialAttributeList's content.
func eachAttribute(list []byte, fn func(name []byte, values []byte) error) error {
	for len(list) > 0 {
		tag, attr, rest, err := tlv(list)
		if err != nil || tag != 0x30 {
			return fmt.Errorf("attribute: tag %#x: %v", tag, err)
		}
		list = rest
		tag, name, vals, err := tlv(attr)
		if err != nil || tag != 0x04 {
			return fmt.Errorf("attribute type: tag %#x: %v", tag, err)
		}
		tag, vals, _, err = tlv(vals)
		if err != nil || tag != 0x31 {
			return fmt.Errorf("attribute values of %q: tag %#x: %v", name, tag, err)
		}
		if err := fn(name, vals); err != nil {
			return err
		}
	}
	return nil
}

// eachValue calls fn with each value of a SET OF AttributeValue's content.
func eachValue(set []byte, fn func(v []byte)) error {
	for len(set) > 0 {
		tag, v, rest, err := tlv(set)
		if err != nil || tag != 0x04 {
			return fmt.Errorf("attribute value: tag %#x: %v", tag, err)
		}
		fn(v)
		set = rest
	}
	return nil
}

// tlv splits the first BER element off b: its one-byte tag, its content
// (definite length only, as LDAP requires) and what follows it. The content
// is a slice of b, never a copy.
func tlv(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errors.New("truncated element")
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, errors.New("multi-byte tag")
	}
	n, head := int(b[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 {
			return 0, nil, nil, errors.New("indefinite or too long length")
		}
		if len(b) < 2+k {
			return 0, nil, nil, errors.New("truncated length")
		}
		n, head = 0, 2+k
		for _, x := range b[2 : 2+k] {
			n = n<<8 | int(x)
		}
	}
	if n < 0 || n > len(b)-head {
		return 0, nil, nil, errors.New("length beyond the message")
	}
	return tag, b[head : head+n], b[head+n:], nil
}

// parseInt reads a BER INTEGER or ENUMERATED of at most 8 bytes.
func parseInt(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 8 {
		return 0, fmt.Errorf("integer of %d bytes", len(b))
	}
	n := int64(int8(b[0]))
	for _, x := range b[1:] {
		n = n<<8 | int64(x)
	}
	return n, nil
}
