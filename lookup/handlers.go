package lookup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
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
	set := ix.lookupAddr(addr)
	if set == nil {
		return notFound(w, notFoundBody)
	}
	if rendered(f) {
		return s.writeRendered(w, r, ix, set, f)
	}
	return writeResponse(w, r, ix.response(&set.reps[f]), contentTypes[f])
}

// writeRendered answers with st's body in format f, rendered into a pooled buffer only when
// it is sent: a HEAD or a 304 renders nothing.
func (s *Server) writeRendered(w http.ResponseWriter, r *http.Request, ix *Index, st *set, f int) int {
	rp := &st.reps[f]
	code, body := writeHead(w, r, ix.header(rp.etag), ix.header(rp.length), contentTypes[f])
	if body {
		buf := s.bufs.Get().(*[]byte)
		*buf = ix.appendBody(slices.Grow((*buf)[:0], rp.body.n), st, f)
		_, _ = w.Write(*buf) // an error is the client leaving; nothing to tell it
		s.bufs.Put(buf)
	}
	return code
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
	var certs []uint32
	if q.byKey {
		certs = ix.lookupKey(q.key, q.hash)
	} else if set := ix.lookupAddr(q.email); set != nil {
		certs = ix.setCerts(set)
	}
	switch {
	case len(certs) == 0:
		return notFound(w, notFoundBody)
	case len(certs) > maxSearchResults:
		return writeText(w, http.StatusForbidden, "The search matches too many certificates; search by email, certHash or iAndSHash.\n")
	case len(certs) == 1:
		return writeResponse(w, r, ix.response(&ix.sets[certs[0]].reps[fmtDER]), hdrDER)
	}
	return writeMultipart(w, r, ix, certs)
}

// writeMultipart answers with several certificates. It is built per request: only a search
// matching a user's several certificates gets here.
func writeMultipart(w http.ResponseWriter, r *http.Request, ix *Index, certs []uint32) int {
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
	for _, n := range certs {
		p, err := mw.CreatePart(part)
		if err == nil {
			_, err = p.Write(ix.bytes(ix.certs[n].derSpan()))
		}
		if err != nil {
			return writeText(w, http.StatusInternalServerError, "internal error\n")
		}
	}
	mw.Close()
	rp := prepared{body: buf.Bytes(), etag: []string{etagOf(sum, 'm')}, length: []string{strconv.Itoa(buf.Len())}}
	return writeResponse(w, r, rp, []string{"multipart/mixed; boundary=" + boundary})
}

// writeResponse writes a prepared body, or 304 when the client has it already.
func writeResponse(w http.ResponseWriter, r *http.Request, rp prepared, contentType []string) int {
	code, body := writeHead(w, r, rp.etag, rp.length, contentType)
	if body {
		_, _ = w.Write(rp.body) // an error is the client leaving; nothing to tell it
	}
	return code
}

// writeHead writes a response's status and headers, 304 when the client has it already;
// body says whether its body is to follow.
func writeHead(w http.ResponseWriter, r *http.Request, etag, length, contentType []string) (code int, body bool) {
	h := w.Header()
	h["Etag"] = etag
	if inm, ok := r.Header["If-None-Match"]; ok {
		for _, v := range inm {
			if etagMatches(v, etag[0]) {
				w.WriteHeader(http.StatusNotModified)
				return http.StatusNotModified, false
			}
		}
	}
	h["Content-Type"] = contentType
	h["Content-Length"] = length
	w.WriteHeader(http.StatusOK)
	return http.StatusOK, r.Method != http.MethodHead
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
