package respond_test

import (
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/testenv"
)

// scopedClient creates a ServiceAccount bound to exactly rules (a Role in
// ns, and a ClusterRole for cluster-scoped rules), all labelled as
// temporary objects of incident id, and returns a client acting with a
// short-lived token of it.
func scopedClient(t *testing.T, cs kubernetes.Interface, ns string, id int64, rules []rbacv1.PolicyRule) kubernetes.Interface {
	t.Helper()
	ctx := t.Context()
	name := "quell-jit-" + itoa32(id)
	meta := metav1.ObjectMeta{Name: name, Namespace: ns,
		Labels: map[string]string{respond.LabelIncident: itoa32(id), respond.LabelLifetime: respond.LifetimeTemporary}}
	must(cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta}, metav1.CreateOptions{}))
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}}
	namespaced, cluster := respond.SplitRules(rules)
	if len(namespaced) > 0 {
		must(cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: namespaced}, metav1.CreateOptions{}))
		must(cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta, Subjects: subject,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}}, metav1.CreateOptions{}))
	}
	if len(cluster) > 0 {
		cm := meta
		cm.Namespace = ""
		must(cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: cm, Rules: cluster}, metav1.CreateOptions{}))
		must(cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: cm, Subjects: subject,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}}, metav1.CreateOptions{}))
	}
	tok := must(cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{}))
	cfg := testenv.Cluster(t).RESTConfig(devcluster.AdminUser)
	cfg.BearerToken = tok.Status.Token
	scoped := must(kubernetes.NewForConfig(cfg))

	// RBAC is served from informers: wait until the first rule is in force.
	r := rules[0]
	attrs := &authorizationv1.ResourceAttributes{Namespace: ns, Verb: r.Verbs[0], Group: r.APIGroups[0], Resource: r.Resources[0]}
	if len(r.ResourceNames) > 0 {
		attrs.Name = r.ResourceNames[0]
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		rev := must(scoped.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}}, metav1.CreateOptions{}))
		if rev.Status.Allowed {
			return scoped
		}
		if time.Now().After(deadline) {
			t.Fatalf("scoped credentials never allowed %+v", attrs)
		}
	}
}

func TestScopedCredentials(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	mkDeployment(t, cs, ns, "web", 2)
	mkDeployment(t, cs, ns, "other", 1)
	mkPod(t, cs, ns, "bare")
	mkPod(t, cs, ns, "bystander")
	webPod := waitPods(t, cs, ns, "app=web", 2)[0].Name
	waitPods(t, cs, ns, "app=other", 1)
	mkNode(t, cs, "scoped-"+ns, nil)
	mkNode(t, cs, "scoped-other-"+ns, nil)

	scaleOther := func(c kubernetes.Interface) error {
		s, err := cs.AppsV1().Deployments(ns).GetScale(t.Context(), "other", metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Spec.Replicas = 0
		_, err = c.AppsV1().Deployments(ns).UpdateScale(t.Context(), "other", s, metav1.UpdateOptions{})
		return err
	}
	patchPod := func(name string) func(c kubernetes.Interface) error {
		return func(c kubernetes.Interface) error {
			_, err := c.CoreV1().Pods(ns).Patch(t.Context(), name, types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
			return err
		}
	}
	tests := []struct {
		name      string
		action    respond.Action
		target    respond.Target
		forbidden map[string]func(c kubernetes.Interface) error // writes outside the rules
	}{
		{"suspend", &respond.Suspend{}, target(t, cs, ns, webPod), map[string]func(kubernetes.Interface) error{
			"scale another deployment": scaleOther,
			"delete a pod": func(c kubernetes.Interface) error {
				return c.CoreV1().Pods(ns).Delete(t.Context(), "bystander", metav1.DeleteOptions{})
			},
		}},
		{"suspend-delete-pods", &respond.Suspend{DeletePods: true}, target(t, cs, ns, webPod), map[string]func(kubernetes.Interface) error{
			"scale another deployment": scaleOther,
		}},
		{"terminate", &respond.Terminate{}, target(t, cs, ns, "bare"), map[string]func(kubernetes.Interface) error{
			"delete another pod": func(c kubernetes.Interface) error {
				return c.CoreV1().Pods(ns).Delete(t.Context(), "bystander", metav1.DeleteOptions{})
			},
			"scale a deployment": scaleOther,
		}},
		{"isolate", &respond.Isolate{AllowDNS: true}, target(t, cs, ns, "bystander"), map[string]func(kubernetes.Interface) error{
			"label another pod": patchPod(webPod),
		}},
		{"cordon", &respond.Cordon{Taint: true}, respond.Target{Node: "scoped-" + ns}, map[string]func(kubernetes.Interface) error{
			"cordon another node": func(c kubernetes.Interface) error {
				_, err := c.CoreV1().Nodes().Patch(t.Context(), "scoped-other-"+ns, types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{})
				return err
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := nextIncident()
			scoped := scopedClient(t, cs, ns, id, tt.action.Rules(tt.target))
			env := envFor(scoped, id)
			rec, err := tt.action.Apply(t.Context(), env, tt.target)
			if err != nil {
				t.Fatalf("apply with scoped credentials: %v", err)
			}
			if err := respond.Verify(t.Context(), env, tt.target, rec); err != nil {
				t.Fatalf("verify with scoped credentials: %v", err)
			}
			for what, write := range tt.forbidden {
				if err := write(scoped); !apierrors.IsForbidden(err) {
					t.Errorf("%s with scoped credentials: %v, want Forbidden", what, err)
				}
			}
			if r, ok := tt.action.(respond.Restorer); ok {
				if _, err := r.Restore(t.Context(), env, rec); err != nil {
					t.Errorf("restore with scoped credentials: %v", err)
				}
			}

			// Cleanup removes the credentials and proves it.
			rep, err := respond.Cleanup(t.Context(), envFor(cs, id), id)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Deleted) < 3 || len(rep.Remaining) != 0 || len(rep.Kept) != 0 {
				t.Errorf("cleanup report %+v, want the ServiceAccount, Role(s) and binding(s) deleted and nothing left", rep)
			}
			if _, err := cs.CoreV1().ServiceAccounts(ns).Get(t.Context(), "quell-jit-"+itoa32(id), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("service account after cleanup: %v", err)
			}
		})
	}
}
