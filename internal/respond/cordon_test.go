package respond_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/respond"
)

func nodeState(t *testing.T, cs kubernetes.Interface, name string) (bool, []corev1.Taint, map[string]string) {
	t.Helper()
	n := must(cs.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{}))
	return n.Spec.Unschedulable, n.Spec.Taints, n.Annotations
}

func TestCordon(t *testing.T) {
	cs := admin(t)
	tests := []struct {
		name   string
		action *respond.Cordon
		effect corev1.TaintEffect // "" when no taint is wanted
	}{
		{"plain", &respond.Cordon{}, ""},
		{"noschedule", &respond.Cordon{Taint: true}, corev1.TaintEffectNoSchedule},
		{"noexecute", &respond.Cordon{Taint: true, Effect: corev1.TaintEffectNoExecute}, corev1.TaintEffectNoExecute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := nextIncident()
			node := "cordon-" + tt.name + "-" + itoa32(id)
			mkNode(t, cs, node, nil)
			tgt := respond.Target{Node: node}
			env := envFor(cs, id)
			rec, err := tt.action.Apply(t.Context(), env, tgt)
			if err != nil {
				t.Fatal(err)
			}
			if err := respond.Verify(t.Context(), env, tgt, rec); err != nil {
				t.Fatalf("verify: %v", err)
			}
			unsched, taints, _ := nodeState(t, cs, node)
			var want []corev1.Taint
			if tt.effect != "" {
				want = []corev1.Taint{{Key: respond.TaintQuarantine, Value: itoa32(id), Effect: tt.effect}}
			}
			if diff := cmp.Diff(want, taints); !unsched || diff != "" {
				t.Errorf("unschedulable=%v, taints (-want +got):\n%s", unsched, diff)
			}
			again, err := tt.action.Apply(t.Context(), env, tgt)
			if err != nil || again.Changed {
				t.Errorf("cordon again: changed=%v err=%v", again.Changed, err)
			}
			if _, err := tt.action.Restore(t.Context(), env, rec); err != nil {
				t.Fatal(err)
			}
			unsched, taints, ann := nodeState(t, cs, node)
			if unsched || len(taints) != 0 || len(ann) != 0 {
				t.Errorf("after restore: unschedulable=%v taints=%v annotations=%v", unsched, taints, ann)
			}
			back, err := tt.action.Restore(t.Context(), env, rec)
			if err != nil || back.Changed {
				t.Errorf("restore again: changed=%v err=%v", back.Changed, err)
			}
		})
	}
}

// A node already cordoned by an administrator stays cordoned after a
// restore driven only by the node's annotation.
func TestCordonRestoreKeepsPriorCordon(t *testing.T) {
	cs := admin(t)
	id := nextIncident()
	node := "cordoned-" + itoa32(id)
	n := mkNode(t, cs, node, nil)
	n.Spec.Unschedulable = true
	must(cs.CoreV1().Nodes().Update(t.Context(), n, metav1.UpdateOptions{}))
	env := envFor(cs, id)
	a := &respond.Cordon{Taint: true}
	rec := must(a.Apply(t.Context(), env, respond.Target{Node: node}))
	if !rec.Changed {
		t.Error("adding the taint: Changed=false")
	}
	must(a.Restore(t.Context(), env, respond.Record{Action: respond.ActionCordon, Target: respond.Target{Node: node}}))
	unsched, taints, _ := nodeState(t, cs, node)
	if !unsched || len(taints) != 0 {
		t.Errorf("after restore: unschedulable=%v taints=%v; want true, none", unsched, taints)
	}
}
