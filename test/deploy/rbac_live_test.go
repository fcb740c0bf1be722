package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/testenv"
)

// tokenClient acts as ServiceAccount ns/sa with a TokenRequest token and
// nothing else.
func tokenClient(t *testing.T, cs kubernetes.Interface, ns, sa string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(tokenConfig(t, cs, ns, sa))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tokenConfig is the client config of tokenClient.
func tokenConfig(t *testing.T, cs kubernetes.Interface, ns, sa string) *rest.Config {
	t.Helper()
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, sa, err)
	}
	cfg := rest.AnonymousClientConfig(testenv.Cluster(t).RESTConfig(devcluster.AdminUser))
	cfg.BearerToken = tok.Status.Token
	return cfg
}

// allowed asks the API server's authorizer whether the caller may p.
func allowed(ctx context.Context, c kubernetes.Interface, p perm) (bool, error) {
	res, sub, _ := strings.Cut(p.Resource, "/")
	rev, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: p.Namespace, Verb: p.Verb, Group: p.Group, Resource: res, Subresource: sub}}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return rev.Status.Allowed, nil
}

// dangerous are permissions no ServiceAccount of quell may hold: reading
// secrets, running commands in pods, granting or assuming more, deleting
// namespaces or nodes, everything; the standing mode may not create
// identities; the sensor may write nothing and read only what it lists.
func dangerous(in install, server bool) []perm {
	ps := []perm{
		{"", "", "secrets", "get"}, {"", "", "secrets", "list"}, {"", "", "secrets", "watch"}, {in.namespace, "", "secrets", "get"},
		{"", "", "pods/exec", "create"}, {"", "", "pods/exec", "get"}, {"", "", "pods/attach", "create"}, {"", "", "pods/portforward", "create"},
		{"", "rbac.authorization.k8s.io", "clusterroles", "escalate"}, {"", "rbac.authorization.k8s.io", "roles", "escalate"},
		{"", "rbac.authorization.k8s.io", "clusterroles", "bind"}, {"", "rbac.authorization.k8s.io", "roles", "bind"},
		{"", "", "users", "impersonate"}, {"", "", "groups", "impersonate"}, {"", "", "serviceaccounts", "impersonate"},
		{"", "*", "*", "*"}, {"", "", "namespaces", "delete"}, {"", "", "nodes", "delete"},
		{"", "coordination.k8s.io", "leases", "update"}, {"kube-system", "coordination.k8s.io", "leases", "update"},
		{"kube-system", "", "configmaps", "update"},
	}
	switch {
	case !server:
		for _, v := range []string{"create", "update", "patch", "delete", "deletecollection"} {
			for _, r := range [][2]string{{"", "pods"}, {"", "events"}, {"", "nodes"}, {"apps", "deployments"},
				{"coordination.k8s.io", "leases"}, {"networking.k8s.io", "networkpolicies"}, {"", "configmaps"}} {
				ps = append(ps, perm{"", r[0], r[1], v}, perm{in.namespace, r[0], r[1], v})
			}
		}
		ps = append(ps, perm{"", "", "pods", "get"}, perm{"", "", "nodes", "list"}, perm{"", "", "pods/eviction", "create"})
	case !in.jit:
		for _, r := range []string{"serviceaccounts", "serviceaccounts/token"} {
			ps = append(ps, perm{"", "", r, "create"})
		}
		for _, r := range []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"} {
			ps = append(ps, perm{"", "rbac.authorization.k8s.io", r, "create"})
		}
	}
	return ps
}

// selfReviewed are the rules every authenticated identity holds
// (system:basic-user): asking what it may do.
var selfReviewed = map[perm]bool{
	{"", "authorization.k8s.io", "selfsubjectaccessreviews", "create"}: true,
	{"", "authorization.k8s.io", "selfsubjectrulesreviews", "create"}:  true,
	{"", "authentication.k8s.io", "selfsubjectreviews", "create"}:      true,
}

// rulesIn is what the authorizer says the caller may do in ns, as
// permissions without a namespace.
func rulesIn(t *testing.T, c kubernetes.Interface, ns string) []perm {
	t.Helper()
	rev, err := c.AuthorizationV1().SelfSubjectRulesReviews().Create(t.Context(), &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("rules review in %s: %v", ns, err)
	}
	if rev.Status.Incomplete {
		t.Fatalf("rules review in %s incomplete: %s", ns, rev.Status.EvaluationError)
	}
	var out []perm
	for _, r := range rev.Status.ResourceRules {
		if len(r.ResourceNames) > 0 {
			t.Errorf("a rule limited to names %v: %+v", r.ResourceNames, r)
		}
		for _, p := range expand("", rbacv1Rule(r)) {
			if !selfReviewed[p] {
				out = append(out, p)
			}
		}
	}
	return sortPerms(out)
}

// checkLiveRBAC proves the installed RBAC with the API server's own
// authorizer, for a token of each of in's ServiceAccounts: each needed
// permission is allowed, each dangerous one denied, and the rules it
// reports in the release's namespace and in another are exactly the
// needed ones.
func checkLiveRBAC(t *testing.T, cs kubernetes.Interface, in install) {
	for sa, need := range needed(in) {
		t.Run(sa, func(t *testing.T) {
			c := tokenClient(t, cs, in.namespace, sa)
			waitAllowed(t, c, need[len(need)-1]) // RBAC is served from informers
			for _, p := range need {
				if ok, err := allowed(t.Context(), c, p); err != nil || !ok {
					t.Errorf("%s may not %s (%v), which the code needs", sa, p, err)
				}
			}
			for _, p := range dangerous(in, sa == in.fullname) {
				if ok, err := allowed(t.Context(), c, p); err != nil || ok {
					t.Errorf("%s may %s (%v)", sa, p, err)
				}
			}
			for _, ns := range []string{in.namespace, "default"} {
				var want []perm
				for _, p := range need {
					if p.Namespace == "" || p.Namespace == ns {
						p.Namespace = ""
						want = append(want, p)
					}
				}
				want = sortPerms(want)
				got := rulesIn(t, c, ns)
				if extra := difference(got, want); len(extra) > 0 {
					t.Errorf("in %s the authorizer lets %s do more than the code needs:\n  %s", ns, sa, strings.Join(extra, "\n  "))
				}
				if missing := difference(want, got); len(missing) > 0 {
					t.Errorf("in %s the authorizer does not let %s:\n  %s", ns, sa, strings.Join(missing, "\n  "))
				}
			}
		})
	}
}

func waitAllowed(t *testing.T, c kubernetes.Interface, p perm) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ok, err := allowed(t.Context(), c, p)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not allowed after 15 s: %v", p, err)
		}
	}
}

func rbacv1Rule(r authorizationv1.ResourceRule) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: r.Resources, Verbs: r.Verbs}
}
