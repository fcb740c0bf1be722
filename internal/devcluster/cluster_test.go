package devcluster_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func client(t *testing.T, c *devcluster.Cluster, user string) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RESTConfig(user))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// startOwn starts a cluster of the test's own, stopped at cleanup.
func startOwn(t *testing.T, opts devcluster.Options) *devcluster.Cluster {
	t.Helper()
	testenv.Binaries(t)
	c, err := testenv.Start(t.Context(), filepath.Join(t.TempDir(), "cluster"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

func TestDeletedPodIsRecreatedByController(t *testing.T) {
	c := testenv.Cluster(t)
	cs := client(t, c, devcluster.AdminUser)
	ctx := t.Context()
	createNamespace(t, cs, "recreate")
	labels := map[string]string{"app": "web"}
	_, err := cs.AppsV1().Deployments("recreate").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := waitForPods(t, cs, "recreate", 3, "", 30*time.Second)
	victim := pods[0].Name
	if err := cs.CoreV1().Pods("recreate").Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pods = waitForPods(t, cs, "recreate", 3, victim, 5*time.Second)
	for _, p := range pods {
		if p.Name == victim {
			t.Errorf("deleted pod %s still listed", victim)
		}
	}
}

// waitForPods waits for exactly n pods in ns, none named without.
func waitForPods(t *testing.T, cs kubernetes.Interface, ns string, n int, without string, within time.Duration) []corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(within)
	var last []corev1.Pod
	for time.Now().Before(deadline) {
		list, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last = list.Items
		ok := len(last) == n
		for _, p := range last {
			if p.Name == without || p.DeletionTimestamp != nil {
				ok = false
			}
		}
		if ok {
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("after %s: %d pods in %s, want %d without %q", within, len(last), ns, n, without)
	return nil
}

func TestRBACIsEnforced(t *testing.T) {
	c := testenv.Cluster(t)
	_, err := client(t, c, "alice").CoreV1().Secrets("kube-system").List(t.Context(), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("alice listing kube-system secrets: err = %v, want Forbidden", err)
	}
	if _, err := client(t, c, devcluster.AdminUser).CoreV1().Secrets("kube-system").List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Fatalf("admin listing secrets: %v", err)
	}
}

func TestTokenRequest(t *testing.T) {
	c := testenv.Cluster(t)
	cs := client(t, c, devcluster.AdminUser)
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(t.Context(), "default",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.RESTConfig(devcluster.AdminUser)
	cfg.BearerToken = tr.Status.Token
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	review, err := sa.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := review.Status.UserInfo.Username, "system:serviceaccount:default:default"; got != want {
		t.Errorf("token authenticates as %q, want %q", got, want)
	}
}

func TestTwoClustersSideBySide(t *testing.T) {
	cl := testenv.OwnClusters(t, 2)
	if cl[0].Server == cl[1].Server || cl[0].EtcdURL == cl[1].EtcdURL {
		t.Fatalf("clusters share an address: %s %s / %s %s", cl[0].Server, cl[0].EtcdURL, cl[1].Server, cl[1].EtcdURL)
	}
	createNamespace(t, client(t, cl[0], devcluster.AdminUser), "only-in-first")
	_, err := client(t, cl[1], devcluster.AdminUser).CoreV1().Namespaces().Get(t.Context(), "only-in-first", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("second cluster sees the first one's namespace: err = %v", err)
	}

	// Stopping one leaves the other serving, and frees its ports and data.
	first := cl[0]
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, first)
	if _, err := client(t, cl[1], devcluster.AdminUser).Discovery().ServerVersion(); err != nil {
		t.Errorf("second cluster after first stopped: %v", err)
	}
}

// assertGone checks that a stopped cluster left no process, port or data.
func assertGone(t *testing.T, c *devcluster.Cluster) {
	t.Helper()
	for _, p := range c.Processes {
		if _, err := os.Stat("/proc/" + strconv.Itoa(p.PID) + "/exe"); err == nil {
			t.Errorf("%s (pid %d) still running", p.Name, p.PID)
		}
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("state dir %s still exists (err %v)", c.Dir, err)
	}
	host := c.Server[len("https://"):]
	l, err := net.Listen("tcp", host)
	if err != nil {
		t.Errorf("api server port %s not free: %v", host, err)
	} else {
		l.Close()
	}
}

func TestVersionIsPinned(t *testing.T) {
	c := testenv.Cluster(t)
	v, err := client(t, c, devcluster.AdminUser).Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != devcluster.KubernetesVersion {
		t.Errorf("server version %s, want %s", v.GitVersion, devcluster.KubernetesVersion)
	}
}

func TestAuditWebhookFires(t *testing.T) {
	type eventList struct {
		Kind  string `json:"kind"`
		Items []struct {
			Verb      string `json:"verb"`
			Stage     string `json:"stage"`
			User      struct{ Username string }
			ObjectRef struct{ Resource, Namespace, Name string }
		} `json:"items"`
	}
	got := make(chan eventList, 100)
	// The API server sends the bearer token only over TLS.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer webhook-secret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var l eventList
		if err := json.Unmarshal(body, &l); err == nil {
			got <- l
		}
	}))
	defer srv.Close()
	c := startOwn(t, devcluster.Options{AuditWebhookURL: srv.URL + "/v1/audit", AuditWebhookToken: "webhook-secret"})
	_, err := client(t, c, devcluster.AdminUser).CoreV1().Pods("default").Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "audited"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(15 * time.Second)
	for {
		select {
		case l := <-got:
			if l.Kind != "EventList" {
				t.Fatalf("webhook got kind %q, want EventList", l.Kind)
			}
			for _, e := range l.Items {
				if e.Verb == "create" && e.ObjectRef.Resource == "pods" && e.ObjectRef.Name == "audited" {
					if e.User.Username != devcluster.AdminUser || e.ObjectRef.Namespace != "default" || e.Stage != "ResponseComplete" {
						t.Errorf("audit event = %+v", e)
					}
					return
				}
			}
		case <-timeout:
			t.Fatal("no audit event for the pod creation within 15s")
		}
	}
}

func TestUpIsIdempotentAndDownLeavesNothing(t *testing.T) {
	b := testenv.Binaries(t)
	dir := filepath.Join(t.TempDir(), "up")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	first, err := devcluster.Up(ctx, devcluster.Options{Dir: dir, Binaries: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Stop() })
	again, err := devcluster.Up(ctx, devcluster.Options{Dir: dir, Binaries: b})
	if err != nil {
		t.Fatal(err)
	}
	if again.Kubeconfig != first.Kubeconfig || again.Server != first.Server || again.Processes[0].PID != first.Processes[0].PID {
		t.Errorf("second Up started anew: %s %s vs %s %s", again.Server, again.Kubeconfig, first.Server, first.Kubeconfig)
	}
	if err := devcluster.Down(dir); err != nil {
		t.Fatal(err)
	}
	assertGone(t, first)
	if err := devcluster.Down(dir); err != nil {
		t.Errorf("second Down: %v", err)
	}
}

// BenchmarkStartStop measures a cold start to ready (API server ready and
// the controller manager's default service account created) plus teardown.
func BenchmarkStartStop(b *testing.B) {
	testenv.Binaries(b)
	for b.Loop() {
		c, err := testenv.Start(b.Context(), filepath.Join(b.TempDir(), "c"), devcluster.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}
