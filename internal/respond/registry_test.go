package respond_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/respond"
)

func TestDefaultRegistry(t *testing.T) {
	r := respond.DefaultRegistry()
	want := []string{"annotate", "capture-evidence", "cordon-node", "isolate-pod", "label", "suspend-workload", "terminate-pod"}
	if diff := cmp.Diff(want, r.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	for _, n := range want {
		a, ok := r.Get(n)
		if !ok || a.Name() != n {
			t.Errorf("Get(%q) = %v, %v", n, a, ok)
		}
	}
	if _, ok := r.Get("reboot-cluster"); ok {
		t.Error("Get of an unknown name succeeded")
	}
}

func TestRegistryDuplicatePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("registering a duplicate name did not panic")
		}
	}()
	respond.NewRegistry(&respond.Terminate{}, &respond.Terminate{})
}

func deployTarget() respond.Target {
	return respond.Target{Namespace: "shop", Pod: "web-abc-1", Chain: owner.Chain{Namespace: "shop", Links: []owner.Ref{
		{Kind: "Pod", Name: "web-abc-1", UID: "p1"}, {Kind: "ReplicaSet", Name: "web-abc"}, {Kind: "Deployment", Name: "web"}}}}
}

func TestRules(t *testing.T) {
	tests := []struct {
		name   string
		action respond.Action
		target respond.Target
		want   []rbacv1.PolicyRule
	}{
		{"terminate", &respond.Terminate{}, deployTarget(), []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"web-abc-1"}, Verbs: []string{"get", "delete"}},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}},
		}},
		{"suspend-deployment", &respond.Suspend{}, deployTarget(), []rbacv1.PolicyRule{
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, ResourceNames: []string{"web"}, Verbs: []string{"get", "patch"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, ResourceNames: []string{"web"}, Verbs: []string{"get", "update"}},
			{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: []string{"list"}},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}},
		}},
		{"cordon", &respond.Cordon{}, respond.Target{Node: "n1"}, []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes"}, ResourceNames: []string{"n1"}, Verbs: []string{"get", "update"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.action.Rules(tt.target)); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
	ns, cl := respond.SplitRules((&respond.Evidence{}).Rules(respond.Target{Namespace: "shop", Pod: "p", Node: "n1",
		Chain: owner.Chain{Links: []owner.Ref{{Kind: "Pod", Name: "p"}}}}))
	if len(cl) != 1 || cl[0].Resources[0] != "nodes" || len(ns) != 3 {
		t.Errorf("SplitRules: namespaced %v, cluster %v", ns, cl)
	}
}

func TestRecordJSON(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	rec := respond.Record{
		Action: respond.ActionSuspend, Incident: 7, Target: deployTarget(),
		Object:  respond.ObjectRef{Kind: "Deployment", Namespace: "shop", Name: "web", UID: "u"},
		Before:  json.RawMessage(`{"kind":"Deployment","name":"web","replicas":3}`),
		After:   json.RawMessage(`{"kind":"Deployment","name":"web","replicas":0}`),
		Restore: json.RawMessage(`{"incident":7,"kind":"Deployment","name":"web","replicas":3}`),
		HPAs:    []respond.HPAState{{Name: "web", MinReplicas: ptr.To[int32](2), MaxReplicas: 5}},
		Evidence: []respond.EvidenceItem{{Name: "logs/c", MediaType: "text/plain", SHA256: "ab", Size: 3, Data: []byte{0, 1, 2}},
			{Name: "logs/c.previous", MediaType: "text/plain", Error: "no kubelet"}},
		Reversible: true, Changed: true, GitOps: "argocd:shop", Started: now, Finished: now.Add(time.Millisecond),
	}
	var got respond.Record
	if err := json.Unmarshal(must(json.Marshal(rec)), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec, got, cmpopts.IgnoreUnexported(respond.Record{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
