package jit_test

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/respond/jit"
)

// standingIdentity creates a ServiceAccount in ns bound to the committed
// deploy/rbac ClusterRoles named roles (file → role name), under names of
// this test, and returns its config (a TokenRequest token, nothing else)
// once the bindings are in force.
func standingIdentity(t testing.TB, cs kubernetes.Interface, ns string, roles map[string]string) *rest.Config {
	t.Helper()
	ctx := t.Context()
	sa := "quell"
	must(cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}))
	for file, role := range roles {
		cr, ok := clusterRoles(t, file)[role]
		if !ok {
			t.Fatalf("%s has no ClusterRole %s", file, role)
		}
		name := ns + "-" + role
		must(cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: cr.Rules}, metav1.CreateOptions{}))
		must(cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}}, metav1.CreateOptions{}))
		t.Cleanup(func() {
			ctx := context.Background()
			_ = cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
			_ = cs.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		})
	}
	tok := must(cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{}))
	cfg := rest.AnonymousClientConfig(adminConfig(t))
	cfg.BearerToken = tok.Status.Token
	client := must(kubernetes.NewForConfig(cfg))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rev, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: "create", Group: rbacv1.GroupName, Resource: "roles"}}}, metav1.CreateOptions{})
		if err == nil && rev.Status.Allowed {
			return cfg
		}
		if time.Now().After(deadline) {
			t.Fatalf("standing identity's bindings not in force: %v", err)
		}
	}
}

// TestStandingIdentity proves the deploy manifests: an identity holding
// only default.yaml's and jit.yaml's ClusterRoles runs Acquire, the
// actions and Release, and cleans up; it cannot grant what it does not
// hold; and jit.yaml alone is not enough, since the API server refuses to
// let an identity grant permissions it does not hold.
func TestStandingIdentity(t *testing.T) {
	cs := admin(t)
	home, ns := namespace(t, cs), namespace(t, cs)
	node := "jit-" + ns
	mkNode(t, cs, node)
	mkPod(t, cs, ns, "bare")
	term, cordon := &respond.Terminate{}, &respond.Cordon{Taint: true}
	bare, nodeTarget := target(t, cs, ns, "bare"), respond.Target{Node: node}
	rules := append(term.Rules(bare), cordon.Rules(nodeTarget)...)

	t.Run("default and jit", func(t *testing.T) {
		cfg := standingIdentity(t, cs, home, map[string]string{
			"default.yaml": jit.DefaultClusterRole, "jit.yaml": jit.IssuerClusterRole})
		standing := must(kubernetes.NewForConfig(cfg))
		is := jit.NewIssuer(standing, cfg, jit.Options{})
		id := nextIncident()
		lease, err := is.Acquire(t.Context(), id, ns, rules, 0)
		if err != nil {
			t.Fatalf("acquire as the standing identity: %v", err)
		}
		env := envFor(lease.Client(), id)
		for _, step := range []struct {
			a  respond.Action
			tg respond.Target
		}{{term, bare}, {cordon, nodeTarget}} {
			rec, err := step.a.Apply(t.Context(), env, step.tg)
			if err != nil {
				t.Fatalf("%s with the lease: %v", step.a.Name(), err)
			}
			if err := respond.Verify(t.Context(), env, step.tg, rec); err != nil {
				t.Fatalf("verify %s with the lease: %v", step.a.Name(), err)
			}
		}
		rep, err := lease.Release(t.Context())
		if err != nil || len(rep.Deleted) != 5 || len(rep.Remaining) != 0 {
			t.Errorf("release as the standing identity: %+v, %v; want 5 deleted, none remaining", rep, err)
		}
		if _, err := jit.Sweep(t.Context(), standing, jit.SweepOptions{}); err != nil {
			t.Errorf("sweep as the standing identity: %v", err)
		}
		if _, err := respond.Cleanup(t.Context(), respond.Env{Client: standing, Incident: id}, id); err != nil {
			t.Errorf("cleanup as the standing identity: %v", err)
		}
		if got := leftovers(t, cs, incidentSelector(id)); len(got) != 0 {
			t.Errorf("left: %v", got)
		}

		// Beyond what it holds: the Role is refused, the ServiceAccount
		// already created is removed.
		id = nextIncident()
		secrets := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}
		if _, err := is.Acquire(t.Context(), id, ns, secrets, 0); !apierrors.IsForbidden(unwrapAll(err)) {
			t.Errorf("acquire of secrets: %v, want Forbidden", err)
		}
		if got := leftovers(t, cs, incidentSelector(id)); len(got) != 0 {
			t.Errorf("left after the refused acquire: %v", got)
		}
	})

	t.Run("jit alone", func(t *testing.T) {
		home := namespace(t, cs)
		cfg := standingIdentity(t, cs, home, map[string]string{"jit.yaml": jit.IssuerClusterRole})
		is := jit.NewIssuer(must(kubernetes.NewForConfig(cfg)), cfg, jit.Options{})
		id := nextIncident()
		_, err := is.Acquire(t.Context(), id, ns, rules, 0)
		if !apierrors.IsForbidden(unwrapAll(err)) {
			t.Errorf("acquire without holding the rules: %v, want Forbidden", err)
		}
		t.Log(err)
		if got := leftovers(t, cs, incidentSelector(id)); len(got) != 0 {
			t.Errorf("left after the refused acquire: %v", got)
		}
	})
}

// unwrapAll returns the innermost error of a chain of single wraps.
func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}
