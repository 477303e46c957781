package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/certgal/certgal/certsource/catest"
	"github.com/certgal/certgal/ldapgal/ldaptest"
)

// renewalWorld is n users each holding an old certificate of ours and a
// foreign one, with a renewal waiting in the CA: a pass rewrites every entry.
type renewalWorld struct {
	*world
	dns     []string
	old     [][]byte
	renewed [][]byte
	foreign [][]byte
}

func newRenewalWorld(t *testing.T, n int) *renewalWorld {
	t.Helper()
	w := &renewalWorld{world: newWorld(t)}
	// Every entry loses its superseded value: more than the default max_deletes.
	w.extra = "  max_deletes: 1000000\n"
	now := time.Now()
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%05d@corp.example", i)
	}
	old := w.ca.IssueMany(t, emails, now.Add(-30*24*time.Hour), now.Add(300*24*time.Hour))
	partner := catest.New(t, "Partner CA").IssueMany(t, emails, now.Add(-time.Hour), now.Add(24*time.Hour))
	for i, e := range emails {
		dn := w.user(strings.TrimSuffix(e, "@corp.example"), e)
		w.slapd.SetCerts(t, dn, old[i].DER, partner[i].DER)
		w.dns = append(w.dns, dn)
		w.old = append(w.old, old[i].DER)
		w.foreign = append(w.foreign, partner[i].DER)
	}
	for _, is := range w.ca.IssueMany(t, emails, now.Add(-time.Hour), now.Add(365*24*time.Hour)) {
		w.renewed = append(w.renewed, is.DER)
	}
	return w
}

// check counts entries at the desired state, failing on any that is neither
// old nor desired, has lost the foreign value, or holds anything extra.
func (w *renewalWorld) check(t *testing.T) (converged int) {
	t.Helper()
	all := w.allCerts(t)
	for i, dn := range w.dns {
		got := all[dn]
		has := func(v []byte) bool {
			for _, g := range got {
				if bytes.Equal(g, v) {
					return true
				}
			}
			return false
		}
		switch {
		case len(got) == 2 && has(w.foreign[i]) && has(w.renewed[i]):
			converged++
		case len(got) == 2 && has(w.foreign[i]) && has(w.old[i]):
		default:
			t.Errorf("%s holds %s: neither before nor after", dn, describe(got))
		}
	}
	return converged
}

// allCerts reads every entry's values in one search (one read per entry would
// dominate the test's time).
func (w *renewalWorld) allCerts(t *testing.T) map[string][][]byte {
	t.Helper()
	res, err := w.slapd.Conn(t).SearchWithPaging(ldap.NewSearchRequest("ou=people,"+w.slapd.Suffix,
		ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=inetOrgPerson)",
		[]string{ldaptest.CertAttr}, nil), 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]byte{}
	for _, e := range res.Entries {
		out[e.DN] = e.GetRawAttributeValues(ldaptest.CertAttr)
	}
	return out
}

// reset puts every renewed entry back to its old certificate.
func (w *renewalWorld) reset(t *testing.T) {
	t.Helper()
	conn := w.slapd.Conn(t)
	all := w.allCerts(t)
	for i, dn := range w.dns {
		for _, v := range all[dn] {
			if !bytes.Equal(v, w.renewed[i]) {
				continue
			}
			req := ldap.NewModifyRequest(dn, nil)
			req.Replace(ldaptest.CertAttr, []string{string(w.old[i]), string(w.foreign[i])})
			if err := conn.Modify(req); err != nil {
				t.Fatalf("reset %s: %v", dn, err)
			}
		}
	}
}

// TestKill9DuringApply kills `certgal sync` ten times at random points of an
// apply; after one more pass the directory is exactly at the desired state.
func TestKill9DuringApply(t *testing.T) {
	n := 2000
	if os.Getenv("CI") == "true" {
		n = 1000 // keep CI's budget; `go test -run Kill9` locally uses more
	}
	bin := buildCertgal(t)
	w := newRenewalWorld(t, n)
	config := w.writeConfig()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	killed := 0
	for round := range 10 {
		cmd := exec.Command(bin, "sync", "-config", config)
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for the apply to begin, then kill after a random number of changes.
		target := 1 + rng.IntN(n/2)
		sc := bufio.NewScanner(stderr)
		seen := 0
		for seen < target && sc.Scan() {
			if strings.Contains(sc.Text(), "msg=add") {
				seen++
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		go func() {
			for sc.Scan() {
			}
		}()
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
		} else {
			t.Errorf("round %d: certgal sync ended before the kill (%v)", round, err)
		}
		done := w.check(t)
		t.Logf("round %d: killed after %d logged changes; %d/%d entries renewed", round, seen, done, n)
		if round < 9 {
			w.reset(t) // the next kill lands in a full apply again
		}
	}
	if killed == 0 {
		t.Error("no run was killed mid-apply: the test proved nothing")
	}
	w.mustSync()
	if done := w.check(t); done != n {
		t.Errorf("after the final pass %d/%d entries converged", done, n)
	}
	if mods, _ := w.mustSync(); mods != 0 {
		t.Errorf("a pass after convergence wrote %d modifies", mods)
	}
}

// TestDirectoryDiesDuringApply kills slapd in the middle of a pass: the pass
// reports entry errors and exits 1, and the next pass after a restart converges.
func TestDirectoryDiesDuringApply(t *testing.T) {
	bin := buildCertgal(t)
	w := newRenewalWorld(t, 1500)
	config := w.writeConfig()
	cmd := exec.Command(bin, "sync", "-config", config)
	stderr, _ := cmd.StderrPipe()
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "msg=add") {
			break
		}
	}
	// slapd is ours: kill it by the PID the harness recorded.
	if err := syscall.Kill(w.slapd.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill slapd %d: %v", w.slapd.PID, err)
	}
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("certgal sync with the directory gone mid-pass: exit %d (%v), want 1\n%s", code, err, log.String())
	}
	if !strings.Contains(log.String(), "entry not written") {
		t.Errorf("no entry error logged:\n%s", log.String())
	}
	restartSlapd(t, w.world, false)
	w.check(t)
	w.mustSync()
	if done := w.check(t); done != len(w.dns) {
		t.Errorf("after restart and a pass: %d/%d entries converged", done, len(w.dns))
	}
}

// TestEmptyCAStoreDeletesNothing: an index.txt emptied (a restore gone wrong)
// must not remove what the directory holds.
func TestEmptyCAStoreDeletesNothing(t *testing.T) {
	w := newRenewalWorld(t, 20)
	if err := os.WriteFile(filepath.Join(w.ca.Dir, "index.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	before := w.slapd.ModifyCount(t)
	code, out, errOut := w.sync()
	if code != 1 || !strings.Contains(out, "BLOCKED") {
		t.Errorf("empty CA store: exit %d, want 1 and a blocked plan\n%s\n%s", code, out, errOut)
	}
	if n := w.slapd.ModifyCount(t) - before; n != 0 {
		t.Errorf("empty CA store: %d modifies", n)
	}
	if done := w.check(t); done != 0 {
		t.Errorf("%d entries changed", done)
	}
}
