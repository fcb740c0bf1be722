package deploy_test

import (
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/respond/jit"
)

// checkJITAdmission proves the jit install's ValidatingAdmissionPolicy:
// as quell's ServiceAccount, a whole just-in-time lease (Acquire, then
// Release) still works, but a token for another ServiceAccount, creating
// or deleting objects not named jit.NamePrefix*, and binding a role of
// another name are refused.
func checkJITAdmission(t *testing.T, cs kubernetes.Interface, in install) {
	ns := in.namespace + "-target"
	createNamespace(t, cs, ns)
	cfg := tokenConfig(t, cs, in.namespace, in.fullname)
	quell, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	tokenFor := func(sa string) error {
		_, err := quell.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		return err
	}
	// The policy is in force once the API server has loaded it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := tokenFor("default")
		if err != nil && strings.Contains(err.Error(), "just-in-time objects only") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token for %s/default as quell: %v, want refused by the admission policy", ns, err)
		}
	}

	is := jit.NewIssuer(quell, cfg, jit.Options{HomeNamespace: in.namespace})
	tg := respond.Target{Namespace: ns, Pod: "p"}
	lease, err := is.Acquire(ctx, 1, ns, (&respond.Terminate{}).Rules(tg), 0)
	if err != nil {
		t.Fatalf("acquire under the admission policy: %v", err)
	}
	if rep, err := lease.Release(ctx); err != nil || len(rep.Remaining) > 0 {
		t.Fatalf("release under the admission policy: %+v, %v", rep, err)
	}

	// A role quell holds, so that RBAC lets it bind the role and only the
	// policy refuses.
	held := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: jit.NamePrefix + "r"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	refused := map[string]error{
		"create ServiceAccount evil": func() error {
			_, err := quell.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "evil"}}, metav1.CreateOptions{})
			return err
		}(),
		"delete ServiceAccount default": quell.CoreV1().ServiceAccounts(ns).Delete(ctx, "default", metav1.DeleteOptions{}),
		"bind the standing ClusterRole": func() error {
			_, err := quell.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: jit.NamePrefix + "x"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: in.fullname},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: jit.NamePrefix + "y", Namespace: ns}}}, metav1.CreateOptions{})
			return err
		}(),
		"bind to another subject": func() error {
			_, err := quell.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: jit.NamePrefix + "z"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: held.Name},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: ns}}}, metav1.CreateOptions{})
			return err
		}(),
	}
	for what, err := range refused {
		if err == nil || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
			t.Errorf("%s as quell: %v, want refused by the admission policy", what, err)
		}
	}
}
