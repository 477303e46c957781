// Package lookup serves the certificates a pass published to people and programs that send
// encrypted mail: GET /certs/{email} (DER, PEM, a certs-only PKCS#7 or JSON), the RFC 4387
// certificate store at /search.cgi, and a small page at / for people.
//
// It serves an Index that the daemon builds from each successful pass and hands over with
// Server.Swap; a request never reaches the directory or the CA store. The index keeps small
// records in memory and the certificates' bytes in a file of its own (in memory when no file
// can be made), written once and shared by the indexes rebuilt from it: a request reads its
// certificates' bytes with one ReadAt, checks them against their SHA-256, and renders DER,
// PEM, p7c or JSON into a reused buffer. Bytes that changed are never served. So answering
// allocates one ETag value beyond what net/http does.
//
// Nobody can list the directory through it: an address is looked up exactly (ASCII letters
// folded to lower case, nothing else), there is no prefix search and no listing, an address
// nobody has and an address whose user has no certificate get the same 404, byte for byte, and
// a search whose answer would hold more than a user's worth of certificates (an iHash for the
// organisation's CA) is refused. Each client address gets a token bucket.
//
// lookup imports none of certgal's packages except config, for its section's type.
package lookup
