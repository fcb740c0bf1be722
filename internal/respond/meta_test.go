package respond_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"quell.dev/quell/internal/respond"
)

func TestLabelAnnotate(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	mkPod(t, cs, ns, "web", func(p *corev1.Pod) {
		p.Labels["tier"] = "front"
		p.Annotations = map[string]string{"note": "keep"}
	})
	mkDeployment(t, cs, ns, "api", 1)
	apiPod := waitPods(t, cs, ns, "app=api", 1)[0].Name

	type meta struct{ Labels, Annotations map[string]string }
	read := func(t *testing.T, ref respond.ObjectRef) meta {
		t.Helper()
		if ref.Kind == "Pod" {
			p := must(cs.CoreV1().Pods(ns).Get(t.Context(), ref.Name, metav1.GetOptions{}))
			return meta{p.Labels, p.Annotations}
		}
		d := must(cs.AppsV1().Deployments(ns).Get(t.Context(), ref.Name, metav1.GetOptions{}))
		return meta{d.Labels, d.Annotations}
	}
	tests := []struct {
		name   string
		pod    string
		action respond.Restorer
		want   func(id string) meta // after apply, restore annotation excluded
	}{
		{"label-pod", "web", &respond.Label{Labels: map[string]string{"tier": "quarantined", "new": "1"}}, func(id string) meta {
			return meta{map[string]string{"app": "web", "tier": "quarantined", "new": "1", respond.LabelIncident: id}, map[string]string{"note": "keep"}}
		}},
		{"annotate-pod", "web", &respond.Annotate{Annotations: map[string]string{"note": "suspicious"}}, func(id string) meta {
			return meta{map[string]string{"app": "web", "tier": "front", respond.LabelIncident: id}, map[string]string{"note": "suspicious"}}
		}},
		{"label-workload", apiPod, &respond.Label{Labels: map[string]string{"quell.dev/flagged": "true"}, Workload: true}, func(id string) meta {
			return meta{map[string]string{"quell.dev/flagged": "true", respond.LabelIncident: id}, nil}
		}},
		{"annotate-workload", apiPod, &respond.Annotate{Annotations: map[string]string{"quell.dev/reason": "crypto-mining"}, Workload: true}, func(id string) meta {
			return meta{map[string]string{respond.LabelIncident: id}, map[string]string{"quell.dev/reason": "crypto-mining"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := nextIncident()
			env := envFor(cs, id)
			act := tt.action.(respond.Action)
			tgt := target(t, cs, ns, tt.pod)
			rec, err := act.Apply(t.Context(), env, tgt)
			if err != nil {
				t.Fatal(err)
			}
			before := read(t, rec.Object)
			if err := respond.Verify(t.Context(), env, tgt, rec); err != nil {
				t.Fatalf("verify: %v", err)
			}
			got := before
			delete(got.Annotations, "quell.dev/restore-"+act.Name())
			delete(got.Annotations, "deployment.kubernetes.io/revision") // the controller's own
			want := tt.want(itoa32(id))
			if len(got.Annotations) == 0 {
				got.Annotations = nil
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after apply (-want +got):\n%s", diff)
			}
			if again := must(act.Apply(t.Context(), env, tgt)); again.Changed {
				t.Error("apply again: Changed=true")
			}
			if _, err := tt.action.Restore(t.Context(), env, rec); err != nil {
				t.Fatal(err)
			}
			after := read(t, rec.Object)
			delete(after.Annotations, "deployment.kubernetes.io/revision")
			for k := range after.Labels {
				if k == respond.LabelIncident || k == "new" || k == "quell.dev/flagged" {
					t.Errorf("label %s left after restore", k)
				}
			}
			for k := range after.Annotations {
				if k == "quell.dev/restore-"+act.Name() || k == "quell.dev/reason" {
					t.Errorf("annotation %s left after restore", k)
				}
			}
			if rec.Object.Kind == "Pod" {
				want := meta{map[string]string{"app": "web", "tier": "front"}, map[string]string{"note": "keep"}}
				if diff := cmp.Diff(want, after); diff != "" {
					t.Errorf("pod after restore (-want +got):\n%s", diff)
				}
			}
			if back := must(tt.action.Restore(t.Context(), env, rec)); back.Changed {
				t.Error("restore again: Changed=true")
			}
		})
	}
}
