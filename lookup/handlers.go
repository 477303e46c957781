package lookup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"time"
)

// Header values shared by every response; net/http only reads them. Read-only.
var (
	// A certificate may be cached for a minute: a key revoked since leaves
	// shared caches about when the next pass (every few minutes) takes it
	// out of the GAL. A 404 must be asked again: a new hire's or a renewed
	// key must not stay invisible behind a cached "none".
	hdrCacheControl = []string{"public, max-age=60"}
	hdrNoCache      = []string{"no-cache"}
	hdrNoStore      = []string{"no-store"}
	hdrNoSniff      = []string{"nosniff"}
	hdrVaryAccept   = []string{"Accept"}
	hdrAllow        = []string{"GET, HEAD"}
	hdrTextPlain    = []string{"text/plain; charset=utf-8"}
	hdrDER          = []string{"application/pkix-cert"}
	// contentTypes by format.
	contentTypes = [numFormats][]string{
		fmtDER:  hdrDER,
		fmtPEM:  {"application/x-pem-file"},
		fmtP7C:  {"application/pkcs7-mime; smime-type=certs-only"},
		fmtJSON: {"application/json"},
	}
	// formatLetters tell the ETags of a set's formats apart.
	formatLetters = [numFormats]byte{fmtDER: 'd', fmtPEM: 'p', fmtP7C: 'c', fmtJSON: 'j'}
)

// notFoundBody is the one answer to an address without a certificate, whether or not anyone
// has the address: the two must not be told apart.
const notFoundBody = "No certificate is published for this address.\n"

// endpointFunc answers a request and returns the status code it wrote.
type endpointFunc func(w http.ResponseWriter, r *http.Request) int

// endpoint wraps an endpoint with what every response gets: the rate limit, the method
// check, Cache-Control, and the metrics.
func (s *Server) endpoint(ep int, fn endpointFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h["Cache-Control"] = hdrCacheControl
		h["X-Content-Type-Options"] = hdrNoSniff
		var code int
		if ok, wait := s.clients.allow(s.proxies.clientOf(r.RemoteAddr, r.Header["X-Forwarded-For"]), start); !ok {
			code = tooManyRequests(w, wait)
		} else if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h["Allow"] = hdrAllow
			code = writeText(w, http.StatusMethodNotAllowed, "Only GET and HEAD are served here.\n")
		} else {
			code = fn(w, r)
		}
		s.metrics.count(ep, code, time.Since(start).Seconds())
	})
}

// serveCerts is GET /certs/{email}.
func (s *Server) serveCerts(w http.ResponseWriter, r *http.Request) int {
	ix := s.index.Load()
	if ix == nil {
		return notReady(w)
	}
	f, err := certsFormat(r.URL.RawQuery, r.Header.Get("Accept"))
	w.Header()["Vary"] = hdrVaryAccept
	if errors.Is(err, errNotAcceptable) {
		return writeText(w, http.StatusNotAcceptable, err.Error()+"\n")
	}
	if err != nil {
		return writeText(w, http.StatusBadRequest, err.Error()+"\n")
	}
	addr := r.PathValue("email")
	if !plausibleAddress(addr) {
		return writeText(w, http.StatusBadRequest, "Not an e-mail address.\n")
	}
	sn, ok := ix.lookupAddr(addr)
	if !ok {
		return notFound(w, notFoundBody)
	}
	return s.writeSet(w, r, ix, sn, f)
}

// writeSet answers with set sn's body in format f, read from the store and rendered into a
// pooled buffer: a 304 reads nothing. A HEAD reads the bytes as a GET would, so that it
// answers as the GET would when they cannot be served.
func (s *Server) writeSet(w http.ResponseWriter, r *http.Request, ix *Index, sn uint32, f int) int {
	sum := ix.setSum(sn)
	if f == fmtDER {
		sum = ix.certs[ix.setCerts(sn)[0]].sum
	}
	etag := etagHeader(sum, formatLetters[f])
	if notModified(w, r, etag) {
		return http.StatusNotModified
	}
	buf := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(buf)
	var body []byte
	var err error
	if *buf, body, err = ix.appendBody((*buf)[:0], sn, f); err != nil {
		return s.storeFailed(w, ix, err)
	}
	code := writeOK(w, etag, ix.lengths.header(len(body)), contentTypes[f])
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // an error is the client leaving; nothing to tell it
	}
	return code
}

// storeFailed answers a request whose certificates could not be read, or were not the bytes
// written: 500 for bytes that changed (never served; the next index fetches the certificate
// again), 503 when the store could not be read (a closed file, an I/O error).
func (s *Server) storeFailed(w http.ResponseWriter, ix *Index, err error) int {
	s.log.WithField("error", err.Error()).Error("lookup: certificate not served")
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	var ce *corruptError
	if errors.As(err, &ce) {
		ix.body.store.markBad(ce.sum)
		s.metrics.storeErrors[storeCorrupt].Inc()
		return writeText(w, http.StatusInternalServerError, "internal error\n")
	}
	s.metrics.storeErrors[storeRead].Inc()
	h["Retry-After"] = []string{"30"}
	return writeText(w, http.StatusServiceUnavailable, "The certificate could not be read; try again later.\n")
}

// serveSearch is RFC 4387's GET /search.cgi: one certificate as application/pkix-cert,
// several as multipart/mixed of application/pkix-cert parts, none 404.
func (s *Server) serveSearch(w http.ResponseWriter, r *http.Request) int {
	ix := s.index.Load()
	if ix == nil {
		return notReady(w)
	}
	q, err := parseSearch(r.URL.RawQuery)
	if err != nil {
		return writeText(w, http.StatusBadRequest, err.Error()+"\n")
	}
	var found [maxSearchResults + 1]uint32
	var certs []uint32
	if q.byKey {
		buf := s.bufs.Get().(*[]byte)
		certs, *buf, err = ix.lookupKey(found[:0], (*buf)[:0], q.key, q.hash)
		s.bufs.Put(buf)
		if err != nil {
			return s.storeFailed(w, ix, err)
		}
	} else if sn, ok := ix.lookupAddr(q.email); ok {
		certs = ix.setCerts(sn)
	}
	switch {
	case len(certs) == 0:
		return notFound(w, notFoundBody)
	case len(certs) > maxSearchResults:
		return writeText(w, http.StatusForbidden, "The search matches too many certificates; search by email, certHash or iAndSHash.\n")
	case len(certs) == 1:
		return s.writeSet(w, r, ix, certs[0], fmtDER) // certificate n's set of itself is set n
	}
	return s.writeMultipart(w, r, ix, certs)
}

// writeMultipart answers with several certificates. It is built per request: only a search
// matching a user's several certificates gets here.
func (s *Server) writeMultipart(w http.ResponseWriter, r *http.Request, ix *Index, certs []uint32) int {
	h := sha256.New()
	for _, n := range certs {
		h.Write(ix.certs[n].sum[:])
	}
	var sum [32]byte
	h.Sum(sum[:0])
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	boundary := "certgal-" + hex.EncodeToString(sum[:16])
	if err := mw.SetBoundary(boundary); err != nil {
		return writeText(w, http.StatusInternalServerError, "internal error\n")
	}
	part := textproto.MIMEHeader{"Content-Type": hdrDER}
	var der []byte
	for i, n := range certs {
		var err error
		if der, err = ix.load(der[:0], certs[i:i+1], false); err != nil {
			return s.storeFailed(w, ix, err)
		}
		p, err := mw.CreatePart(part)
		if err == nil {
			_, err = p.Write(der[:ix.certs[n].der])
		}
		if err != nil {
			return writeText(w, http.StatusInternalServerError, "internal error\n")
		}
	}
	mw.Close()
	rp := prepared{body: buf.Bytes(), etag: []string{etagOf(sum, 'm')}, length: []string{strconv.Itoa(buf.Len())}}
	return writeResponse(w, r, rp, []string{"multipart/mixed; boundary=" + boundary})
}

// prepared is a response body with its header values, in the form the handlers write it.
type prepared struct {
	body         []byte
	etag, length []string
}

// writeResponse writes a prepared body, or 304 when the client has it already.
func writeResponse(w http.ResponseWriter, r *http.Request, rp prepared, contentType []string) int {
	code, body := writeHead(w, r, rp.etag, rp.length, contentType)
	if body {
		_, _ = w.Write(rp.body) // an error is the client leaving; nothing to tell it
	}
	return code
}

// notModified answers 304 when the client has the representation whose ETag is etag already.
func notModified(w http.ResponseWriter, r *http.Request, etag []string) bool {
	inm, ok := r.Header["If-None-Match"]
	if !ok {
		return false
	}
	for _, v := range inm {
		if etagMatches(v, etag[0]) {
			w.Header()["Etag"] = etag
			w.WriteHeader(http.StatusNotModified)
			return true
		}
	}
	return false
}

// writeHead writes a response's status and headers, 304 when the client has it already;
// body says whether its body is to follow.
func writeHead(w http.ResponseWriter, r *http.Request, etag, length, contentType []string) (code int, body bool) {
	if notModified(w, r, etag) {
		return http.StatusNotModified, false
	}
	return writeOK(w, etag, length, contentType), r.Method != http.MethodHead
}

// writeOK writes a 200's status and headers.
func writeOK(w http.ResponseWriter, etag, length, contentType []string) int {
	h := w.Header()
	h["Etag"] = etag
	h["Content-Type"] = contentType
	h["Content-Length"] = length
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

// writeText writes a short plain-text answer, an error or a refusal.
func writeText(w http.ResponseWriter, code int, msg string) int {
	h := w.Header()
	h["Content-Type"] = hdrTextPlain
	h["Content-Length"] = []string{strconv.Itoa(len(msg))}
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
	return code
}

func tooManyRequests(w http.ResponseWriter, wait time.Duration) int {
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	secs := max(int((wait+time.Second-1)/time.Second), 1)
	h["Retry-After"] = []string{strconv.Itoa(secs)}
	return writeText(w, http.StatusTooManyRequests, "Too many requests from your address; try again in "+strconv.Itoa(secs)+"s.\n")
}

func notReady(w http.ResponseWriter) int {
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	h["Retry-After"] = []string{"30"}
	return writeText(w, http.StatusServiceUnavailable, "The lookup service is starting: no directory pass has finished yet.\n")
}

func serveNotFound(w http.ResponseWriter, _ *http.Request) int {
	return notFound(w, "Not found. Certificates are at /certs/{email} and /search.cgi.\n")
}

// notFound answers 404, which no cache may keep without asking again.
func notFound(w http.ResponseWriter, body string) int {
	w.Header()["Cache-Control"] = hdrNoCache
	return writeText(w, http.StatusNotFound, body)
}
