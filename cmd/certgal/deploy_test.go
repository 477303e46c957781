package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/certgal/certgal/config"
)

// tool finds a validator from a Debian package; testdata/install-deps.sh installs it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (Debian package %s; testdata/install-deps.sh installs it)", name, pkg)
		}
		t.Skipf("%s is missing (Debian package %s)", name, pkg)
	}
	return p
}

func TestDeploySystemdUnitVerifies(t *testing.T) {
	analyze := tool(t, "systemd-analyze", "systemd")
	bin := buildCertgal(t)
	unit, err := os.ReadFile("../../deploy/systemd/certgal.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart exists: point it at the binary just built.
	path := filepath.Join(t.TempDir(), "certgal.service")
	os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/certgal"), []byte(bin)), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// systemd-analyze exits 0 on unknown keys and bad values; any output is a finding.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, want := range []string{"User=certgal", "NoNewPrivileges=yes", "ProtectSystem=strict", "LoadCredential=", "ReadOnlyPaths=", "ExecReload=/bin/kill -HUP $MAINPID", "RestartPreventExitStatus=2"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("unit lacks %s", want)
		}
	}
}

func TestDeployAlertRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	for _, args := range [][]string{{"check", "rules", "certgal-rules.yaml"}, {"test", "rules", "certgal-rules_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../../deploy/prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestDeployKubernetesManifests checks what certgal itself must accept in each
// manifest; deploy/kubernetes/check (`make test-kubernetes`) checks the objects
// against the Kubernetes API types.
func TestDeployKubernetesManifests(t *testing.T) {
	version, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, kinds string }{
		{"certgal.yaml", "ConfigMap Deployment PodDisruptionBudget Secret Service Service ServiceMonitor"},
		{"certgal-stepca.yaml", "ConfigMap Deployment PodDisruptionBudget Secret Service Service ServiceMonitor"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			checkKubernetesManifest(t, "../../deploy/kubernetes/"+tc.file, tc.kinds, strings.TrimSpace(string(version)))
		})
	}
}

func checkKubernetesManifest(t *testing.T, path, wantKinds, version string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var kinds []string
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Data map[string]string
			Spec struct {
				Replicas *int `yaml:"replicas"`
				Template struct {
					Spec struct {
						SecurityContext struct {
							RunAsNonRoot bool `yaml:"runAsNonRoot"`
						} `yaml:"securityContext"`
						Containers []struct{ Image string }
					}
				}
			}
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("manifest does not parse: %v", err)
		}
		kinds = append(kinds, doc.Kind)
		switch doc.Kind {
		case "Deployment":
			if doc.Spec.Replicas == nil || *doc.Spec.Replicas != 1 || !doc.Spec.Template.Spec.SecurityContext.RunAsNonRoot {
				t.Errorf("Deployment: want one replica running as non-root")
			}
			for _, c := range doc.Spec.Template.Spec.Containers {
				if c.Image != "certgal:"+version {
					t.Errorf("Deployment runs %s, want certgal:%s (the VERSION file)", c.Image, version)
				}
			}
		case "ConfigMap":
			// The shipped configuration must only lack the files that live in the cluster.
			_, err := config.Load([]byte(doc.Data["certgal.yaml"]))
			var errs *config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("ConfigMap certgal.yaml: want only missing-file errors, got %v", err)
			}
			for _, e := range *errs {
				if !strings.Contains(e.Msg, "no such file") {
					t.Errorf("ConfigMap certgal.yaml: %s", e.Error())
				}
			}
		}
	}
	sort.Strings(kinds)
	if got := strings.Join(kinds, " "); got != wantKinds {
		t.Errorf("kinds %q, want %q", got, wantKinds)
	}
}

// TestDeployQueriesUseExportedMetrics scrapes a real daemon and checks every
// metric the dashboard and the alert rules query is one it exports.
func TestDeployQueriesUseExportedMetrics(t *testing.T) {
	bin := buildCertgal(t)
	w := newWorld(t)
	w.user("alice", "alice@corp.example")
	w.ca.Issue(t, "alice@corp.example")
	addr := freePort(t)
	w.metricsListen = addr
	d := startDaemon(t, bin, w.writeConfig())
	scrape := scrapeUntil(t, addr, "a scrape after the first pass", `certgal_sync_passes_total{result="success"} 1`)
	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(scrape, -1) {
		exported[m[1]] = true
	}

	var queries []string
	dash, err := os.ReadFile("../../deploy/grafana/certgal-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var board struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(dash, &board); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	for _, p := range board.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries = append(queries, q.Expr)
		}
	}
	rules, err := os.ReadFile("../../deploy/prometheus/certgal-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var groups struct {
		Groups []struct{ Rules []struct{ Expr string } }
	}
	if err := yaml.Unmarshal(rules, &groups); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			queries = append(queries, r.Expr)
		}
	}
	suffix := regexp.MustCompile(`_(bucket|sum|count)$`)
	for _, q := range queries {
		for _, name := range regexp.MustCompile(`\b(certgal_[a-z_]+|process_[a-z_]+)\b`).FindAllString(q, -1) {
			if !exported[name] && !exported[suffix.ReplaceAllString(name, "")] {
				t.Errorf("query uses %s, which the daemon does not export: %s", name, q)
			}
		}
	}
	d.cmd.Process.Signal(os.Interrupt)
	d.wait(t, 15*time.Second)
}

// TestDeployDockerfile checks the image as far as a machine without a container
// engine can: a base pinned by digest, a non-root user, the release binary
// (which .dockerignore lets through, and nothing else), and a HEALTHCHECK that
// runs certgal itself (no shell in the image) with arguments it accepts.
func TestDeployDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	version, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	var entrypoint, health []string
	var copied, copiedTo string
	for _, line := range strings.Split(string(raw), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch rest := strings.TrimSpace(strings.TrimPrefix(line, fields[0])); fields[0] {
		case "FROM":
			if !regexp.MustCompile(`^\S+:\S+@sha256:[0-9a-f]{64}\b`).MatchString(rest) {
				t.Errorf("FROM %s: not pinned by digest", rest)
			}
		case "USER":
			if u := strings.Split(rest, ":")[0]; u == "0" || u == "root" {
				t.Errorf("USER %s: root", rest)
			}
		case "COPY":
			copied = strings.NewReplacer("${VERSION}", strings.TrimSpace(string(version)), "${TARGETARCH}", "amd64").Replace(fields[1])
			copiedTo = fields[len(fields)-1]
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &entrypoint); err != nil {
				t.Errorf("ENTRYPOINT is not in exec form: %v", err)
			}
		case "HEALTHCHECK":
			i := strings.Index(rest, "CMD ")
			if i < 0 || json.Unmarshal([]byte(rest[i+4:]), &health) != nil {
				t.Fatalf("HEALTHCHECK %s: want CMD in exec form (the image has no shell)", rest)
			}
		}
	}
	if want := "dist/certgal-" + strings.TrimSpace(string(version)) + "-linux-amd64"; copied != want {
		t.Errorf("the image copies %q, want the release binary %s", copied, want)
	}
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var excludesAll, letsBinaryIn bool
	for _, line := range strings.Split(string(ignore), "\n") {
		excludesAll = excludesAll || line == "*"
		if pattern, ok := strings.CutPrefix(line, "!"); ok {
			if m, _ := filepath.Match(pattern, copied); m {
				letsBinaryIn = true
			}
		}
	}
	if !excludesAll || !letsBinaryIn {
		t.Errorf(".dockerignore must exclude everything but the release binaries (* then !dist/...):\n%s", ignore)
	}
	if len(entrypoint) == 0 || entrypoint[0] != copiedTo {
		t.Errorf("ENTRYPOINT %q is not the copied binary %s", entrypoint, copiedTo)
	}
	if len(entrypoint) == 0 || len(health) < 2 || health[0] != entrypoint[0] || health[1] != "healthcheck" {
		t.Fatalf("HEALTHCHECK %q does not run %v healthcheck", health, entrypoint)
	}
	// Its arguments parse: without a daemon it fails to connect (1), never a usage error (2).
	var stderr bytes.Buffer
	if code := run(t.Context(), append(health[1:], "-timeout", "2s"), io.Discard, &stderr); code == exitUsage {
		t.Errorf("HEALTHCHECK arguments %q: usage error: %s", health[1:], stderr.String())
	}
}

// TestDeployDebExampleConfig: the package's /etc/certgal/certgal.yaml is refused
// as shipped (its files are the administrator's to provide, so installing never
// starts writing) and accepted by check-config once they exist.
func TestDeployDebExampleConfig(t *testing.T) {
	example, err := os.ReadFile("../../deploy/deb/certgal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	shipped := filepath.Join(dir, "shipped.yaml")
	os.WriteFile(shipped, example, 0o600)
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"check-config", "-config", shipped}, io.Discard, &stderr); code != exitUsage {
		t.Errorf("the example as shipped: exit %d, want %d (refused)", code, exitUsage)
	}
	files, _ := filepath.Abs("../../testdata/config/files")
	for name, src := range map[string]string{"issuing-ca.pem": "ca.pem", "ldap-ca.pem": "ldap-ca.pem", "bind-password": "bind-password"} {
		b, err := os.ReadFile(filepath.Join(files, src))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	filled := filepath.Join(dir, "certgal.yaml")
	os.WriteFile(filled, bytes.ReplaceAll(example, []byte("/etc/certgal/"), []byte(dir+"/")), 0o600)
	stderr.Reset()
	if code := run(t.Context(), []string{"check-config", "-config", filled}, io.Discard, &stderr); code != exitOK {
		t.Errorf("the example with its files: exit %d\n%s", code, stderr.String())
	}
}
