package kubecache_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/kubecache"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestNewRejectsUnknownKinds(t *testing.T) {
	_, err := kubecache.New(fake.NewClientset(), "Pod", "Secret", "Widget")
	if err == nil || !strings.Contains(err.Error(), "Secret, Widget cannot be watched") {
		t.Fatalf("New with unknown kinds: %v", err)
	}
}

func TestRules(t *testing.T) {
	got := kubecache.Rules("Pod", "Deployment", "ClusterRole")
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Verbs: []string{"list", "watch"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Rules (-want +got):\n%s", diff)
	}
}

// TestCache watches a real API server: objects appear after they are
// created, without managed fields or kubectl's last-applied copy, are
// listed per namespace in name order, and disappear when deleted; kinds
// not watched miss, and nothing answers before Start.
func TestCache(t *testing.T) {
	c := testenv.Cluster(t)
	cs, err := kubernetes.NewForConfig(c.RESTConfig(devcluster.AdminUser))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	unstarted, err := kubecache.New(cs, "Pod")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := unstarted.Get("Namespace", "", "default"); ok {
		t.Error("an unstarted cache answered")
	}
	objs := testenv.Objects(t, cs, "Pod", "Namespace")
	if _, ok := objs.Get("Namespace", "", "default"); !ok {
		t.Error("namespace default not cached after the initial list")
	}
	for _, ns := range []string{"cache-a", "cache-b"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(ns, name string) {
		t.Helper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "x"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("cache-a", "zeta")
	mk("cache-a", "alpha")
	mk("cache-b", "other")
	pod := waitFor(t, func() (metav1.Object, bool) { return objs.Get("Pod", "cache-a", "zeta") })
	if len(pod.GetManagedFields()) != 0 {
		t.Error("managed fields kept")
	}
	if diff := cmp.Diff(map[string]string{"team": "x"}, pod.GetAnnotations()); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	waitFor(t, func() (metav1.Object, bool) { return objs.Get("Pod", "cache-a", "alpha") })
	waitFor(t, func() (metav1.Object, bool) { return objs.Get("Pod", "cache-b", "other") })
	list, ok := objs.List("Pod", "cache-a")
	if !ok {
		t.Fatal("List of a watched kind missed")
	}
	var names []string
	for _, o := range list {
		names = append(names, o.GetNamespace()+"/"+o.GetName())
	}
	if diff := cmp.Diff([]string{"cache-a/alpha", "cache-a/zeta"}, names); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if _, ok := objs.Get("Deployment", "cache-a", "zeta"); ok {
		t.Error("a kind not watched answered")
	}
	if _, ok := objs.List("Deployment", ""); ok {
		t.Error("List of a kind not watched answered")
	}
	if err := cs.CoreV1().Pods("cache-a").Delete(ctx, "zeta", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ok := objs.Get("Pod", "cache-a", "zeta"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deleted pod still cached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitFor(t *testing.T, get func() (metav1.Object, bool)) metav1.Object {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if o, ok := get(); ok {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatal("object never cached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
