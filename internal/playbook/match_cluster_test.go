package playbook

import (
	"testing"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/respond"
)

// TestMatchClusters checks that match.clusters selects a playbook by the
// alert's cluster, names and globs alike, and that a playbook without it
// takes every cluster.
func TestMatchClusters(t *testing.T) {
	p, err := ParsePolicy(respond.DefaultRegistry(), "clusters.yaml", []byte(`
playbooks:
  - name: edge
    match: {clusters: ["edge-*", "lab"], rules: ["*miner*"]}
    steps: [validate]
  - name: everywhere
    match: {rules: ["*miner*"]}
    steps: [validate]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cluster, rule, want string
	}{
		{"edge-1", "crypto miner", "edge"},
		{"lab", "crypto miner", "edge"},
		{"laboratory", "crypto miner", "everywhere"},
		{"prod", "crypto miner", "everywhere"},
		{"", "crypto miner", "everywhere"},
		{"edge-1", "shell", ""},
	} {
		a := incident.Alert{Rule: tc.rule, Priority: "Critical", Target: incident.Target{Cluster: tc.cluster, Kind: incident.TargetPod, Namespace: "shop", Pod: "p"}}
		got := ""
		if pb := p.selectFor(subjectOf(a, Facts{})); pb != nil {
			got = pb.Name
		}
		if got != tc.want {
			t.Errorf("cluster %q rule %q: playbook %q, want %q", tc.cluster, tc.rule, got, tc.want)
		}
	}
	if got := p.Playbooks[0].match.describe()["clusters"]; len(got) != 2 {
		t.Errorf("describe clusters = %v", got)
	}
}
