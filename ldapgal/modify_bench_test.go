package ldapgal

import (
	"context"
	"testing"

	"github.com/certgal/certgal/sync"
)

// BenchmarkRenewal renews one entry's certificate the way a pass that meets
// a conflict writes it, against slapd over TLS: the new certificate added,
// the entry read again (User), the old one deleted asserting the entry's
// CSN. Three round trips per iteration; B/op and allocs/op are certgal's
// side of them.
func BenchmarkRenewal(b *testing.B) {
	_, dn, c := aliceOnSlapd(b)
	ctx := context.Background()
	certs := [2][]byte{selfSigned(b, "alice@corp.example"), selfSigned(b, "alice@corp.example")}
	if err := c.Modify(ctx, sync.Modification{DN: dn, Add: [][]byte{certs[0]}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		old, renewed := certs[i%2], certs[(i+1)%2]
		if err := c.Modify(ctx, sync.Modification{DN: dn, Add: [][]byte{renewed}}); err != nil {
			b.Fatal(err)
		}
		e, err := c.User(ctx, dn)
		if err != nil {
			b.Fatal(err)
		}
		if len(e.Certificates) != 2 {
			b.Fatalf("%d certificates after the add, want 2", len(e.Certificates))
		}
		if err := c.Modify(ctx, sync.Modification{DN: dn, Delete: [][]byte{old}, CSN: e.CSN}); err != nil {
			b.Fatal(err)
		}
	}
}
