package respond_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"quell.dev/quell/internal/respond"
)

func TestIsolate(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	p := mkPod(t, cs, ns, "web")
	tgt := target(t, cs, ns, p.Name)
	id := nextIncident()
	env := envFor(cs, id)
	a := &respond.Isolate{AllowDNS: true, AllowCIDRs: []respond.NamedCIDR{{Name: "siem", CIDR: "10.1.2.0/24"}}}
	rec, err := a.Apply(t.Context(), env, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Changed || !rec.Reversible {
		t.Errorf("record: changed=%v reversible=%v", rec.Changed, rec.Reversible)
	}
	if err := respond.Verify(t.Context(), env, tgt, rec); err != nil {
		t.Fatalf("verify: %v", err)
	}
	np := must(cs.NetworkingV1().NetworkPolicies(ns).Get(t.Context(), respond.PolicyName(id), metav1.GetOptions{}))
	idLabel := itoa32(id)
	if diff := cmp.Diff(map[string]string{respond.LabelQuarantine: idLabel}, np.Spec.PodSelector.MatchLabels); diff != "" {
		t.Errorf("policy selector (-want +got):\n%s", diff)
	}
	if len(np.Spec.PolicyTypes) != 2 || len(np.Spec.Ingress) != 0 || len(np.Spec.Egress) != 2 {
		t.Errorf("policy: types %v, %d ingress rules, %d egress rules; want both types, 0, 2 (DNS, CIDR)",
			np.Spec.PolicyTypes, len(np.Spec.Ingress), len(np.Spec.Egress))
	}
	if np.Labels[respond.LabelIncident] != idLabel {
		t.Errorf("policy labels %v", np.Labels)
	}
	got := must(cs.CoreV1().Pods(ns).Get(t.Context(), p.Name, metav1.GetOptions{}))
	if got.Labels[respond.LabelQuarantine] != idLabel || got.Labels["app"] != "web" {
		t.Errorf("pod labels %v", got.Labels)
	}
	again, err := a.Apply(t.Context(), env, tgt)
	if err != nil || again.Changed {
		t.Errorf("isolate again: changed=%v err=%v", again.Changed, err)
	}

	// Cleanup keeps the policy: it must hold until restore.
	rep, err := respond.Cleanup(t.Context(), env, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Kept) != 1 || rep.Kept[0].Name != respond.PolicyName(id) || len(rep.Deleted) != 0 || len(rep.Remaining) != 0 {
		t.Errorf("cleanup report %+v, want the policy kept and nothing else", rep)
	}

	back, err := a.Restore(t.Context(), env, rec)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Changed {
		t.Error("restore: Changed=false")
	}
	if _, err := cs.NetworkingV1().NetworkPolicies(ns).Get(t.Context(), respond.PolicyName(id), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("policy after restore: %v", err)
	}
	got = must(cs.CoreV1().Pods(ns).Get(t.Context(), p.Name, metav1.GetOptions{}))
	if diff := cmp.Diff(map[string]string{"app": "web"}, got.Labels); diff != "" {
		t.Errorf("pod labels after restore (-want +got):\n%s", diff)
	}
	if len(got.Annotations) != 0 {
		t.Errorf("annotations left: %v", got.Annotations)
	}
	again, err = a.Restore(t.Context(), env, rec)
	if err != nil || again.Changed {
		t.Errorf("restore again: changed=%v err=%v", again.Changed, err)
	}
}

// Two pods quarantined by one incident share its policy: restoring the
// first keeps it, restoring the second (from the annotation) removes it.
func TestIsolateSharedPolicy(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	mkPod(t, cs, ns, "a")
	mkPod(t, cs, ns, "b")
	id := nextIncident()
	env := envFor(cs, id)
	a := &respond.Isolate{}
	ta, tb := target(t, cs, ns, "a"), target(t, cs, ns, "b")
	ra := must(a.Apply(t.Context(), env, ta))
	must(a.Apply(t.Context(), env, tb))
	must(a.Restore(t.Context(), env, ra))
	if _, err := cs.NetworkingV1().NetworkPolicies(ns).Get(t.Context(), respond.PolicyName(id), metav1.GetOptions{}); err != nil {
		t.Fatalf("policy gone while pod b is quarantined: %v", err)
	}
	must(a.Restore(t.Context(), env, respond.Record{Action: respond.ActionIsolate, Target: tb}))
	if _, err := cs.NetworkingV1().NetworkPolicies(ns).Get(t.Context(), respond.PolicyName(id), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("policy after restoring both pods: %v", err)
	}
}

// Isolating a pod that is gone fails and leaves no policy behind.
func TestIsolateGonePod(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	id := nextIncident()
	_, err := (&respond.Isolate{}).Apply(t.Context(), envFor(cs, id), respond.Target{Namespace: ns, Pod: "gone"})
	if !apierrors.IsNotFound(err) {
		t.Errorf("err = %v, want NotFound", err)
	}
	if _, err := cs.NetworkingV1().NetworkPolicies(ns).Get(t.Context(), respond.PolicyName(id), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("policy left after a failed isolation: %v", err)
	}
}
