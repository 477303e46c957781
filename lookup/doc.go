// Package lookup serves the certificates a pass published to people and programs that send
// encrypted mail: GET /certs/{email} (DER, PEM, a certs-only PKCS#7 or JSON), the RFC 4387
// certificate store at /search.cgi, and a small page at / for people.
//
// It serves an in-memory Index that the daemon builds from each successful pass and hands over
// with Server.Swap; a request never reaches the directory or the CA store. The DER and p7c
// bodies and every header value are prepared when the index is built; PEM and JSON, which
// would take twice the memory of the rest, are rendered from the DER into a reused buffer. So
// answering allocates nothing beyond what net/http does.
//
// Nobody can list the directory through it: an address is looked up exactly (ASCII letters
// folded to lower case, nothing else), there is no prefix search and no listing, an address
// nobody has and an address whose user has no certificate get the same 404, byte for byte, and
// a search whose answer would hold more than a user's worth of certificates (an iHash for the
// organisation's CA) is refused. Each client address gets a token bucket.
//
// lookup imports none of certgal's packages except config, for its section's type.
package lookup
