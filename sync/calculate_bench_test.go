package sync

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCalculateSteadyState plans a directory where every user already
// holds its current certificate: the plan of a pass with nothing to write.
func BenchmarkCalculateSteadyState(b *testing.B) {
	ours := newTestCA(b, "Corp Issuing CA")
	f := newFx(b, ours, ours)
	const users = 20000
	for i := range users {
		addr := fmt.Sprintf("user%d@corp.example", i)
		c := f.valid(leaf{serial: int64(i + 1), emails: mail(addr), notBefore: now.Add(-time.Hour)})
		f.user(fmt.Sprintf("uid=user%d,ou=people,dc=corp,dc=example", i), mail(addr, "SMTP:"+addr), c)
	}
	b.ResetTimer()
	for b.Loop() {
		if p := Calculate(f.in); len(p.Entries) != 0 {
			b.Fatalf("%d entries to write", len(p.Entries))
		}
	}
}
