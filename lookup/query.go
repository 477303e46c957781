package lookup

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/certgal/certgal/internal/mailaddr"
)

// Parsers of what clients send: the query string, Accept and If-None-Match. They work on
// substrings of their input and allocate only to unescape.

var (
	errBadQuery      = errors.New("malformed query string")
	errBadFormat     = errors.New("format must be one of der, pem, p7c, json")
	errNotAcceptable = errors.New("none of the acceptable media types is served here: application/pkix-cert, application/x-pem-file, application/pkcs7-mime, application/json")
)

// nextParam splits the first key=value pair off a raw query string and unescapes both. A '+'
// stays a '+': RFC 4387 search keys are base64 and addresses may hold a '+', and neither
// ever means a space here.
func nextParam(raw string) (key, value, rest string, err error) {
	pair, rest, _ := strings.Cut(raw, "&")
	k, v, _ := strings.Cut(pair, "=")
	if key, err = url.PathUnescape(k); err != nil {
		return "", "", "", errBadQuery
	}
	if value, err = url.PathUnescape(v); err != nil {
		return "", "", "", errBadQuery
	}
	return key, value, rest, nil
}

// formatParam returns the value of "format" in a raw query string ("" when absent). Other
// parameters are ignored (a cache-busting one, say); format twice is an error.
func formatParam(raw string) (string, error) {
	format, seen := "", false
	for raw != "" {
		k, v, rest, err := nextParam(raw)
		if err != nil {
			return "", err
		}
		raw = rest
		if k != "format" {
			continue
		}
		if seen {
			return "", errBadQuery
		}
		format, seen = v, true
	}
	return format, nil
}

// formatByName maps ?format= values.
func formatByName(name string) (int, bool) {
	switch name {
	case "der", "cer", "crt":
		return fmtDER, true
	case "pem":
		return fmtPEM, true
	case "p7c", "p7b", "pkcs7":
		return fmtP7C, true
	case "json":
		return fmtJSON, true
	}
	return 0, false
}

// certsFormat picks the format of a /certs response: ?format= wins, then Accept, then DER.
func certsFormat(rawQuery, accept string) (int, error) {
	name, err := formatParam(rawQuery)
	if err != nil {
		return 0, err
	}
	if name != "" {
		f, ok := formatByName(name)
		if !ok {
			return 0, errBadFormat
		}
		return f, nil
	}
	return negotiate(accept)
}

// mediaFormat maps a media type (lower case, no parameters) to a format.
func mediaFormat(mt string) (int, bool) {
	switch mt {
	case "application/pkix-cert", "application/x-x509-user-cert", "application/x-x509-ca-cert":
		return fmtDER, true
	case "application/x-pem-file", "application/pem-certificate-chain":
		return fmtPEM, true
	case "application/pkcs7-mime", "application/x-pkcs7-certificates", "application/x-pkcs7-mime":
		return fmtP7C, true
	case "application/json":
		return fmtJSON, true
	}
	return 0, false
}

// negotiate reads an Accept header (RFC 9110 section 12.5.1): each format gets the q of the
// most specific range that matches it, the highest q wins, and ties go to the earlier format
// (DER first). No header, or one that cannot be read at all, means DER.
func negotiate(accept string) (int, error) {
	if strings.TrimSpace(accept) == "" {
		return fmtDER, nil
	}
	var w acceptWeights
	if !w.read(accept) {
		return fmtDER, nil
	}
	return w.best()
}

// How specific the media range is that gave a format its q.
const (
	specNone        = iota
	specAny         // */*
	specApplication // application/*
	specExact
)

// acceptWeights is the q an Accept header gives each format, and how specific the range
// was that gave it.
type acceptWeights struct {
	q    [numFormats]float64
	spec [numFormats]int
}

// read applies the media ranges of accept in turn; false when none could be read.
func (w *acceptWeights) read(accept string) bool {
	parsed := false
	for accept != "" {
		var rng string
		rng, accept, _ = strings.Cut(accept, ",")
		mt, params, _ := strings.Cut(rng, ";")
		mt = strings.TrimSpace(mt)
		if mt == "" {
			continue
		}
		q, ok := qValue(params)
		if !ok {
			continue
		}
		parsed = true
		w.apply(mt, q)
	}
	return parsed
}

// apply gives q to the formats the media range mt matches. A wildcard leaves the formats that
// a range as specific or more already gave a q; an exact type always sets its format's.
func (w *acceptWeights) apply(mt string, q float64) {
	typ, sub, ok := strings.Cut(mt, "/")
	switch {
	case !ok:
	case typ == "*" && sub == "*":
		w.wildcard(specAny, q)
	case strings.EqualFold(typ, "application") && sub == "*":
		w.wildcard(specApplication, q)
	default:
		if f, ok := mediaFormat(mailaddr.ASCIILower(mt)); ok {
			w.q[f], w.spec[f] = q, specExact
		}
	}
}

// wildcard gives q to every format that no range as specific as spec, or more, gave one.
func (w *acceptWeights) wildcard(spec int, q float64) {
	for f := range numFormats {
		if w.spec[f] < spec {
			w.q[f], w.spec[f] = q, spec
		}
	}
}

// best is the format with the highest q above 0, the earlier of equals.
func (w *acceptWeights) best() (int, error) {
	best := -1
	for f := range numFormats {
		if w.q[f] > 0 && (best < 0 || w.q[f] > w.q[best]) {
			best = f
		}
	}
	if best < 0 {
		return 0, errNotAcceptable
	}
	return best, nil
}

// qValue finds q= among a media range's parameters; 1 when absent, false when unreadable.
func qValue(params string) (float64, bool) {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 {
			return 0, false
		}
		return f, true
	}
	return 1, true
}

// etagMatches reports whether an If-None-Match header names etag (RFC 9110 section 13.1.2:
// weak comparison, so W/"x" matches "x"; * matches anything).
func etagMatches(header, etag string) bool {
	for header != "" {
		header = strings.TrimLeft(header, " \t,")
		if header == "" {
			return false
		}
		if header[0] == '*' {
			return true
		}
		header = strings.TrimPrefix(header, "W/")
		if header == "" || header[0] != '"' {
			return false // malformed: match nothing rather than guess
		}
		end := strings.IndexByte(header[1:], '"')
		if end < 0 {
			return false
		}
		if header[:end+2] == etag {
			return true
		}
		header = header[end+2:]
	}
	return false
}

// searchQuery is a parsed /search.cgi query: one attribute, one value.
type searchQuery struct {
	email string   // for attr email (or uri)
	key   int      // for a hash attribute, one of the key* constants
	hash  [20]byte // the decoded search key
	byKey bool
}

// parseSearch reads a /search.cgi query string. RFC 4387 asks by one attribute; two, an
// unknown one, an empty value or a value that is no search key are malformed.
func parseSearch(raw string) (searchQuery, error) {
	var q searchQuery
	if raw == "" {
		return q, errors.New("missing query: search by email, certHash, sHash, iHash, iAndSHash or sKIDHash")
	}
	if strings.Contains(raw, "&") {
		return q, errors.New("search by exactly one attribute")
	}
	k, v, _, err := nextParam(raw)
	if err != nil {
		return q, err
	}
	if v == "" {
		return q, errors.New("empty value")
	}
	if k == "email" || k == "uri" {
		// RFC 4387's uri is the subject's address for S/MIME, without a mailto: scheme.
		v = strings.TrimPrefix(v, "mailto:")
		if !plausibleAddress(v) {
			return q, errors.New("not an e-mail address")
		}
		q.email = v
		return q, nil
	}
	for i, name := range searchAttrs {
		if k == name {
			h, ok := parseSearchKey(v)
			if !ok {
				return q, errors.New("a search key is 27 characters of base64 (A-Z a-z 0-9 + /) without padding; escape + and / as %2B and %2F")
			}
			q.key, q.hash, q.byKey = i, h, true
			return q, nil
		}
	}
	return q, errors.New("unsupported attribute: search by email, certHash, sHash, iHash, iAndSHash or sKIDHash")
}
