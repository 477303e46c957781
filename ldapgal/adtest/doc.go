// Package adtest runs a real Active Directory for integration tests: a private Samba AD DC
// (realm CORP.EXAMPLE.COM, base DC=corp,DC=example,DC=com) started by testdata/samba/start.sh on
// 127.0.0.1, reached over LDAPS with a simple bind as Administrator — simple binds over plain
// LDAP are refused, as on a production DC.
//
// Samba's ports are fixed, so there is one DC per test process, started in TestMain:
//
//	var dc *adtest.DC
//	var dcErr error
//
//	func TestMain(m *testing.M) {
//		dc, dcErr = adtest.Start()
//		code := m.Run()
//		if err := dc.Stop(); err != nil && code == 0 {
//			code = 1
//		}
//		os.Exit(code)
//	}
//
//	func TestPublish(t *testing.T) {
//		adtest.Require(t, dc, dcErr) // skips without samba; fails under CI=true
//		ou := dc.NewOU(t)            // removed with its contents when the test ends
//		dn := dc.AddUser(t, ou, "alice", "alice@corp.example", "SMTP:alice@corp.example")
//		…
//	}
//
// Test binaries of several packages that each call Start take turns through a lock (LockFile);
// to share one DC across a whole `go test ./...` instead, start it once with start.sh and export
// its env file (set -a; . DIR/env; set +a): Start then uses it and Stop leaves it running.
//
// # What Samba does (4.17, observed; asserted by this package's tests)
//
//   - The attribute is plain userCertificate. A modify naming userCertificate;binary gets result
//     16 (noSuchAttribute, "attribute 'userCertificate;binary' … was not found in the schema").
//     userSMIMECertificate is plain too, and holds arbitrary bytes.
//   - A userCertificate value of 32768 bytes is accepted; 32769 bytes gets result 21
//     (invalidAttributeSyntax, "contains at least one invalid value"): rangeUpper 32768.
//   - Deleting one exact userCertificate value works and leaves the others.
//   - Adding a value that is already there gets result 20 (attributeOrValueExists); deleting a
//     value that is not there gets result 16 (noSuchAttribute). After a concurrent writer both
//     mean "already converged": re-read and recompute.
//   - sAMAccountName is unique in the whole domain: adding a second user with the same one, in
//     another OU, gets result 68 (entryAlreadyExists, "samldb: samAccountName 'alice' already
//     in use!"). mail and proxyAddresses are not checked for uniqueness.
//   - The rootDSE's supportedCapabilities contains 1.2.840.113556.1.4.800 (Active Directory).
//   - A paged search (page size 2) over 5 users returns pages of 2, 2 and 1, the last with an
//     empty cookie. Samba does not enforce AD's MaxPageSize of 1000, so page anyway.
//   - A simple bind with a wrong password gets result 49 (invalidCredentials) with AD's
//     diagnostic, "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error,
//     data 52e, v1db1".
//   - A simple bind over ldap://127.0.0.1:389 gets result 8 (strongAuthRequired, "BindSimple:
//     Transport encryption required.").
//   - A client trusting only OtherCAFile refuses the DC: "x509: certificate signed by unknown
//     authority".
//
// # Kerberos and DNS (observed with Samba 4.17)
//
// The DC also runs its KDC (127.0.0.1:10088, Krb5Conf) and DNS server (DNSServer,
// 127.0.0.1:10053), with the SPN ldap/<Host> that a Windows DC has and Samba's provision does not
// add. ServiceAccount makes a user with only the README's delegation and exports its keytab.
//
//   - Provision registers no A record for a loopback address; start.sh adds dc1 (127.0.0.1) and a
//     DC that is down, dc0 (127.0.0.2, where nothing listens), first in the SRV records
//     _ldap._tcp.dc._msdcs.<Domain> (priority 0; dc1 has 10).
//   - A GSSAPI bind without a security layer succeeds over LDAPS and over StartTLS ("ldap server
//     require strong auth = allow_sasl_over_tls", as a Windows DC behaves).
//   - The first Kerberos logon of an account is a write of its own (lastLogonTimestamp): one more
//     highestCommittedUSN than the pass's modifies.
//   - No ticket lifetime short enough for a test: a client asking for one (gokrb5 with
//     ticket_lifetime = 30s or 2m in its krb5.conf) gets a TGT of that life, but then
//     KRB_AP_ERR_TKT_EXPIRED to every service ticket request (why was not found out); and
//     "kdc:service ticket lifetime = 0.05" (hours) in smb.conf makes every service ticket request
//     fail with KDC_ERR_NEVER_VALID, as if it were 0. So ticket renewal is not tested here.
package adtest
