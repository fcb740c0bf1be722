package jit_test

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/respond/jit"
)

// TestLease runs a real terminate and a real suspension with a lease's
// client, shows the API server refusing that client everything outside the
// planned rules, and proves Release leaves nothing and ends the token.
func TestLease(t *testing.T) {
	cs := admin(t)
	ns, other := namespace(t, cs), namespace(t, cs)
	mkDeployment(t, cs, ns, "web", 2)
	mkDeployment(t, cs, ns, "db", 1)
	mkPod(t, cs, ns, "bare")
	mkPod(t, cs, ns, "bystander")
	mkPod(t, cs, other, "elsewhere")
	web := waitPods(t, cs, ns, "app=web", 2)
	waitPods(t, cs, ns, "app=db", 1)

	id := nextIncident()
	term, susp := &respond.Terminate{}, &respond.Suspend{}
	bare, webPod := target(t, cs, ns, "bare"), target(t, cs, ns, web[0])
	rules := append(term.Rules(bare), susp.Rules(webPod)...)
	lease, err := newIssuer(t, jit.Options{}).Acquire(t.Context(), id, ns, rules, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rules in force %s after the token was issued", lease.Waited())
	if left := time.Until(lease.Expires()); left <= 0 || left > time.Minute {
		t.Errorf("lease expires in %s, want within its 1m TTL", left)
	}
	if got := leftovers(t, cs, incidentSelector(id)+","+jit.LabelJIT+"=true"); len(got) != 3 {
		t.Errorf("objects of the lease: %v, want a ServiceAccount, a Role and a RoleBinding", got)
	}

	sc := lease.Client()
	env := envFor(sc, id)
	for _, step := range []struct {
		a  respond.Action
		tg respond.Target
	}{{term, bare}, {susp, webPod}} {
		rec, err := step.a.Apply(t.Context(), env, step.tg)
		if err != nil {
			t.Fatalf("%s with the lease: %v", step.a.Name(), err)
		}
		if err := respond.Verify(t.Context(), env, step.tg, rec); err != nil {
			t.Fatalf("verify %s with the lease: %v", step.a.Name(), err)
		}
	}
	if d := must(cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})); *d.Spec.Replicas != 0 {
		t.Errorf("web has %d replicas after the suspension", *d.Spec.Replicas)
	}

	forbidden := map[string]func(kubernetes.Interface) error{
		"delete another pod": func(c kubernetes.Interface) error {
			return c.CoreV1().Pods(ns).Delete(t.Context(), "bystander", metav1.DeleteOptions{})
		},
		"delete a pod in another namespace": func(c kubernetes.Interface) error {
			return c.CoreV1().Pods(other).Delete(t.Context(), "elsewhere", metav1.DeleteOptions{})
		},
		"list pods in another namespace": func(c kubernetes.Interface) error {
			_, err := c.CoreV1().Pods(other).List(t.Context(), metav1.ListOptions{})
			return err
		},
		"scale another deployment": func(c kubernetes.Interface) error {
			_, err := c.AppsV1().Deployments(ns).Patch(t.Context(), "db", types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{})
			return err
		},
		"read secrets": func(c kubernetes.Interface) error {
			_, err := c.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{})
			return err
		},
		"grant itself more": func(c kubernetes.Interface) error {
			_, err := c.RbacV1().Roles(ns).Create(t.Context(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "more"},
				Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{})
			return err
		},
		"create a deployment": func(c kubernetes.Interface) error {
			_, err := c.AppsV1().Deployments(ns).Create(t.Context(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, Template: podTemplate("x")}},
				metav1.CreateOptions{})
			return err
		},
	}
	for what, call := range forbidden {
		if err := call(sc); !apierrors.IsForbidden(err) {
			t.Errorf("%s with the lease: %v, want Forbidden", what, err)
		}
	}
	if _, err := cs.CoreV1().Pods(ns).Get(t.Context(), "bystander", metav1.GetOptions{}); err != nil {
		t.Errorf("bystander after the refused delete: %v", err)
	}

	rep, err := lease.Release(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Deleted) != 3 || len(rep.Remaining) != 0 {
		t.Errorf("release report %+v, want 3 deleted and nothing remaining", rep)
	}
	if got := leftovers(t, cs, jit.LabelJIT+"=true"); len(got) != 0 {
		t.Errorf("JIT objects after release: %v", got)
	}
	// The bindings are gone: refused at once (RBAC informers lag by
	// milliseconds); the token itself is rejected once the API server's
	// 10 s cache of authenticated tokens lets it go.
	t.Logf("lease refused (403) %s after release", waitRefused(t, sc, ns))
	t.Logf("token rejected (401) %s after release", waitUnauthorized(t, sc, ns))

	again, err := lease.Release(t.Context())
	if err != nil || len(again.Deleted) != 0 || len(again.Remaining) != 0 {
		t.Errorf("second release: %+v, %v; want nothing to delete and nothing remaining", again, err)
	}
}

// TestLeaseClusterScoped grants a node (a ClusterRole limited to its name)
// with a pod in one lease, and a node alone from the home namespace.
func TestLeaseClusterScoped(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	node, otherNode := "jit-"+ns, "jit-other-"+ns
	mkNode(t, cs, node)
	mkNode(t, cs, otherNode)
	mkPod(t, cs, ns, "bare")
	cordon, term := &respond.Cordon{Taint: true}, &respond.Terminate{}
	nodeTarget, bare := respond.Target{Node: node}, target(t, cs, ns, "bare")
	is := newIssuer(t, jit.Options{HomeNamespace: ns})

	tests := []struct {
		name      string
		namespace string
		rules     []rbacv1.PolicyRule
		kinds     []string
	}{
		{"node and pod", ns, append(cordon.Rules(nodeTarget), term.Rules(bare)...),
			[]string{"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}},
		{"node alone", "", cordon.Rules(nodeTarget), []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := nextIncident()
			lease, err := is.Acquire(t.Context(), id, tt.namespace, tt.rules, 0)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, o := range lease.Objects() {
				kinds = append(kinds, o.Kind)
				if o.Kind == "ClusterRole" {
					cr := must(cs.RbacV1().ClusterRoles().Get(t.Context(), o.Name, metav1.GetOptions{}))
					if len(cr.Rules) != 1 || !slices.Equal(cr.Rules[0].ResourceNames, []string{node}) {
						t.Errorf("cluster role rules %+v, want the node %s by name only", cr.Rules, node)
					}
				}
			}
			if !slices.Equal(kinds, tt.kinds) {
				t.Errorf("created %v, want %v", kinds, tt.kinds)
			}
			env := envFor(lease.Client(), id)
			rec, err := cordon.Apply(t.Context(), env, nodeTarget)
			if err != nil {
				t.Fatalf("cordon with the lease: %v", err)
			}
			if err := respond.Verify(t.Context(), env, nodeTarget, rec); err != nil {
				t.Fatalf("verify cordon with the lease: %v", err)
			}
			_, err = lease.Client().CoreV1().Nodes().Patch(t.Context(), otherNode, types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{})
			if !apierrors.IsForbidden(err) {
				t.Errorf("cordon another node with the lease: %v, want Forbidden", err)
			}
			if _, err := cordon.Restore(t.Context(), env, rec); err != nil {
				t.Errorf("restore with the lease: %v", err)
			}
			rep, err := lease.Release(t.Context())
			if err != nil || len(rep.Deleted) != len(tt.kinds) || len(rep.Remaining) != 0 {
				t.Errorf("release: %+v, %v; want %d deleted, none remaining", rep, err, len(tt.kinds))
			}
			if got := leftovers(t, cs, incidentSelector(id)); len(got) != 0 {
				t.Errorf("left after release: %v", got)
			}
		})
	}
}

// TestAcquireFailureLeavesNothing makes Acquire fail at each step and
// checks that nothing of the incident is left.
func TestAcquireFailureLeavesNothing(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	pods := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}
	tests := []struct {
		name      string
		opts      jit.Options
		namespace string
		rules     []rbacv1.PolicyRule
		invalid   bool // the API server rejects a write as invalid
	}{
		{"no rules", jit.Options{}, ns, nil, false},
		{"namespaced rules without a namespace", jit.Options{}, "", pods, false},
		{"namespace that does not exist", jit.Options{}, "no-such-" + ns, pods, false},
		{"invalid role (after the service account)", jit.Options{}, ns,
			[]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}, true},
		{"invalid cluster role (after the role and binding)", jit.Options{}, ns,
			append(pods, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}}), true},
		{"rules not in force in time (after the token)", jit.Options{ReadyTimeout: time.Nanosecond}, ns, pods, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := nextIncident()
			lease, err := newIssuer(t, tt.opts).Acquire(t.Context(), id, tt.namespace, tt.rules, 0)
			if err == nil {
				_, _ = lease.Release(t.Context())
				t.Fatal("Acquire succeeded")
			}
			t.Log(err)
			if tt.invalid && !apierrors.IsInvalid(unwrapAll(err)) {
				t.Errorf("error %v, want the API server's Invalid", err)
			}
			if got := leftovers(t, cs, incidentSelector(id)); len(got) != 0 {
				t.Errorf("left after the failed Acquire: %v", got)
			}
		})
	}
}

// TestSweep leaves leases unreleased, as a crash would, and sweeps them.
func TestSweep(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	is := newIssuer(t, jit.Options{})
	pods := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}}
	short := must(is.Acquire(t.Context(), nextIncident(), ns, pods, time.Minute))
	long := must(is.Acquire(t.Context(), nextIncident(), ns, pods, jit.MaxTTL))
	inc := func(l *jit.Lease) string { return incidentSelector(l.Incident) }

	// Two minutes on, the short lease has expired and the long one not.
	rep, err := jit.Sweep(t.Context(), cs, jit.SweepOptions{Now: time.Now().Add(2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if got := leftovers(t, cs, inc(short)); len(got) != 0 {
		t.Errorf("expired lease after sweep: %v", got)
	}
	if got := leftovers(t, cs, inc(long)); len(got) != 3 {
		t.Errorf("unexpired lease after sweep: %v, want its 3 objects kept", got)
	}
	if len(rep.Deleted) < 3 || len(rep.Kept) < 3 || len(rep.Remaining) != 0 {
		t.Errorf("sweep report %+v", rep)
	}
	waitRefused(t, short.Client(), ns)
	if _, err := long.Client().CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Errorf("unexpired lease's client after sweep: %v", err)
	}

	rep, err = jit.Sweep(t.Context(), cs, jit.SweepOptions{All: true})
	if err != nil || len(rep.Remaining) != 0 || len(rep.Kept) != 0 {
		t.Errorf("sweep all: %+v, %v", rep, err)
	}
	if got := leftovers(t, cs, jit.LabelJIT+"=true"); len(got) != 0 {
		t.Errorf("JIT objects after sweeping all: %v", got)
	}
	if rep, err := long.Release(t.Context()); err != nil || len(rep.Deleted) != 0 {
		t.Errorf("release after sweep: %+v, %v; want nothing left to delete", rep, err)
	}
}
