package respond_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"quell.dev/quell/internal/respond"
)

func TestCleanup(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	id := nextIncident()
	ctx := t.Context()
	temp := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{respond.LabelIncident: itoa32(id)}}
	}
	must(cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: temp("sa")}, metav1.CreateOptions{}))
	must(cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: temp("role")}, metav1.CreateOptions{}))
	must(cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: temp("binding"),
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "role"}}, metav1.CreateOptions{}))
	keep := temp(respond.PolicyName(id))
	keep.Labels[respond.LabelLifetime] = respond.LifetimeUntilRestore
	must(cs.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: keep}, metav1.CreateOptions{}))
	// A workload quell changed (not created) carries the label too and must survive.
	mkDeployment(t, cs, ns, "web", 0, func(d *appsv1.Deployment) { d.Labels = map[string]string{respond.LabelIncident: itoa32(id)} })
	// Another incident's objects are not touched.
	other := temp("other-sa")
	other.Labels[respond.LabelIncident] = itoa32(id + 1000000)
	must(cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: other}, metav1.CreateOptions{}))

	dry := envFor(cs, id)
	dry.DryRun = true
	rep := must(respond.Cleanup(ctx, dry, id))
	if len(rep.Remaining) != 3 {
		t.Errorf("dry-run cleanup left %d objects, want all 3: %+v", len(rep.Remaining), rep)
	}

	rep = must(respond.Cleanup(ctx, envFor(cs, id), id))
	got := map[string]int{"deleted": len(rep.Deleted), "kept": len(rep.Kept), "remaining": len(rep.Remaining)}
	if got["deleted"] != 3 || got["kept"] != 1 || got["remaining"] != 0 {
		t.Errorf("cleanup report %+v", rep)
	}
	if _, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Errorf("changed workload deleted by cleanup: %v", err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "other-sa", metav1.GetOptions{}); err != nil {
		t.Errorf("another incident's object deleted: %v", err)
	}
	again := must(respond.Cleanup(ctx, envFor(cs, id), id))
	if len(again.Deleted) != 0 || len(again.Remaining) != 0 {
		t.Errorf("second cleanup %+v, want nothing to do", again)
	}
}
