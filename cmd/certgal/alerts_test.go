package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"
)

type alertRule struct {
	Alert       string
	Expr        string
	Annotations map[string]string
}

func alertRules(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile("../../deploy/prometheus/certgal-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Groups []struct{ Rules []alertRule } }
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var rules []alertRule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				rules = append(rules, r)
			}
		}
	}
	return rules
}

// skipReasons reads the reasons a package's code gives certgal_sync_skipped_total: its
// Reason* constants, and the string literals its code passes to skip(…) or Problem(…) or
// assigns to a variable named reason. It reads the source rather than a list, so a reason
// added to the code is seen here.
func skipReasons(t *testing.T, dir string, withLiterals bool) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	lit := func(e ast.Expr) {
		if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
			if s, err := strconv.Unquote(b.Value); err == nil {
				reasons[s] = true
			}
		}
	}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if strings.HasPrefix(name.Name, "Reason") && i < len(n.Values) {
						lit(n.Values[i])
					}
				}
			case *ast.CallExpr:
				if !withLiterals {
					break
				}
				var name string
				switch fn := n.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					name = fn.Sel.Name
				}
				if name == "skip" || name == "Problem" {
					for _, a := range n.Args {
						lit(a)
					}
				}
			case *ast.AssignStmt:
				if !withLiterals {
					break
				}
				for i, l := range n.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name == "reason" && i < len(n.Rhs) {
						lit(n.Rhs[i])
					}
				}
			}
			return true
		})
	}
	if len(reasons) == 0 {
		t.Fatalf("no reasons found in %s", dir)
	}
	return reasons
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestAlertSkipReasonsAreTheSourcesReasons: CertgalSourceInputSkipped lists exactly the
// reasons the CA store sources (certsource) emit, and none of the plan's (sync/plan.go),
// which share the metric but are decisions about users, not broken input.
func TestAlertSkipReasonsAreTheSourcesReasons(t *testing.T) {
	var expr string
	for _, r := range alertRules(t) {
		if r.Alert == "CertgalSourceInputSkipped" {
			expr = r.Expr
		}
	}
	all := regexp.MustCompile(`certgal_sync_skipped_total\{reason=~"([^"]*)"\}`).FindAllStringSubmatch(expr, -1)
	if all == nil {
		t.Fatalf("CertgalSourceInputSkipped: no reason=~\"…\" matcher in %q", expr)
	}
	m := all[0]
	for _, o := range all[1:] {
		if o[1] != m[1] {
			t.Errorf("CertgalSourceInputSkipped: its matchers differ: %q and %q", m[1], o[1])
		}
	}
	listed := map[string]bool{}
	for _, r := range strings.Split(m[1], "|") {
		if !regexp.MustCompile(`^[a-z0-9_]+$`).MatchString(r) {
			t.Errorf("CertgalSourceInputSkipped: %q is a pattern, not a reason: list the reasons", r)
		}
		listed[r] = true
	}
	source := skipReasons(t, "../../certsource", true)
	plan := skipReasons(t, "../../sync", false) // sync's reasons are all constants (plan.go)
	t.Logf("CA store reasons: %s", strings.Join(sortedKeys(source), " "))
	t.Logf("plan reasons: %s", strings.Join(sortedKeys(plan), " "))
	for r := range source {
		if !listed[r] {
			t.Errorf("CertgalSourceInputSkipped does not list %q, which certsource emits", r)
		}
		if plan[r] {
			t.Errorf("%q is both a CA store reason and a plan reason: the rule cannot tell them apart", r)
		}
	}
	match := regexp.MustCompile("^(?:" + m[1] + ")$") // PromQL anchors =~
	for r := range plan {
		// A prefix constant (unusable_…) stands for the reasons it starts.
		if match.MatchString(r) || match.MatchString(r+"x") {
			t.Errorf("CertgalSourceInputSkipped matches the plan's %q", r)
		}
	}
	for r := range listed {
		if !source[r] {
			t.Errorf("CertgalSourceInputSkipped lists %q, which no CA store source emits", r)
		}
	}
}

// githubAnchor is the fragment GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestAlertRunbooksAndTests: every alert has a runbook_url at a README section that
// exists, and fires in at least one promtool test case.
func TestAlertRunbooksAndTests(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if h, ok := strings.CutPrefix(line, "#"); ok && !inFence {
			anchors[githubAnchor(strings.TrimLeft(h, "#"))] = true
		}
	}
	b, err := os.ReadFile("../../deploy/prometheus/certgal-rules_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	if err := yaml.Unmarshal(b, &tests); err != nil {
		t.Fatal(err)
	}
	fired := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fired[a.Alertname] = true
			}
		}
	}
	const base = "https://github.com/certgal/certgal/blob/main/README.md#"
	var names []string
	for _, r := range alertRules(t) {
		names = append(names, r.Alert)
		u := r.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(u, base)
		switch {
		case !ok:
			t.Errorf("%s: runbook_url %q is not a section of %s", r.Alert, u, strings.TrimSuffix(base, "#"))
		case !anchors[anchor]:
			t.Errorf("%s: runbook_url %q: README.md has no heading #%s", r.Alert, u, anchor)
		}
		if !fired[r.Alert] {
			t.Errorf("%s never fires in certgal-rules_test.yaml", r.Alert)
		}
	}
	for _, want := range []string{"CertgalDown", "CertgalAbsent", "CertgalDirectoryFailing"} {
		if !slices.Contains(names, want) {
			t.Errorf("no alert %s", want)
		}
	}
}
