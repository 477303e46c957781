package certsource

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/certgal/certgal/certsource/catest"
)

// TestRefsFindTheSnapshotsCertificatesAgain: once a snapshot is gone, its
// Refs name each of its certificates' files as the snapshot did, and AppendDER
// reads the same DER from them; a snapshot whose certificates come parsed
// is kept as it is.
func TestRefsFindTheSnapshotsCertificatesAgain(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	now := time.Now()
	issued := ca.IssueMany(t, []string{"a@corp.example", "b@corp.example", "c@corp.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	src, _ := newOpenSSL(t, ca)

	snap := readUnparsed(t, src)
	refs := RefsOf(snap.Certificates)
	if refs.Len() != len(issued) || refs.names == nil || refs.certs != nil {
		t.Fatalf("Refs of an unparsed snapshot: %d certificates, names %v, certificates kept %v", refs.Len(), refs.names != nil, refs.certs != nil)
	}
	for i, c := range snap.Certificates {
		want, err := src.AppendDER(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		r := refs.Certificate(i, c.Hash)
		if r.Origin() != c.Origin() || r.Hash != c.Hash {
			t.Errorf("certificate %d: Refs names %s, want %s", i, r.Origin(), c.Origin())
		}
		if got, err := src.AppendDER(nil, r); err != nil || !bytes.Equal(got, want) {
			t.Errorf("AppendDER of %s from its Refs: %d bytes, %v", c.Origin(), len(got), err)
		}
	}

	kept := refs.Keep([]uint32{2, 0})
	for i, p := range []int{2, 0} {
		c := snap.Certificates[p]
		if r := kept.Certificate(i, c.Hash); r.Origin() != c.Origin() {
			t.Errorf("kept certificate %d: Refs names %s, want %s", i, r.Origin(), c.Origin())
		}
	}
	if kept.Len() != 2 {
		t.Errorf("Refs kept %d certificates, want 2", kept.Len())
	}

	parsed, err := src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	refs = RefsOf(parsed.Certificates)
	for i, c := range parsed.Certificates {
		if r := refs.Certificate(i, c.Hash); r != c {
			t.Errorf("certificate %d of a parsed snapshot: Refs gives another Certificate", i)
		}
	}
	if kept := refs.Keep([]uint32{1}); kept.Certificate(0, parsed.Certificates[1].Hash) != parsed.Certificates[1] {
		t.Errorf("kept certificate of a parsed snapshot: Refs gives another Certificate")
	}
	if refs.Len() != len(parsed.Certificates) {
		t.Errorf("Refs of a parsed snapshot: %d certificates, want %d", refs.Len(), len(parsed.Certificates))
	}
}
