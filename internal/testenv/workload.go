package testenv

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/devcluster"
)

// Namespace creates a namespace named prefix and a unique suffix,
// deleted at cleanup, and returns its name.
func Namespace(t testing.TB, cs kubernetes.Interface, prefix string) string {
	t.Helper()
	name := prefix + "-" + strconv.FormatInt(time.Now().UnixNano()%(36*36*36*36*36), 36)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// OwnClusters starts n control planes of the test's own side by side,
// stopped at cleanup (Stop is idempotent: the test may stop one first).
func OwnClusters(t testing.TB, n int) []*devcluster.Cluster {
	t.Helper()
	Binaries(t)
	cl := make([]*devcluster.Cluster, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cl {
		wg.Go(func() {
			cl[i], errs[i] = Start(t.Context(), filepath.Join(t.TempDir(), fmt.Sprint("cluster", i)), devcluster.Options{})
		})
	}
	wg.Wait()
	for _, c := range cl {
		if c != nil {
			t.Cleanup(func() { c.Stop() })
		}
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return cl
}

// WaitFor polls cond every 50ms until it holds, and fails t after timeout
// naming what it waited for.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Deployment creates a Deployment of replicas pods labelled app=NAME in
// ns and waits until the controllers have created its pods and settled
// its status; it returns the pods' names.
func Deployment(t testing.TB, cs kubernetes.Interface, ns, name string, replicas int32) []string {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/miner:1"}}},
			},
		},
	}
	ctx := t.Context()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var names []string
	WaitFor(t, 30*time.Second, "deployment "+ns+"/"+name+" to have its pods", func() bool {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || d.Status.ObservedGeneration != d.Generation || d.Status.Replicas != replicas {
			return false
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil || len(pods.Items) != int(replicas) {
			return false
		}
		names = names[:0]
		for _, p := range pods.Items {
			names = append(names, p.Name)
		}
		return true
	})
	return names
}

// GetDeployment reads a Deployment, failing t when it cannot.
func GetDeployment(t testing.TB, cs kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// LogBuffer is a bytes.Buffer safe for concurrent use: a server's log,
// written by the server and read by the test.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
