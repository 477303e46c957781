package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestADKerberosPassWithoutPassword runs certgal sync the way an AD shop
// deploys it: the DCs found in DNS (the first of them down), a Kerberos bind
// with a keytab of a service account that holds only the README's delegation,
// and no password anywhere in the configuration.
func TestADKerberosPassWithoutPassword(t *testing.T) {
	w := newADWorld(t)
	alice := w.user("alice", "alice@corp.example")
	sam := fmt.Sprintf("krb-svc-%d", samSeq.Add(1))
	_, keytab := w.dc.ServiceAccount(t, w.ou, sam)
	w.dirYML = fmt.Sprintf("  discover: %s\n  dns_server: %s\n  sasl_mechanism: GSSAPI\n  keytab_file: %s\n"+
		"  principal: %s@%s\n  krb5_conf_file: %s\n  ca_file: %s\n  base_dn: %s\n",
		w.dc.Domain, w.dc.DNSServer, keytab, sam, w.dc.Realm, w.dc.Krb5Conf, w.dc.CAFile, yamlQuote(w.ou))
	if strings.Contains(w.directory(), "password") {
		t.Fatalf("the directory section holds a password:\n%s", w.directory())
	}
	a := w.ca.Issue(t, "alice@corp.example")

	// Not counted in USNs: the account's first Kerberos logon updates its
	// lastLogonTimestamp, one more USN than the pass's write.
	_, out := w.mustSync()
	if !strings.Contains(out, "plan: 1 to add, 0 to remove, 0 skipped, 1 entries to modify") {
		t.Errorf("first pass:\n%s", out)
	}
	w.assertCerts(alice, a.DER)
	writes, out := w.mustSync()
	if writes != 0 || !strings.Contains(out, "plan: 0 to add, 0 to remove, 0 skipped, 0 entries to modify") {
		t.Errorf("second pass: %d writes\n%s", writes, out)
	}
}
