package playbook

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/respond"
)

func loadTestPolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := LoadPolicy(respond.DefaultRegistry(), "testdata/playbooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParsePolicy(t *testing.T) {
	p := loadTestPolicy(t)
	if len(p.Allow) != 2 || len(p.Playbooks) != 2 {
		t.Fatalf("got %d allowlist entries and %d playbooks, want 2 and 2", len(p.Allow), len(p.Playbooks))
	}
	miners := p.Playbooks[0]
	got := struct {
		Name, Where, Mode, Credentials string
		MinSeverity                    incident.Severity
		Steps                          []Step
	}{miners.Name, miners.Where, miners.Mode, miners.Credentials, miners.MinSeverity, miners.Steps}
	want := struct {
		Name, Where, Mode, Credentials string
		MinSeverity                    incident.Severity
		Steps                          []Step
	}{"contain-miners", "testdata/playbooks.yaml:8", "enforce", "jit", incident.SeverityMedium, []Step{
		{Kind: StepValidate, OnError: OnErrorStop},
		{Kind: StepEnrich, OnError: OnErrorStop},
		{Kind: StepAction, Action: respond.ActionEvidence, OnError: OnErrorContinue},
		{Kind: StepAction, Action: respond.ActionSuspend, OnError: OnErrorStop,
			Approval: Approval{AutoAfter: 5 * time.Minute, Reason: "the playbook acts after 5m0s unless vetoed"}},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("contain-miners (-want +got):\n%s", d)
	}
}

// TestParsePolicyErrors checks that every problem is reported at once,
// each with the file, line and path at fault.
func TestParsePolicyErrors(t *testing.T) {
	_, err := LoadPolicy(respond.DefaultRegistry(), "testdata/bad.yaml")
	if err == nil {
		t.Fatal("bad.yaml loaded")
	}
	want := []string{
		`testdata/bad.yaml:2: allowlist[0].reason: say why this is allowed`,
		`testdata/bad.yaml:4: playbooks[0].name: a playbook needs a name`,
		`testdata/bad.yaml:7: playbooks[0].mode: "yolo" is not one of observe, dry-run, enforce`,
		`testdata/bad.yaml:8: playbooks[0].credentials: "root" is not one of standing, jit`,
		`testdata/bad.yaml:5: playbooks[0].match.priority: invalid priority "loud"`,
		`testdata/bad.yaml:6: playbooks[0].match.selector: invalid label selector`,
		`testdata/bad.yaml:10: playbooks[0].steps[0]: unknown step "inspect"`,
		`testdata/bad.yaml:11: playbooks[0].steps[1].action: unknown action "nuke-cluster" (known: annotate, capture-evidence,`,
		`testdata/bad.yaml:13: playbooks[0].steps[1].on_error: "shrug" is not one of stop, continue`,
		`testdata/bad.yaml:12: playbooks[0].steps[1].approve: "sometime" is not one of required, auto-after DURATION`,
		`testdata/bad.yaml:14: playbooks[0].steps[2]: a step has either step or action, not both`,
		`testdata/bad.yaml:17: playbooks[1].steps: a playbook needs at least one step`,
		`testdata/bad.yaml:18: playbooks[1].match.clusters[0]: an empty pattern matches nothing; remove it`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q", w)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", n, len(want), msg)
	}
}

func TestParsePolicyStrict(t *testing.T) {
	for name, text := range map[string]string{
		"unknown top-level key": "playbook:\n  - name: x\n",
		"unknown step key":      "playbooks:\n  - name: x\n    steps:\n      - action: label\n        when: always\n",
		"wrong type":            "playbooks: 3\n",
		"duplicate name":        "playbooks:\n  - {name: x, steps: [validate]}\n  - {name: x, steps: [validate]}\n",
	} {
		t.Run(name, func(t *testing.T) {
			f := t.TempDir() + "/p.yaml"
			if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadPolicy(respond.DefaultRegistry(), f)
			if err == nil || !strings.Contains(err.Error(), f) {
				t.Fatalf("got %v, want an error naming %s", err, f)
			}
		})
	}
}

func TestSelectAndAllow(t *testing.T) {
	p := loadTestPolicy(t)
	chain := func(labels map[string]string, images ...string) *owner.Chain {
		return &owner.Chain{Namespace: "prod-eu", Links: []owner.Ref{{Kind: "Pod", Name: "p"}}, PodLabels: labels, PodImages: images, ServiceAccount: "default"}
	}
	alert := func(ns, rule, prio, source string, tags ...string) incident.Alert {
		return incident.Alert{Rule: rule, Priority: prio, Source: source, Tags: tags, Target: incident.Target{Namespace: ns, Pod: "p"}}
	}
	for _, tc := range []struct {
		name     string
		alert    incident.Alert
		chain    *owner.Chain
		playbook string // "" none
		allow    string // reason, "" none
	}{
		{"miner in prod", alert("prod-eu", "Detect crypto miners using the Stratum protocol", "Critical", "falco"), chain(nil, "evil/miner:1"), "contain-miners", ""},
		{"miner below priority", alert("prod-eu", "Detect crypto miners using the Stratum protocol", "Notice", "falco"), chain(nil), "", ""},
		{"miner outside namespaces", alert("dev", "Detect crypto miners using the Stratum protocol", "Critical", "falco"), chain(nil), "", ""},
		{"miner in research excluded", alert("prod-eu", "Detect crypto miners using the Stratum protocol", "Critical", "falco"), chain(map[string]string{"team": "research"}), "", ""},
		{"network tool tagged, labelled", alert("dev", "Launch Suspicious Network Tool in Container", "Notice", "sensor", "network", "mitre_discovery"), chain(map[string]string{"app": "web"}), "network-tools", ""},
		{"network tool without app label", alert("dev", "Launch Suspicious Network Tool in Container", "Notice", "sensor", "network"), chain(nil), "", ""},
		{"network tool pod unresolved", alert("dev", "Launch Suspicious Network Tool in Container", "Notice", "sensor", "network"), nil, "", ""},
		{"network tool wrong source", alert("dev", "Launch Suspicious Network Tool in Container", "Notice", "audit", "network"), chain(map[string]string{"app": "web"}), "", ""},
		{"scanner image allowlisted", alert("prod-eu", "Detect crypto miners using the Stratum protocol", "Critical", "falco"), chain(nil, "busybox", "registry.example.com/scanner:2.1"), "contain-miners", "the security team's scanner runs network tools"},
		{"sandbox rule allowlisted", alert("sandbox-7", "Launch Suspicious Network Tool in Container", "Notice", "sensor", "network"), chain(map[string]string{"app": "x"}), "network-tools", "sandboxes may run network tools"},
		{"sandbox other rule not allowlisted", alert("sandbox-7", "Terminal shell in container", "Notice", "sensor", "network"), chain(map[string]string{"app": "x"}), "network-tools", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := subjectOf(tc.alert, Facts{Chain: tc.chain})
			if tc.chain != nil {
				s.ns = tc.alert.Target.Namespace
			}
			got := ""
			if pb := p.selectFor(s); pb != nil {
				got = pb.Name
			}
			if got != tc.playbook {
				t.Errorf("playbook %q, want %q", got, tc.playbook)
			}
			reason := ""
			if a := p.allowed(s); a != nil {
				reason = a.Reason
			}
			if reason != tc.allow {
				t.Errorf("allowlisted by %q, want %q", reason, tc.allow)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "docker.io/library/nginx:1", true},
		{"*/miner:*", "quay.io/evil/miner:latest", true},
		{"*/miner:*", "quay.io/evil/miner", false},
		{"prod-*", "prod-", true},
		{"prod-?", "prod-ab", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"exact", "exact", true},
		{"", "", true},
	} {
		if got := glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}
