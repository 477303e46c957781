package lookup

import (
	"crypto/sha256"
	"embed"
	"net/http"
	"strconv"
)

//go:embed page/index.html page/page.js page/page.css
var pageFiles embed.FS

// The page's own headers: no script or style from anywhere but here, no framing, and no
// address leaking through a Referer. Read-only.
var (
	hdrCSP         = []string{"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"}
	hdrNoReferrer  = []string{"no-referrer"}
	hdrHTML        = []string{"text/html; charset=utf-8"}
	hdrJS          = []string{"text/javascript; charset=utf-8"}
	hdrCSS         = []string{"text/css; charset=utf-8"}
	pageStaticType = map[string][]string{"page.js": hdrJS, "page.css": hdrCSS}
)

// page is the small page for people at /, prepared once.
type page struct {
	index  prepared
	static map[string]prepared
}

func newPage() *page {
	p := &page{static: map[string]prepared{}}
	p.index = fileRep("page/index.html")
	for name := range pageStaticType {
		p.static[name] = fileRep("page/" + name)
	}
	return p
}

func fileRep(name string) prepared {
	b, err := pageFiles.ReadFile(name)
	if err != nil {
		panic("lookup: embedded " + name + " missing: " + err.Error()) // a build error, really
	}
	return prepared{body: b, etag: []string{etagOf(sha256.Sum256(b), 's')}, length: []string{strconv.Itoa(len(b))}}
}

func (p *page) serveIndex(w http.ResponseWriter, r *http.Request) int {
	pageHeaders(w)
	return writeResponse(w, r, p.index, hdrHTML)
}

func (p *page) serveStatic(w http.ResponseWriter, r *http.Request) int {
	name := r.PathValue("file")
	rp, ok := p.static[name]
	if !ok {
		return serveNotFound(w, r)
	}
	pageHeaders(w)
	return writeResponse(w, r, rp, pageStaticType[name])
}

func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Security-Policy"] = hdrCSP
	h["Referrer-Policy"] = hdrNoReferrer
}
