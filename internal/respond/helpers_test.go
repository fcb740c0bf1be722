package respond_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// incidents hands out distinct incident ids, so that tests sharing the
// control plane never see each other's labelled objects.
var incidents atomic.Int64

func init() { incidents.Store(time.Now().Unix() % 100000 * 1000) }

func nextIncident() int64 { return incidents.Add(1) }

// admin returns an admin clientset for the shared control plane.
func admin(t testing.TB) kubernetes.Interface {
	t.Helper()
	c := testenv.Cluster(t)
	cs, err := kubernetes.NewForConfig(c.RESTConfig(devcluster.AdminUser))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// namespace creates a namespace named after the test.
func namespace(t testing.TB, cs kubernetes.Interface) string {
	t.Helper()
	name := strings.ToLower(t.Name())
	name = strings.NewReplacer("/", "-", "_", "-").Replace(name)
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("%s-%d", strings.Trim(name, "-"), nextIncident()%100000)
	_, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func envFor(cs kubernetes.Interface, incident int64) respond.Env {
	return respond.Env{Client: cs, Incident: incident, FieldManager: "quell", GracePeriod: ptr.To[int64](0)}
}

func labelsFor(app string) map[string]string { return map[string]string{"app": app} }

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labelsFor(app)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func mkDeployment(t testing.TB, cs kubernetes.Interface, ns, name string, replicas int32, mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labelsFor(name)},
			Template: podTemplate(name)},
	}
	for _, m := range mutate {
		m(d)
	}
	d, err := cs.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mkPod(t testing.TB, cs kubernetes.Interface, ns, name string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labelsFor(name)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	for _, m := range mutate {
		m(p)
	}
	p, err := cs.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mkNode creates a node with labels (and kubernetes.io/hostname). The
// API server taints a new node not-ready; with no kubelet to clear it, the
// taint is removed here so the node behaves as a ready one.
func mkNode(t testing.TB, cs kubernetes.Interface, name string, labels map[string]string) *corev1.Node {
	t.Helper()
	l := map[string]string{"kubernetes.io/hostname": name}
	maps.Copy(l, labels)
	n, err := cs.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	n.Spec.Taints = nil
	if n, err = cs.CoreV1().Nodes().Update(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return n
}

// pods lists the live (not terminating) pods matching selector.
func pods(t testing.TB, cs kubernetes.Interface, ns, selector string) []corev1.Pod {
	t.Helper()
	l, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// waitPods waits until exactly n live pods match selector.
func waitPods(t testing.TB, cs kubernetes.Interface, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := pods(t, cs, ns, selector)
		if len(got) == n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods %s/%s: have %d, want %d", ns, selector, len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// target resolves pod into an action target.
func target(t testing.TB, cs kubernetes.Interface, ns, pod string) respond.Target {
	t.Helper()
	chain, err := owner.NewResolver(cs, nil).Resolve(t.Context(), ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	return respond.Target{Namespace: ns, Pod: pod, Chain: chain}
}

var createOpts = metav1.CreateOptions{}

// mkPodSpec is a bare pod named name labelled app=app.
func mkPodSpec(name, app string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labelsFor(app)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
}
