package respond_test

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/respond/jit"
	"quell.dev/quell/internal/testenv"
)

// scopedClient acquires just-in-time credentials for incident id granting
// exactly rules in ns (the ServiceAccount, Role(s) and binding(s) are
// labelled as temporary objects of the incident) and returns the lease's
// client, which acts with a short-lived token alone.
func scopedClient(t *testing.T, cs kubernetes.Interface, ns string, id int64, rules []rbacv1.PolicyRule) kubernetes.Interface {
	t.Helper()
	cfg := testenv.Cluster(t).RESTConfig(devcluster.AdminUser)
	lease, err := jit.NewIssuer(cs, cfg, jit.Options{HomeNamespace: ns}).Acquire(t.Context(), id, ns, rules, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if rep, err := lease.Release(context.Background()); err != nil || len(rep.Remaining) != 0 {
			t.Errorf("release credentials: %+v, %v", rep, err)
		}
	})
	return lease.Client()
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
			sas, err := cs.CoreV1().ServiceAccounts(ns).List(t.Context(), metav1.ListOptions{LabelSelector: respond.LabelIncident + "=" + itoa32(id)})
			if err != nil || len(sas.Items) != 0 {
				t.Errorf("service accounts after cleanup: %v, %v", sas, err)
			}
		})
	}
}
