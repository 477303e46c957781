package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	stdsync "sync"
	"syscall"
	"testing"
	"time"
)

// buildCertgal builds the real binary, so the daemon is tested as an admin runs it.
func buildCertgal(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "certgal")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running `certgal run` whose log lines are collected as they come.
type proc struct {
	cmd  *exec.Cmd
	mu   stdsync.Mutex
	log  bytes.Buffer
	done chan error
	// lines receives every log line; nobody has to read it.
	lines chan string
}

func startDaemon(t *testing.T, bin, config string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, "run", "-config", config), done: make(chan error, 1), lines: make(chan string, 10000)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		p.done <- p.cmd.Wait()
	}()
	return p
}

func (p *proc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// wait stops the test when the daemon does not exit within d.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(d):
		t.Fatalf("certgal run did not exit within %s\n%s", d, p.logText())
		return nil
	}
}

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpStatus(method, u string) int {
	req, _ := http.NewRequest(method, u, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// scrapeUntil scrapes the metrics listener at addr until the scrape contains want (for up to
// 20 s; what names the wait) and returns that scrape.
func scrapeUntil(t *testing.T, addr, what, want string) string {
	t.Helper()
	var scrape string
	eventually(t, 20*time.Second, what, func() bool {
		res, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		scrape = string(b)
		return strings.Contains(scrape, want)
	})
	return scrape
}

// metric reads one sample of a scrape, -1 when absent.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func rewrite(t *testing.T, path string, edit func(string) string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(edit(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
}

// restartSlapd stops the world's slapd and starts it again on the same ports and data.
func restartSlapd(t *testing.T, w *world, stopOnly bool) {
	t.Helper()
	root, _ := filepath.Abs("../..")
	if out, err := exec.Command(filepath.Join(root, "testdata/slapd/stop.sh"), w.slapd.Dir).CombinedOutput(); err != nil {
		t.Fatalf("stop slapd: %v\n%s", err, out)
	}
	if stopOnly {
		return
	}
	u1, _ := url.Parse(w.slapd.URL)
	u2, _ := url.Parse(w.slapd.LDAPSURL)
	cmd := exec.Command(filepath.Join(root, "testdata/slapd/start.sh"), w.slapd.Dir)
	cmd.Env = append(os.Environ(), "LDAP_PORT="+u1.Port(), "LDAPS_PORT="+u2.Port(), "ROOTPW="+w.slapd.RootPW)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restart slapd: %v\n%s", err, out)
	}
}

func TestDaemonLifecycle(t *testing.T) {
	bin := buildCertgal(t)
	password := fmt.Sprintf("pw-%d-never-logged", time.Now().UnixNano())
	t.Setenv("ROOTPW", password) // read by testdata/slapd/start.sh
	w := newWorld(t)
	alice := w.user("alice", "alice@corp.example")
	a := w.ca.Issue(t, "alice@corp.example")
	addr := freePort(t)
	base := "http://" + addr
	w.head = "schedule: \"@every 1s\"\n"
	w.metricsListen = addr
	w.lookupListen = freePort(t)
	config := w.writeConfig()
	d := startDaemon(t, bin, config)

	eventually(t, 20*time.Second, "/readyz answers 200", func() bool { return httpStatus("GET", base+"/readyz") == 200 })
	if httpStatus("GET", base+"/healthz") != 200 {
		t.Error("/healthz is not 200")
	}
	eventually(t, 10*time.Second, "alice's certificate published by the start-up pass", func() bool {
		return len(w.slapd.Certs(t, alice)) == 1
	})
	w.assertCerts(alice, a.DER)
	eventually(t, 5*time.Second, "the lookup serves alice's certificate", func() bool {
		res, err := http.Get("http://" + w.lookupListen + "/certs/Alice@corp.example")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode == 200 && bytes.Equal(body, a.DER)
	})
	success := `certgal_sync_passes_total{result="success"}`
	eventually(t, 10*time.Second, "three scheduled passes", func() bool { return metric(t, base, success) >= 3 })

	for _, name := range []string{"certgal_sync_last_success_timestamp_seconds", "certgal_sync_duration_seconds_count",
		`certgal_sync_changes_total{action="add"}`, `certgal_source_certificates{state="valid"}`, "certgal_directory_users",
		"certgal_sync_entry_errors_total", "go_goroutines", "process_resident_memory_bytes"} {
		if v := metric(t, base, name); v < 0 {
			t.Errorf("metric %s not exported", name)
		}
	}
	if v := metric(t, base, `certgal_sync_changes_total{action="add"}`); v != 1 {
		t.Errorf("changes add = %v, want 1 (later passes write nothing)", v)
	}

	// POST /-/sync is off unless metrics.enable_trigger (TestDaemonStaysReadyWhilePassesFail turns it on).
	if code := httpStatus("POST", base+"/-/sync"); code != http.StatusForbidden {
		t.Errorf("POST /-/sync without metrics.enable_trigger = %d, want 403", code)
	}
	if httpStatus("GET", base+"/-/sync") != http.StatusMethodNotAllowed {
		t.Error("GET /-/sync should be refused")
	}
	if v := metric(t, base, "certgal_config_last_reload_successful"); v != 1 {
		t.Errorf("certgal_config_last_reload_successful at start-up = %v, want 1", v)
	}
	loaded := metric(t, base, "certgal_config_last_reload_success_timestamp_seconds")

	// SIGHUP with a valid file: a new user's certificate arrives with the new schedule.
	bob := w.user("bob", "bob@corp.example")
	b := w.ca.Issue(t, "bob@corp.example")
	// A new lookup address is not applied by a reload: that is said, with the key.
	rewrite(t, config, func(s string) string {
		return strings.Replace(strings.Replace(s, "@every 1s", "@every 2s", 1), w.lookupListen, freePort(t), 1)
	})
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 5*time.Second, "reload logged", func() bool { return strings.Contains(d.logText(), "configuration reloaded") })
	if v := metric(t, base, "certgal_config_last_reload_success_timestamp_seconds"); v <= loaded {
		t.Errorf("certgal_config_last_reload_success_timestamp_seconds = %v after a reload, was %v", v, loaded)
	}
	if log := d.logText(); !strings.Contains(log, "restart certgal for these") || !strings.Contains(log, "keys=lookup.listen") {
		t.Error("a changed lookup.listen was reloaded without saying it needs a restart")
	}
	eventually(t, 10*time.Second, "bob published after the reload", func() bool { return len(w.slapd.Certs(t, bob)) == 1 })
	w.assertCerts(bob, b.DER)

	// SIGHUP with an invalid file: refused, the daemon keeps going.
	rewrite(t, config, func(s string) string { return s + "bogus: 1\n" })
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 5*time.Second, "refused reload logged", func() bool { return strings.Contains(d.logText(), "reload refused") })
	if v := metric(t, base, "certgal_config_last_reload_successful"); v != 0 {
		t.Errorf("certgal_config_last_reload_successful after a refused reload = %v, want 0", v)
	}
	before := metric(t, base, success)
	eventually(t, 10*time.Second, "passes go on after a refused reload", func() bool { return metric(t, base, success) > before })

	// The directory goes away: the passes fail, the daemon stays ready (its lookup has an index).
	restartSlapd(t, w, true)
	eventually(t, 20*time.Second, "passes fail while the directory is down", func() bool {
		return metric(t, base, `certgal_sync_passes_total{result="directory_error"}`) >= 3
	})
	if code := httpStatus("GET", base+"/readyz"); code != 200 {
		t.Errorf("/readyz after three failed passes = %d, want 200", code)
	}
	restartSlapd(t, w, false)
	before = metric(t, base, success)
	eventually(t, 20*time.Second, "passes succeed when the directory is back", func() bool { return metric(t, base, success) > before })

	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.wait(t, 15*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, d.logText())
	}
	if !strings.Contains(d.logText(), "certgal stopped") {
		t.Errorf("no clean stop logged:\n%s", d.logText())
	}
	if strings.Contains(d.logText(), password) || strings.Contains(d.logText(), "BEGIN CERTIFICATE") {
		t.Errorf("the log carries the bind password or a certificate body:\n%s", d.logText())
	}
	w.assertCerts(alice, a.DER)
}

// TestDaemonSIGTERMMidPass stops the daemon while it renews hundreds of
// entries: each entry must hold either its old or its new certificate, never
// both or none, and the next pass finishes the job.
func TestDaemonSIGTERMMidPass(t *testing.T) {
	bin := buildCertgal(t)
	w := newWorld(t)
	const n = 400
	now := time.Now()
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%03d@corp.example", i)
	}
	old := w.ca.IssueMany(t, emails, now.Add(-30*24*time.Hour), now.Add(300*24*time.Hour))
	dns := make([]string, n)
	for i, e := range emails {
		dns[i] = w.user(strings.TrimSuffix(e, "@corp.example"), e)
		w.slapd.SetCerts(t, dns[i], old[i].DER)
	}
	renewed := w.ca.IssueMany(t, emails, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	w.head = "schedule: \"@every 1h\"\n"
	config := w.writeConfig()

	d := startDaemon(t, bin, config)
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case line := <-d.lines:
			if strings.Contains(line, "msg=add") || strings.Contains(line, "msg=remove") {
				break wait
			}
		case <-deadline:
			t.Fatalf("no change logged within 30s:\n%s", d.logText())
		}
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.wait(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, d.logText())
	}

	done := 0
	for i, dn := range dns {
		got := w.slapd.Certs(t, dn)
		switch {
		case len(got) == 1 && bytes.Equal(got[0], renewed[i].DER):
			done++
		case len(got) == 1 && bytes.Equal(got[0], old[i].DER):
		default:
			t.Errorf("%s is half-written: %s", dn, describe(got))
		}
	}
	t.Logf("SIGTERM after the first change: %d of %d entries renewed before the daemon stopped", done, n)

	w.head = ""
	w.mustSync()
	for i, dn := range dns {
		if got := w.slapd.Certs(t, dn); len(got) != 1 || !bytes.Equal(got[0], renewed[i].DER) {
			t.Errorf("%s after the next pass: %s", dn, describe(got))
		}
	}
}
