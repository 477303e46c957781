package certsource

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"
)

// indexRevocations returns a revocation for each of index.txt's R lines in
// unread, those whose certificate is not in the snapshot: a revoked serial
// stays revoked whether or not its file can be found (revoked/ cleaned up,
// a layout certgal does not know) or read. index.txt does not name its CA, so each is
// attributed to the directory's CA (directoryIssuer), or, when that is not
// known, skipped as revocation_issuer_unknown: a serial of one CA is never
// taken for another's. files are the certificate files the read found.
// caFiles are the CA certificate files looked at, whose directories a quick
// read must watch.
func (o *OpenSSL) indexRevocations(ctx context.Context, unread []indexEntry, files []fileResult,
	skip func(string, logrus.Fields)) (revs []Revocation, caFiles []string, err error) {
	if len(unread) == 0 {
		return nil, nil, nil
	}
	issuer, caFiles, why, err := o.directoryIssuer(ctx, files)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range unread {
		if issuer == "" {
			skip("revocation_issuer_unknown", logrus.Fields{"serial": strings.Clone(e.SerialHex), "error": why}) // see lineProblem
			continue
		}
		serial, ok := new(big.Int).SetString(e.SerialHex, 16) // hexadecimal: parseIndexLine
		if !ok {
			return nil, nil, fmt.Errorf("openssl source: serial %q", e.SerialHex)
		}
		revs = append(revs, Revocation{Issuer: issuer, Serial: serial, RevokedAt: e.Revoked().At, Reason: e.Revoked().Reason})
	}
	return revs, caFiles, nil
}

// directoryIssuer is the trusted CA whose database the directory is, found
// in this order, "" with why when none is certain:
//  1. its own certificate (caCertificates), when that is one of trust's;
//  2. else the one trusted CA that the certificates found verify to;
//  3. else, when nothing in the directory names a CA (no CA certificate file,
//     no certificate found), the one CA of trust, if it holds only one.
func (o *OpenSSL) directoryIssuer(ctx context.Context, files []fileResult) (id IssuerID, caFiles []string, why string, err error) {
	ids, caFiles, other := o.caCertificates()
	switch {
	case len(ids) == 1:
		return ids[0], caFiles, "", nil
	case len(ids) > 1:
		return "", caFiles, "the CA certificate files name more than one trusted CA: " + strings.Join(caFiles, ", "), nil
	}
	found, untrusted, err := o.foundIssuers(ctx, files)
	if err != nil {
		return "", nil, "", err
	}
	var method string
	switch {
	case len(found) == 1:
		id, method = found[0], "certificates"
	case len(found) > 1:
		why = "certificates of more than one trusted CA are in the directory"
	case untrusted > 0:
		why = "no certificate in the directory verifies against trust.ca_files"
	case len(other) > 0:
		why = "the directory's CA certificate is not in trust.ca_files: " + strings.Join(other, ", ")
	default:
		var ok bool
		if id, ok = o.trust.only(); ok {
			method = "the only trusted CA"
		} else {
			why = "no CA certificate in the directory, and trust.ca_files holds several CAs"
		}
	}
	if id != "" {
		o.log.WithFields(logrus.Fields{"issuer": o.trust.Name(id), "by": method}).Debug("openssl source: CA of index.txt")
	}
	return id, caFiles, why, nil
}

// caCertFiles are where a CA directory keeps its own certificate, after the
// `certificate` of its openssl.cnf: easy-rsa's ca.crt, and the names the
// openssl ca documentation and its examples give it.
var caCertFiles = [...]string{"ca.crt", "ca.pem", "cacert.pem"}

// caCertificates reads the directory's CA certificate files that exist and
// returns the trusted CAs they are (one certificate each, the first in
// the file, as openssl ca reads it), the files, and those that are no
// trusted CA (or cannot be read), with why.
func (o *OpenSSL) caCertificates() (ids []IssuerID, files, other []string) {
	var buf []byte
	seen := map[string]bool{}
	for _, name := range append(o.cnfCertificates(), caCertFiles[:]...) {
		p, ok := o.inside(name)
		if !ok || seen[p] {
			continue
		}
		seen[p] = true
		st, err := statFile(p)
		if err != nil || !st.regular {
			continue
		}
		files = append(files, p)
		data, err := readFile(p, st.size, &buf)
		if err != nil {
			other = append(other, fmt.Sprintf("%s (%v)", p, err))
			continue
		}
		der, err := decodeCertificate(data)
		if err != nil {
			other = append(other, fmt.Sprintf("%s (%v)", p, err))
			continue
		}
		ca, err := x509.ParseCertificate(der)
		if err != nil {
			other = append(other, fmt.Sprintf("%s (%v)", p, err))
			continue
		}
		id, ok := o.trust.id(ca)
		if !ok {
			other = append(other, p)
			continue
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, files, other
}

// cnfCertificates are the `certificate` values of the directory's
// openssl.cnf, relative to the directory: `$dir` is taken to be the
// directory itself (openssl.cnf's own `dir` is often relative to wherever
// openssl ca was run); a value with any other variable is not used.
func (o *OpenSSL) cnfCertificates() []string {
	p := filepath.Join(o.dir, "openssl.cnf")
	st, err := statFile(p)
	if err != nil || !st.regular {
		return nil
	}
	var buf []byte
	data, err := readFile(p, st.size, &buf)
	if err != nil {
		return nil
	}
	return parseCnfCertificates(data)
}

// parseCnfCertificates is cnfCertificates of an openssl.cnf's bytes.
func parseCnfCertificates(data []byte) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != "certificate" {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		for _, d := range []string{"$dir", "${dir}", "$(dir)"} {
			if rest, ok := strings.CutPrefix(v, d); ok {
				v = "." + rest
				break
			}
		}
		if v != "" && !strings.Contains(v, "$") {
			out = append(out, v)
		}
	}
	return out
}

// foundIssuers returns the trusted CAs the certificates of files verify to
// (it stops at two: more is no more certain), and how many verify to none.
// Each file's answer is kept with it: a file is checked once while it is
// unchanged.
func (o *OpenSSL) foundIssuers(ctx context.Context, files []fileResult) (ids []IssuerID, untrusted int, err error) {
	for _, f := range files {
		if !f.found || f.err() != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		id, ok := o.fileIssuer(f.at)
		switch {
		case !ok:
			continue // changed since it was read: the next read sees it
		case id == "":
			untrusted++
		case !slices.Contains(ids, id):
			if ids = append(ids, id); len(ids) > 1 {
				return ids, untrusted, nil
			}
		}
	}
	return ids, untrusted, nil
}

// fileIssuer is the trusted CA whose signature on the certificate of the
// file of the cache's record at pos verifies, "" for none; ok is false when
// the file no longer holds the certificate that was read.
func (o *OpenSSL) fileIssuer(pos int32) (id IssuerID, ok bool) {
	o.mu.Lock()
	rec := *o.cache.rec(pos)
	o.mu.Unlock()
	if code := rec.issuer(); code != issuerUnchecked {
		return o.issuerOf(code), true
	}
	cert := o.parsedOf(pos)
	if cert == nil {
		// Read by ReadUnparsed: read it again, as a publish would.
		der, err := o.AppendDER(nil, &Certificate{origin: o.recordPath(pos), Hash: rec.hash})
		if err != nil {
			return "", false
		}
		if cert, err = x509.ParseCertificate(der); err != nil {
			return "", false
		}
	}
	id, _ = o.trust.Issuer(cert)
	code := uint8(issuerNone)
	if i := slices.Index(o.trust.ids, id); id != "" && i >= 0 && i < 0xff-issuerNone {
		code = issuerNone + 1 + uint8(i)
	} else if id != "" {
		return id, true // a trust set of 254 CAs and more: not kept
	}
	o.mu.Lock()
	if r := o.cache.rec(pos); r.hash == rec.hash {
		r.setIssuer(code) // unless the file was read again meanwhile
	}
	o.mu.Unlock()
	return id, true
}

// The codes of fileRecord.issuer but those of the trust set's CAs.
const (
	issuerUnchecked = 0
	issuerNone      = 1
)

// issuerOf is the IssuerID of a checked fileRecord.issuer.
func (o *OpenSSL) issuerOf(code uint8) IssuerID {
	if code <= issuerNone {
		return ""
	}
	return o.trust.ids[code-issuerNone-1]
}
