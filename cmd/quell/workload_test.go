package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/testenv"
)

// writeToken writes a token file naming the token's holder "cli".
func writeToken(t *testing.T, dir, token string) string {
	t.Helper()
	path := filepath.Join(dir, "tokens")
	if err := os.WriteFile(path, []byte(token+" cli\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newDeployment creates a Deployment and waits until the controllers have
// created its pods and settled its status; it returns one pod's name.
func newDeployment(t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32) string {
	t.Helper()
	return testenv.Deployment(t, cs, ns, name, replicas)[0]
}

// deployment reads a Deployment.
func deployment(t *testing.T, cs kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	return testenv.GetDeployment(t, cs, ns, name)
}

// waitFor polls cond until it holds or fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, timeout, what, cond)
}

// waitPods waits until exactly n live pods carry app=name.
func waitPods(t *testing.T, cs kubernetes.Interface, ns, name string, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d pods of %s/%s", n, ns, name), func() bool {
		pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false
		}
		live := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				live++
			}
		}
		return live == n
	})
}
