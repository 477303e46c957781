package sync

import (
	"encoding/hex"
)

// Action is what a plan line does.
type Action string

// The plan's actions.
const (
	ActionAdd    Action = "add"
	ActionRemove Action = "remove"
	ActionSkip   Action = "skip"
)

// Why values are removed or certificates skipped. They are metric label values
// and part of the JSON plan: keep them stable.
const (
	ReasonNew            = "new"
	ReasonRevoked        = "revoked"
	ReasonExpired        = "expired"
	ReasonSuperseded     = "superseded"
	ReasonNoUser         = "no_user"
	ReasonAmbiguous      = "ambiguous_address"
	ReasonUntrusted      = "untrusted_issuer"
	ReasonMaxValues      = "max_values"
	ReasonUnknownOwned   = "unknown_to_source"
	ReasonNotYetValid    = "not_yet_valid"
	ReasonBrokenSource   = "broken_certificate"
	ReasonUnusablePrefix = "unusable_"
	ReasonTooLarge       = "value_too_large"
	ReasonFrozen         = "issuer_frozen"
	// ReasonNotPublishable reports an owned value certgal would not publish
	// for the user (a smart-card, signing-only or EFS certificate of the same
	// CA, or one for another user's address): it is left alone.
	ReasonNotPublishable = "not_publishable"
	// ReasonSameIssuerSerial: a value is not removed because the entry holds
	// another with the same issuer and serial, which a directory matching by
	// issuer and serial (OpenLDAP) would delete instead or as well.
	ReasonSameIssuerSerial = "same_issuer_serial"

	// userSMIMECertificate (policy.smime_attribute). A blob is stale when every
	// certificate in it is certgal's and none should still be published.
	ReasonStaleSMIME    = "stale_smime"    // skip (report, or not removable here) or remove
	ReasonManagedSMIME  = "managed_smime"  // add: the certs-only PKCS#7 of the desired certificates
	ReasonReplacedSMIME = "replaced_smime" // remove: an owned blob the managed one replaces
	ReasonBrokenSMIME   = "broken_smime"   // skip: not a PKCS#7 SignedData with certificates; never deleted
	ReasonForeignSMIME  = "foreign_smime"  // skip: the attribute holds a blob certgal does not own and can only be replaced whole

	// ReasonValueRejected counts (metric and log, not a plan line) values the
	// directory refused when written, e.g. beyond a size limit certgal did not know.
	ReasonValueRejected = "value_rejected"
)

// AttrSMIME names the attribute of a plan line about Outlook's blob; lines
// about userCertificate carry no attribute.
const AttrSMIME = "userSMIMECertificate"

// Change is one line of a plan.
type Change struct {
	Action Action `json:"action"`
	DN     string `json:"dn,omitempty"`
	Email  string `json:"email,omitempty"`
	Serial string `json:"serial"`
	Issuer string `json:"issuer"`
	Reason string `json:"reason"`
	SHA256 string `json:"sha256"`
	// Attribute is AttrSMIME for a line about a userSMIMECertificate blob; its
	// SHA256 is then the whole blob's, and Email, Serial and Issuer those of
	// the blob's first certificate.
	Attribute string `json:"attribute,omitempty"`
	// Held marks a change the plan computed but does not write, because the
	// pass is blocked (Plan.Blocked).
	Held bool `json:"held,omitempty"`

	cert *Cert
	blob *Blob
	// revocation marks the removal of a revoked value (or of a blob of
	// revoked values only): never held back by policy.max_deletes.
	revocation bool
	// takesKey marks a removal that leaves one of the user's addresses
	// without a key: what policy.max_deletes counts.
	takesKey bool
}

func newChange(a Action, dn, email string, c *Cert, reason string) Change {
	return Change{Action: a, DN: dn, Email: email, Serial: c.SerialHex(), Issuer: c.IssuerName(),
		Reason: reason, SHA256: hex.EncodeToString(c.Hash[:]), cert: c}
}

func newBlobChange(a Action, dn string, b *Blob, reason string) Change {
	c := Change{Action: a, DN: dn, Reason: reason, Attribute: AttrSMIME, blob: b}
	if b.DER != nil { // a planned blob's hash is known once it is encoded
		c.SHA256 = hex.EncodeToString(b.Hash[:])
	}
	if first := b.first(); first != nil {
		c.Email, c.Serial, c.Issuer = firstEmail(first), first.SerialHex(), first.IssuerName()
	}
	return c
}
