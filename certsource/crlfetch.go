package certsource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"time"
)

const (
	// crlFetchTimeout bounds one CRL download, whatever the pass's deadline.
	crlFetchTimeout = 30 * time.Second
	// maxCRLSize bounds what a CRL endpoint may make us hold in memory.
	maxCRLSize = 64 << 20
)

// newCRLClient returns an HTTP client for CRL endpoints. Over HTTPS it trusts
// the system roots and the trusted issuing CAs, which usually sign their own
// CA server's certificate (step-ca does). The CRL's own signature is checked
// either way: TLS only keeps the download from being swapped for an older one.
func newCRLClient(trust *Trust) *http.Client {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	for _, ca := range trust.cas {
		roots.AddCert(ca)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: crlFetchTimeout}
}

// fetchedCRL is a downloaded CRL whose signature verified.
type fetchedCRL struct {
	issuer     IssuerID
	revs       []Revocation
	nextUpdate time.Time
}

// fetchCRL downloads a CRL (DER or PEM) and checks it against trust.
func fetchCRL(ctx context.Context, client *http.Client, rawURL string, trust *Trust) (*fetchedCRL, error) {
	url := redactURL(rawURL)
	ctx, cancel := context.WithTimeout(ctx, crlFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("CRL %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/pkix-crl")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("CRL: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("CRL %s: HTTP %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCRLSize+1))
	if err != nil {
		return nil, fmt.Errorf("CRL %s: read: %w", url, err)
	}
	if len(data) > maxCRLSize {
		return nil, fmt.Errorf("CRL %s: larger than %d bytes", url, maxCRLSize)
	}
	fc := classifyFile("", data)
	if fc.refused != "" || len(fc.crls) != 1 || len(fc.certs) != 0 {
		return nil, fmt.Errorf("CRL %s: the response is not one CRL", url)
	}
	issuer, revs, err := verifyCRL(fc.crls[0], trust)
	if err != nil {
		return nil, fmt.Errorf("CRL %s: %w", url, err)
	}
	return &fetchedCRL{issuer: issuer, revs: revs, nextUpdate: fc.crls[0].NextUpdate}, nil
}

// redactURL hides a password in a URL's userinfo, for messages.
func redactURL(s string) string {
	u, err := neturl.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
