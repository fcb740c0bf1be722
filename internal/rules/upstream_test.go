package rules

import (
	"os"
	"path/filepath"
	"testing"
)

// upstreamDir locates the upstream Falco rules kept next to the repository
// (../shared/rules/falco from the module root) or skips the test.
func upstreamDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("go.mod not found above the test directory")
		}
		dir = parent
	}
	up := filepath.Join(dir, "..", "shared", "rules", "falco")
	if _, err := os.Stat(filepath.Join(up, "falco_rules.yaml")); err != nil {
		t.Skipf("upstream Falco rules not found at %s: skipping compatibility test", up)
	}
	return up
}

var upstreamFiles = []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml", "k8s_audit_rules.yaml"}

func readUpstream(t testing.TB, names ...string) []File {
	t.Helper()
	dir := upstreamDir(t)
	var files []File
	for _, n := range names {
		fs, err := ReadFiles(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	return files
}

// TestUpstreamRulesLoad checks that each upstream file loads on its own, that
// every rule either compiles or is skipped with a reason, and that at least
// 95% of the enabled rules compile.
func TestUpstreamRulesLoad(t *testing.T) {
	for _, name := range upstreamFiles {
		t.Run(name, func(t *testing.T) {
			rs, diags := Load(readUpstream(t, name)...)
			if diags.HasErrors() {
				t.Fatalf("load errors:\n%v", diags.Err())
			}
			eng, cdiags := Compile(rs)
			if cdiags.HasErrors() {
				t.Errorf("compile errors:\n%v", cdiags.Err())
			}
			enabled := 0
			for _, r := range rs.Rules {
				if r.Enabled {
					enabled++
				}
			}
			skippedEnabled := 0
			for _, s := range eng.Skipped() {
				if s.Reason == "" {
					t.Errorf("rule %q skipped without a reason", s.Rule)
				}
				if rs.Rule(s.Rule).Enabled {
					skippedEnabled++
				}
				t.Logf("skipped %q: %s", s.Rule, s.Reason)
			}
			if got := len(eng.Rules()) + eng.Disabled() + len(eng.Skipped()); got != len(rs.Rules) {
				t.Errorf("compiled %d + disabled %d + skipped %d != %d rules", len(eng.Rules()), eng.Disabled(), len(eng.Skipped()), len(rs.Rules))
			}
			ratio := float64(len(eng.Rules())) / float64(enabled)
			t.Logf("%s: %d rules, %d enabled, %d compiled (%.1f%%), %d enabled skipped", name, len(rs.Rules), enabled, len(eng.Rules()), 100*ratio, skippedEnabled)
			if ratio < 0.95 {
				t.Errorf("only %.1f%% of enabled rules compiled, want >= 95%%", 100*ratio)
			}
		})
	}
}

// TestUpstreamWithBuiltins loads the built-in rules followed by all upstream
// files, the way a user would add them.
func TestUpstreamWithBuiltins(t *testing.T) {
	eng, diags := LoadEngine(false, readUpstream(t, upstreamFiles...)...)
	if diags.HasErrors() {
		t.Fatalf("errors:\n%v", diags.Err())
	}
	if len(eng.Rules()) < 100 {
		t.Errorf("only %d rules compiled", len(eng.Rules()))
	}
}
