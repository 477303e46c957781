package sync

import "github.com/certgal/certgal/certsource"

// certFields are what a test says of a Cert, as Classify finds them.
type certFields struct {
	Hash                [32]byte
	DER                 []byte
	Size                int
	SerialHex           string
	Issuer              certsource.IssuerID
	IssuerName          string
	Emails              []string
	notBefore, notAfter int64
	unusable            uint8
	Broken              bool
}

// cert is the Cert of f.
func (f certFields) cert() *Cert {
	c := &Cert{Hash: f.Hash, size: uint32(f.Size), unusable: f.unusable, Broken: f.Broken}
	if !c.setTimes(f.notBefore, f.notAfter) {
		panic("certFields: a time out of range")
	}
	if !f.Broken {
		c.text = certText(f.SerialHex, f.Emails...)
		c.issuer = &certIssuer{id: f.Issuer, name: f.IssuerName, der: f.DER}
	}
	return c
}

// certsOf are the Certs of fs.
func certsOf(fs ...certFields) []*Cert {
	out := make([]*Cert, len(fs))
	for i, f := range fs {
		out[i] = f.cert()
	}
	return out
}
