package respond_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/respond"
)

// versions maps every object an action could touch to its resourceVersion.
func versions(t *testing.T, cs kubernetes.Interface, ns, node string) map[string]string {
	t.Helper()
	ctx, out := t.Context(), map[string]string{}
	for _, d := range must(cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})).Items {
		out["deployment/"+d.Name] = d.ResourceVersion
	}
	for _, p := range must(cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})).Items {
		out["pod/"+p.Name] = p.ResourceVersion
	}
	for _, np := range must(cs.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})).Items {
		out["networkpolicy/"+np.Name] = np.ResourceVersion
	}
	out["node/"+node] = must(cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})).ResourceVersion
	return out
}

func TestDryRunChangesNothing(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	id := nextIncident()
	node := "dryrun-" + itoa32(id)
	mkNode(t, cs, node, nil)
	mkDeployment(t, cs, ns, "web", 2)
	mkPod(t, cs, ns, "bare")
	webPod := waitPods(t, cs, ns, "app=web", 2)[0].Name
	// Let the controllers finish writing status before the snapshot.
	deadline := time.Now().Add(20 * time.Second)
	for {
		d := must(cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{}))
		if d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == 2 && d.Status.UnavailableReplicas == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment status did not settle: %+v", d.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)

	env := envFor(cs, id)
	env.DryRun = true
	tests := []struct {
		name   string
		action respond.Action
		target respond.Target
	}{
		{"suspend", &respond.Suspend{}, target(t, cs, ns, webPod)},
		{"terminate", &respond.Terminate{}, target(t, cs, ns, "bare")},
		{"terminate-workload-pod", &respond.Terminate{}, target(t, cs, ns, webPod)},
		{"isolate", &respond.Isolate{AllowDNS: true}, target(t, cs, ns, "bare")},
		{"label", &respond.Label{Labels: map[string]string{"x": "y"}}, target(t, cs, ns, "bare")},
		{"annotate-workload", &respond.Annotate{Annotations: map[string]string{"x": "y"}, Workload: true}, target(t, cs, ns, webPod)},
		{"cordon", &respond.Cordon{Taint: true}, respond.Target{Node: node}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := versions(t, cs, ns, node)
			rec, err := tt.action.Apply(t.Context(), env, tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.DryRun || !rec.Changed {
				t.Errorf("record: dry_run=%v changed=%v, want true, true (would change)", rec.DryRun, rec.Changed)
			}
			if r, ok := tt.action.(respond.Restorer); ok {
				if _, err := r.Restore(t.Context(), env, rec); err != nil {
					t.Errorf("dry-run restore: %v", err)
				}
			}
			if err := respond.Verify(t.Context(), env, tt.target, rec); !errors.Is(err, respond.ErrDryRun) {
				t.Errorf("verify of a dry-run record: %v, want ErrDryRun", err)
			}
			time.Sleep(200 * time.Millisecond) // a controller reacting to a real write would show by now
			if diff := cmp.Diff(before, versions(t, cs, ns, node)); diff != "" {
				t.Errorf("resourceVersions changed (-before +after):\n%s", diff)
			}
		})
	}
}
