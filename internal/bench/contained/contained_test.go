package contained_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/bench/contained"
	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/testenv"
)

func pod(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "w"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func del(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	if err := cs.CoreV1().Pods(ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestWatch: Wait returns only once every pod of the selector is gone,
// one created after Start included, and not before.
func TestWatch(t *testing.T) {
	c := testenv.Cluster(t)
	cs, err := kubernetes.NewForConfig(c.RESTConfig(devcluster.AdminUser))
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t, cs, "contained")
	if _, err := contained.Start(t.Context(), cs, ns, "app=w"); err == nil || !strings.Contains(err.Error(), "no pod matches") {
		t.Fatalf("Start with no pod: err %v, want no pod matches", err)
	}
	pod(t, cs, ns, "a")
	pod(t, cs, ns, "b")
	w, err := contained.Start(t.Context(), cs, ns, "app=w")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	pod(t, cs, ns, "replacement")
	del(t, cs, ns, "a")
	del(t, cs, ns, "b")
	// "replacement" remains: Wait must not return.
	if _, err := w.Wait(t.Context(), 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "1 remain") {
		t.Fatalf("Wait with a pod left: err %v, want 1 remain", err)
	}
	before := time.Now()
	del(t, cs, ns, "replacement")
	at, err := w.Wait(t.Context(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if at.Before(before) {
		t.Errorf("Wait saw the last pod go at %v, before it was deleted at %v", at, before)
	}

	// A field selector follows one pod.
	pod(t, cs, ns, "one")
	w, err = contained.Start(context.Background(), cs, ns, "metadata.name=one")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	del(t, cs, ns, "one")
	if _, err := w.Wait(t.Context(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
}
