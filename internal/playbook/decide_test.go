package playbook

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/owner"
)

func TestDecide(t *testing.T) {
	pod := incident.Target{Kind: incident.TargetPod, Namespace: "shop", Name: "web-1", Pod: "web-1"}
	bare := &owner.Chain{Namespace: "shop", Links: []owner.Ref{{Kind: "Pod", Name: "web-1"}}}
	deploy := &owner.Chain{Namespace: "shop", Links: []owner.Ref{{Kind: "Pod", Name: "web-1"}, {Kind: "ReplicaSet", Name: "web-x"}, {Kind: "Deployment", Name: "web"}}}
	custom := &owner.Chain{Namespace: "shop", Links: []owner.Ref{{Kind: "Pod", Name: "web-1"}, {Kind: "Rollout", Name: "web"}}, Unknown: true}
	tests := []struct {
		name      string
		f         Facts
		want      []string
		escalated bool
	}{
		{"informational never acts", Facts{Target: pod, Severity: incident.SeverityInfo, Chain: deploy}, nil, false},
		{"node threat cordons", Facts{Target: incident.Target{Kind: incident.TargetNode, Name: "n1"}, Severity: incident.SeverityLow}, []string{"cordon-node"}, false},
		{"cluster target: nothing to act on", Facts{Target: incident.Target{Kind: incident.TargetCluster}, Severity: incident.SeverityHigh}, nil, false},
		{"unknown chain", Facts{Target: pod, Severity: incident.SeverityCritical}, nil, false},
		{"bare pod terminated", Facts{Target: pod, Severity: incident.SeverityCritical, Chain: bare}, []string{"capture-evidence", "terminate-pod"}, false},
		{"custom owner: terminate, never guess", Facts{Target: pod, Severity: incident.SeverityCritical, Chain: custom}, []string{"capture-evidence", "terminate-pod"}, false},
		{"critical in workload suspends", Facts{Target: pod, Severity: incident.SeverityCritical, Chain: deploy}, []string{"capture-evidence", "suspend-workload"}, false},
		{"lesser threat terminates first", Facts{Target: pod, Severity: incident.SeverityLow, Chain: deploy, Pods: 1}, []string{"capture-evidence", "terminate-pod"}, false},
		{"alert after termination escalates", Facts{Target: pod, Severity: incident.SeverityLow, Chain: deploy, Terminated: 1, Pods: 2}, []string{"capture-evidence", "suspend-workload"}, true},
		{"two pods escalate", Facts{Target: pod, Severity: incident.SeverityMedium, Chain: deploy, Pods: 2}, []string{"capture-evidence", "suspend-workload"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.f)
			if diff := cmp.Diff(tt.want, d.Actions); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if d.Escalated != tt.escalated || d.Reason == "" {
				t.Errorf("decision = %+v", d)
			}
		})
	}
}
