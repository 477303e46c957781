package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildInfoMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	registerBuildInfo(reg, buildInfo{Version: "1.2.3", Revision: "abc", GoVersion: "go1.26.8"})
	want := `# HELP certgal_build_info A metric with a constant '1' value labeled by version, revision and goversion from which certgal was built.
# TYPE certgal_build_info gauge
certgal_build_info{goversion="go1.26.8",revision="abc",version="1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "certgal_build_info"); err != nil {
		t.Error(err)
	}
}

func TestUnstampedBuildSaysSo(t *testing.T) {
	b := currentBuild() // the test binary carries no stamp
	if b.Version != "(devel)" || b.Revision != "unknown" || b.BuildDate != "unknown" {
		t.Errorf("unstamped build reads %+v", b)
	}
}

// makeLDFlags is what `make build` stamps, from the Makefile itself.
func makeLDFlags(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("make", "-s", "--no-print-directory", "-C", "../..", "ldflags").Output()
	if err != nil {
		t.Fatalf("make ldflags: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// buildStamped builds certgal as `make build` does.
func buildStamped(t *testing.T) (bin, ldflags string) {
	t.Helper()
	ldflags = makeLDFlags(t)
	bin = filepath.Join(t.TempDir(), "certgal")
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin, ldflags
}

// TestMakeBuildStampsTheVersion checks what `make build` stamps (the VERSION
// file, the checked-out commit, the commit's time) reaches `certgal version`
// and the daemon's certgal_build_info; `certgal healthcheck` finds that daemon
// healthy.
func TestMakeBuildStampsTheVersion(t *testing.T) {
	file, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	wantVersion, wantRev := strings.TrimSpace(string(file)), strings.TrimSpace(string(head))
	bin, ldflags := buildStamped(t)
	m := regexp.MustCompile(`^-X main.version=(\S+) -X main.revision=(\S+) -X main.buildDate=(\S+)$`).FindStringSubmatch(ldflags)
	if m == nil {
		t.Fatalf("make ldflags: %q", ldflags)
	}
	if m[1] != wantVersion || strings.TrimSuffix(m[2], "-dirty") != wantRev {
		t.Errorf("make stamps version %s revision %s, want %s and %s", m[1], m[2], wantVersion, wantRev)
	}
	if _, err := time.Parse(time.RFC3339, m[3]); err != nil {
		t.Errorf("build date: %v", err)
	}

	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"certgal, version " + wantVersion + " (revision: " + m[2] + ")", "build date: " + m[3], "go version: go1."} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("certgal version lacks %q:\n%s", want, out)
		}
	}

	// The daemon exports it even when its directory cannot be reached.
	addr := freePort(t)
	d := startDaemon(t, bin, unreachableConfig(t, addr))
	scrape := scrapeUntil(t, addr, "certgal_build_info in a scrape", "certgal_build_info")
	if out, err := exec.Command(bin, "healthcheck", "-url", "http://"+addr+"/healthz").CombinedOutput(); err != nil {
		t.Errorf("certgal healthcheck against the running daemon: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`(?m)^certgal_build_info\{goversion="go1\.[^"]+",revision="` + regexp.QuoteMeta(m[2]) + `",version="` + regexp.QuoteMeta(wantVersion) + `"\} 1$`)
	if !re.MatchString(scrape) {
		t.Errorf("scrape lacks %s:\n%s", re, scrape)
	}
	d.cmd.Process.Signal(os.Interrupt)
	d.wait(t, 15*time.Second)
}

// unreachableConfig is a valid configuration whose directory does not answer:
// the daemon runs, serves its metrics listener on addr, and every pass fails.
func unreachableConfig(t *testing.T, addr string) string {
	t.Helper()
	files, _ := filepath.Abs("../../testdata/config/files")
	dir := t.TempDir()
	path := filepath.Join(dir, "certgal.yaml")
	cfg := "source: {kind: folder, folder: {dir: " + dir + "}}\n" +
		"trust: {ca_files: [" + files + "/ca.pem]}\n" +
		"directory:\n  url: ldaps://127.0.0.1:1\n  base_dn: dc=example,dc=com\n" +
		"metrics: {listen: \"" + addr + "\"}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The version being prepared has its entry in the changelog.
func TestChangelogHasTheVersion(t *testing.T) {
	v, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile("../../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^## ` + regexp.QuoteMeta(strings.TrimSpace(string(v))) + `\b`).Match(log) {
		t.Errorf("CHANGELOG.md has no section for %s", v)
	}
}
