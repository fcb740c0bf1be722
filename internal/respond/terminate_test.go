package respond_test

import (
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/respond"
)

func TestTerminateBarePod(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	p := mkPod(t, cs, ns, "bare")
	tgt := target(t, cs, ns, p.Name)
	env := envFor(cs, nextIncident())
	a := &respond.Terminate{}
	rec, err := a.Apply(t.Context(), env, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Changed || rec.Reversible || rec.Object.UID != string(p.UID) {
		t.Errorf("record: changed=%v reversible=%v object=%v", rec.Changed, rec.Reversible, rec.Object)
	}
	if err := respond.Verify(t.Context(), env, tgt, rec); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if _, err := cs.CoreV1().Pods(ns).Get(t.Context(), p.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("bare pod after terminate: %v", err)
	}
	again, err := a.Apply(t.Context(), env, tgt)
	if err != nil || again.Changed {
		t.Errorf("terminate again: changed=%v err=%v, want false, nil", again.Changed, err)
	}

	// A bare pod of the same name coming back is not contained, and the
	// stale target never deletes it.
	p2 := mkPod(t, cs, ns, "bare")
	err = respond.Verify(t.Context(), env, tgt, rec)
	if !errors.Is(err, respond.ErrNotContained) {
		t.Errorf("verify with a recreated bare pod: %v, want ErrNotContained", err)
	}
	stale, err := a.Apply(t.Context(), env, tgt)
	if err != nil || stale.Changed {
		t.Errorf("terminate with stale UID: changed=%v err=%v", stale.Changed, err)
	}
	if got, err := cs.CoreV1().Pods(ns).Get(t.Context(), "bare", metav1.GetOptions{}); err != nil || got.UID != p2.UID {
		t.Errorf("new pod of the same name was deleted: %v", err)
	}
}

func TestTerminateWorkloadPod(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	mkDeployment(t, cs, ns, "web", 2)
	before := waitPods(t, cs, ns, "app=web", 2)
	tgt := target(t, cs, ns, before[0].Name)
	env := envFor(cs, nextIncident())
	rec, err := (&respond.Terminate{}).Apply(t.Context(), env, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if err := respond.Verify(t.Context(), env, tgt, rec); err != nil {
		t.Fatalf("verify: %v", err)
	}
	after := waitPods(t, cs, ns, "app=web", 2) // the ReplicaSet replaces it
	for _, p := range after {
		if p.UID == before[0].UID {
			t.Errorf("terminated pod %s still there", p.Name)
		}
	}
}

// A StatefulSet recreates its pod under the same name: Verify accepts the
// replacement for a controller's pod.
func TestTerminateStatefulSetPod(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	must(cs.AppsV1().StatefulSets(ns).Create(t.Context(), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labelsFor("db")},
			Template: podTemplate("db")},
	}, metav1.CreateOptions{}))
	before := waitPods(t, cs, ns, "app=db", 1)
	tgt := target(t, cs, ns, before[0].Name)
	env := envFor(cs, nextIncident())
	rec, err := (&respond.Terminate{}).Apply(t.Context(), env, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if err := respond.Verify(t.Context(), env, tgt, rec); err != nil {
		t.Fatalf("verify: %v", err)
	}
	after := waitPods(t, cs, ns, "app=db", 1)
	if after[0].Name != before[0].Name || after[0].UID == before[0].UID {
		t.Fatalf("replacement %s/%s, want same name as %s and a new uid", after[0].Name, after[0].UID, before[0].Name)
	}
	if err := respond.Verify(t.Context(), env, tgt, rec); err != nil {
		t.Errorf("verify with the same-name replacement present: %v", err)
	}
}
