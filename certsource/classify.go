package certsource

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Reasons a drop-folder file, or part of one, is not used. They label
// certgal_sync_skipped_total, so they are few and fixed.
const (
	ReasonRefusedPKCS12     = "refused_pkcs12"
	ReasonRefusedPrivateKey = "refused_private_key"
	ReasonBadCertificate    = "bad_certificate"
	ReasonBadPKCS7          = "bad_pkcs7"
	ReasonBadCRL            = "bad_crl"
	ReasonStaleCRL          = "stale_crl"
	ReasonUnknownFile       = "unknown_file"
	ReasonUnreadableFile    = "unreadable_file"
	ReasonFileTooLarge      = "file_too_large"
)

// fileContent is what one file of a drop folder holds, before any trust decision.
type fileContent struct {
	// refused is set for a file holding key material: nothing else in it is used
	// and nothing of it is ever logged.
	refused  string
	certs    []*x509.Certificate
	crls     []*x509.RevocationList
	problems []fileProblem
}

// fileProblem is one part of a file that was not used. err never quotes the
// file's bytes.
type fileProblem struct {
	reason string
	err    error
}

var (
	oidPKCS7Data       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidPKCS7SignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
)

// refusedByName reports whether a file is PKCS#12 by its name alone, so that
// it is refused without being opened.
func refusedByName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".p12", ".pfx":
		return true
	}
	return false
}

// classifyFile says what a drop-folder file holds: certificates (PEM, DER,
// PKCS#7), CRLs (PEM, DER), or something refused (PKCS#12, a private key) or
// unknown. It decides by content, whatever the file is called, except that a
// .p12 or .pfx is refused by name.
func classifyFile(name string, data []byte) fileContent {
	if refusedByName(name) {
		return fileContent{refused: ReasonRefusedPKCS12}
	}
	// Checked before any decoding, so a key is never parsed, not even by accident.
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		return fileContent{refused: ReasonRefusedPrivateKey}
	}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return classifyPEM(data)
	}
	return classifyDER(data)
}

func classifyPEM(data []byte) fileContent {
	var fc fileContent
	found := false
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		found = true
		switch t := block.Type; {
		case strings.Contains(t, "PRIVATE KEY"):
			return fileContent{refused: ReasonRefusedPrivateKey}
		case strings.Contains(t, "PKCS12"), strings.Contains(t, "PFX"):
			return fileContent{refused: ReasonRefusedPKCS12}
		case t == "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				fc.problems = append(fc.problems, fileProblem{ReasonBadCertificate, fmt.Errorf("PEM block %d: %w", n, err)})
				continue
			}
			fc.certs = append(fc.certs, c)
		case t == "X509 CRL":
			crl, err := x509.ParseRevocationList(block.Bytes)
			if err != nil {
				fc.problems = append(fc.problems, fileProblem{ReasonBadCRL, fmt.Errorf("PEM block %d: %w", n, err)})
				continue
			}
			fc.crls = append(fc.crls, crl)
		case t == "PKCS7", t == "CMS":
			der := classifyDER(block.Bytes)
			if der.refused != "" {
				return der
			}
			fc.certs = append(fc.certs, der.certs...)
			fc.crls = append(fc.crls, der.crls...)
			for _, p := range der.problems {
				fc.problems = append(fc.problems, fileProblem{p.reason, fmt.Errorf("PEM block %d: %w", n, p.err)})
			}
		default:
			// A CSR or a public key next to the certificates is harmless but unused.
			fc.problems = append(fc.problems, fileProblem{ReasonUnknownFile, fmt.Errorf("PEM block %d of type %q is not used", n, t)})
		}
	}
	if !found {
		fc.problems = append(fc.problems, fileProblem{ReasonUnknownFile, fmt.Errorf("no PEM block")})
	}
	return fc
}

// classifyDER looks at the shape of the outer SEQUENCE before parsing: its
// first element is a SEQUENCE for a certificate or a CRL, an OBJECT IDENTIFIER
// for PKCS#7, and an INTEGER for PKCS#12 (version 3) and for every private key
// format (PKCS#1, PKCS#8, SEC 1), which are refused without being decoded.
func classifyDER(data []byte) fileContent {
	in := cryptobyte.String(data)
	var outer cryptobyte.String
	var tag cbasn1.Tag
	if !in.ReadAnyASN1(&outer, &tag) || tag != cbasn1.SEQUENCE {
		return fileContent{problems: []fileProblem{{ReasonUnknownFile, fmt.Errorf("neither PEM nor a DER SEQUENCE")}}}
	}
	switch {
	case outer.PeekASN1Tag(cbasn1.INTEGER):
		if isPFX(outer) {
			return fileContent{refused: ReasonRefusedPKCS12}
		}
		return fileContent{refused: ReasonRefusedPrivateKey}
	case outer.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER):
		var oid asn1.ObjectIdentifier
		probe := outer
		if !probe.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidPKCS7SignedData) {
			return fileContent{problems: []fileProblem{{ReasonUnknownFile, fmt.Errorf("DER ContentInfo of type %s is not certs-only PKCS#7", oid)}}}
		}
		certs, crls, err := ParsePKCS7(data)
		if err != nil {
			return fileContent{problems: []fileProblem{{ReasonBadPKCS7, err}}}
		}
		return fileContent{certs: certs, crls: crls}
	case outer.PeekASN1Tag(cbasn1.SEQUENCE):
		c, certErr := x509.ParseCertificate(data)
		if certErr == nil {
			return fileContent{certs: []*x509.Certificate{c}}
		}
		crl, crlErr := x509.ParseRevocationList(data)
		if crlErr == nil {
			return fileContent{crls: []*x509.RevocationList{crl}}
		}
		return fileContent{problems: []fileProblem{{ReasonBadCertificate, fmt.Errorf("DER is neither a certificate (%v) nor a CRL (%v)", certErr, crlErr)}}}
	}
	return fileContent{problems: []fileProblem{{ReasonUnknownFile, fmt.Errorf("DER SEQUENCE of unknown shape")}}}
}

// isPFX reports whether the content of a SEQUENCE looks like PKCS#12's PFX:
// version INTEGER 3, then a ContentInfo of type data or signedData.
func isPFX(s cryptobyte.String) bool {
	var version int
	var authSafe cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1Integer(&version) || version != 3 ||
		!s.ReadASN1(&authSafe, cbasn1.SEQUENCE) || !authSafe.ReadASN1ObjectIdentifier(&oid) {
		return false
	}
	return oid.Equal(oidPKCS7Data) || oid.Equal(oidPKCS7SignedData)
}
