{
	"subject": {"commonName": {{ toJson .Subject.CommonName }}},
	"sans": {{ toJson .SANs }},
	"keyUsage": ["digitalSignature", "keyEncipherment"],
	"extKeyUsage": ["emailProtection"],
	"basicConstraints": {"isCA": false, "maxPathLen": 0}
}
