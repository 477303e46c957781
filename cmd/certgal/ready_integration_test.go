package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// TestDaemonStaysReadyWhilePassesFail runs the daemon as a delegated service
// account (not the rootdn, which no ACL binds) that may write userCertificate
// everywhere but on one protected entry, as AdminSDHolder does in AD. The
// daemon is ready once a pass built the lookup's index, and stays ready with
// the refused entry and through a directory outage; POST /-/sync is bounded by
// metrics.trigger_min_interval.
func TestDaemonStaysReadyWhilePassesFail(t *testing.T) {
	const suffix = "dc=example,dc=com" // start.sh's default; the ACL below names it
	service, protected := "cn=certgal,"+suffix, "uid=admin,ou=people,"+suffix
	t.Setenv("SLAPD_ACL", `access to dn.exact="`+protected+`" attrs=userCertificate,userSMIMECertificate by * read
access to attrs=userCertificate,userSMIMECertificate by dn.exact="`+service+`" write by * read`)
	bin := buildCertgal(t)
	w := newWorld(t)
	if w.slapd.Suffix != suffix {
		t.Fatalf("slapd suffix %s, the ACL names %s", w.slapd.Suffix, suffix)
	}
	const password = "certgal-service-pw"
	add := ldap.NewAddRequest(service, nil)
	add.Attribute("objectClass", []string{"person"})
	add.Attribute("cn", []string{"certgal"})
	add.Attribute("sn", []string{"certgal"})
	add.Attribute("userPassword", []string{password})
	if err := w.slapd.Conn(t).Add(add); err != nil {
		t.Fatal(err)
	}
	alice := w.user("alice", "alice@corp.example")
	admin := w.user("admin", "admin@corp.example")
	if admin != protected {
		t.Fatalf("admin's DN %s, the ACL names %s", admin, protected)
	}
	a := w.ca.Issue(t, "alice@corp.example")
	w.ca.Issue(t, "admin@corp.example")

	addr := freePort(t)
	base := "http://" + addr
	w.head = "schedule: \"@every 1h\"\n" // passes here are the start-up one and POST /-/sync
	w.metricsListen = addr
	w.lookupListen = freePort(t)
	config := w.writeConfig()
	rewrite(t, config, func(s string) string {
		s = strings.Replace(s, "bind_dn: "+w.slapd.RootDN, "bind_dn: "+service, 1)
		return strings.Replace(s, "metrics:\n", "metrics:\n  enable_trigger: true\n  trigger_min_interval: 2s\n", 1)
	})
	if err := os.WriteFile(filepath.Join(filepath.Dir(config), "bind-password"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lookupAlice := func() bool {
		res, err := http.Get("http://" + w.lookupListen + "/certs/alice@corp.example")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode == 200 && bytes.Equal(body, a.DER)
	}
	count := func(result string) float64 {
		return metric(t, base, `certgal_sync_passes_total{result="`+result+`"}`)
	}
	trigger := func(what string) {
		t.Helper()
		eventually(t, 10*time.Second, "POST /-/sync accepted: "+what, func() bool { return httpStatus("POST", base+"/-/sync") == http.StatusAccepted })
	}

	// The directory is down when the daemon starts: alive, but not ready, as it has no index.
	restartSlapd(t, w, true)
	d := startDaemon(t, bin, config)
	eventually(t, 20*time.Second, "the start-up pass fails on the directory", func() bool { return count("directory_error") == 1 })
	if code := httpStatus("GET", base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before any index: %d, want 503", code)
	}
	if code := httpStatus("GET", base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with the directory down: %d, want 200", code)
	}

	// The directory is back: one entry is refused (result 50), the pass still builds the index.
	restartSlapd(t, w, false)
	trigger("the directory is back")
	eventually(t, 20*time.Second, "/readyz 200 after a pass with an entry refused", func() bool { return httpStatus("GET", base+"/readyz") == 200 })
	w.assertCerts(alice, a.DER)
	w.assertCerts(admin)
	if !lookupAlice() {
		t.Error("the lookup does not serve alice's certificate")
	}
	if n := count("entry_errors"); n != 1 {
		t.Errorf(`passes_total{result="entry_errors"} = %v, want 1`, n)
	}
	if n := metric(t, base, "certgal_sync_entries_failed"); n != 1 {
		t.Errorf("certgal_sync_entries_failed = %v, want 1", n)
	}
	if n := metric(t, base, "certgal_sync_last_success_timestamp_seconds"); n != 0 {
		t.Errorf("certgal_sync_last_success_timestamp_seconds = %v, want 0: no pass wrote every entry", n)
	}
	var refused string
	for _, line := range strings.Split(d.logText(), "\n") {
		if strings.Contains(line, "entry not written") && strings.Contains(line, protected) {
			refused = line
		}
	}
	if !strings.Contains(refused, "Insufficient Access") {
		t.Errorf("the refused entry is not logged with its DN and the server's answer:\n%s", d.logText())
	}

	// The minimum interval between passes: the second request is answered 429.
	trigger("two seconds after the last")
	req, _ := http.NewRequest("POST", base+"/-/sync", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if after, _ := strconv.Atoi(res.Header.Get("Retry-After")); res.StatusCode != http.StatusTooManyRequests || after < 1 || after > 2 {
		t.Errorf("POST /-/sync right after another: %d, Retry-After %q; want 429 and 1 or 2", res.StatusCode, res.Header.Get("Retry-After"))
	}
	eventually(t, 20*time.Second, "the requested pass", func() bool { return count("entry_errors") == 2 })
	if n := metric(t, base, "certgal_sync_entries_failed"); n != 1 {
		t.Errorf("certgal_sync_entries_failed after the same entry failed again = %v, want 1", n)
	}

	// The directory goes away: the lookup keeps serving, and the daemon stays ready.
	restartSlapd(t, w, true)
	trigger("with the directory down")
	eventually(t, 20*time.Second, "a pass fails on the directory", func() bool { return count("directory_error") == 2 })
	for range 3 {
		if code := httpStatus("GET", base+"/readyz"); code != http.StatusOK {
			t.Errorf("/readyz with the directory down: %d, want 200", code)
		}
		if !lookupAlice() {
			t.Error("the lookup stopped serving alice's certificate with the directory down")
		}
		time.Sleep(200 * time.Millisecond)
	}

	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.wait(t, 15*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, d.logText())
	}
}
