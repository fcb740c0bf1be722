package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/daemon"
	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/testenv"
)

const token = "daemon-test-token-0123456789"

// startClusters starts n control planes of the test's own side by side,
// stopped (if the test has not) when it ends.
func startClusters(t *testing.T, n int) []*devcluster.Cluster {
	t.Helper()
	testenv.Binaries(t)
	cl := make([]*devcluster.Cluster, n)
	var wg sync.WaitGroup
	for i := range cl {
		wg.Go(func() {
			c, err := testenv.Start(t.Context(), filepath.Join(t.TempDir(), fmt.Sprint("cluster", i)), devcluster.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			cl[i] = c
		})
	}
	wg.Wait()
	for _, c := range cl {
		if c != nil {
			t.Cleanup(func() { c.Stop() })
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return cl
}

// sharedKubeconfig writes one kubeconfig reaching every cluster as its
// admin, with a context named as each cluster.
func sharedKubeconfig(t *testing.T, clusters map[string]*devcluster.Cluster) string {
	t.Helper()
	var cs, us, xs strings.Builder
	for name, c := range clusters {
		fmt.Fprintf(&cs, "- name: %s\n  cluster: {server: %q, insecure-skip-tls-verify: true}\n", name, c.Server)
		fmt.Fprintf(&us, "- name: %s-admin\n  user: {token: %q}\n", name, c.Tokens[devcluster.AdminUser])
		fmt.Fprintf(&xs, "- name: %s\n  context: {cluster: %s, user: %s-admin}\n", name, name, name)
	}
	body := "apiVersion: v1\nkind: Config\nclusters:\n" + cs.String() + "users:\n" + us.String() + "contexts:\n" + xs.String()
	return writeFile(t, "clusters.kubeconfig", body)
}

// lateCluster is an API server address that accepts connections and
// never answers, as an unreachable cluster behind a dropping firewall
// looks, until open is called; from then on it forwards connections to
// target's API server. It returns a kubeconfig for it (as target's admin).
func lateCluster(t *testing.T, target *devcluster.Cluster) (kubeconfig string, open func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		held   []net.Conn
		opened bool
	)
	upstream := strings.TrimPrefix(target.Server, "https://")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if !opened {
				held = append(held, c)
				mu.Unlock()
				continue
			}
			mu.Unlock()
			go forward(c, upstream)
		}
	}()
	open = func() {
		mu.Lock()
		defer mu.Unlock()
		opened = true
		for _, c := range held { // as a firewall rule removed: the hung attempts fail, new ones pass
			c.Close()
		}
		held = nil
	}
	t.Cleanup(func() {
		ln.Close()
		open()
	})
	return writeFile(t, "late.kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: late, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: %q}}]
contexts: [{name: late, context: {cluster: late, user: u}}]
current-context: late
`, ln.Addr(), target.Tokens[devcluster.AdminUser])), open
}

// forward copies c to and from a new connection to addr until either
// side closes.
func forward(c net.Conn, addr string) {
	defer c.Close()
	up, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer is a bytes.Buffer safe for the server and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// quell is a server run by daemon.RunServer for a test.
type quell struct {
	url  string
	logs *syncBuffer
}

// runServer loads configYAML, listening on a free port with the test's
// token, and runs the server until the test ends.
func runServer(t *testing.T, configYAML string) *quell {
	t.Helper()
	tokens := writeFile(t, "tokens", token+" tester\n")
	cfg, err := config.Load(config.Sources{File: writeFile(t, "quell.yaml", configYAML), Overrides: []config.Override{
		{Key: "server.auth_token_file", Value: tokens, Source: "test"}, {Key: "server.listen", Value: "127.0.0.1:0", Source: "test"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	q := &quell{logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(q.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	started := time.Now()
	go func() { done <- daemon.RunServer(ctx, cfg, log, func(a string) { addr <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", q.logs.String())
		}
	})
	select {
	case a := <-addr:
		q.url = "http://" + a
		t.Logf("server serving %s after %s", a, time.Since(started).Round(time.Millisecond))
	case err := <-done:
		t.Fatalf("server stopped at start: %v\n%s", err, q.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("server not serving after 30s:\n%s", q.logs.String())
	}
	return q
}

// do sends a request with the token (when auth) and decodes the answer.
func (q *quell) do(t *testing.T, method, path string, body any, auth bool) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, q.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	if out == nil {
		out = map[string]any{"text": string(data)}
	}
	return resp.StatusCode, out
}

// incidents lists the incidents of query (?cluster=a, ...).
func (q *quell) incidents(t *testing.T, query string) []incident.Incident {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", q.url+"/v1/incidents?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Incidents []incident.Incident }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list incidents ?%s: %d %v", query, resp.StatusCode, err)
	}
	return out.Incidents
}

// timeline returns an incident's timeline.
func (q *quell) timeline(t *testing.T, id int64) []incident.Entry {
	t.Helper()
	_, body := q.do(t, "GET", fmt.Sprintf("/v1/incidents/%d", id), nil, true)
	b, _ := json.Marshal(body["timeline"])
	var tl []incident.Entry
	if err := json.Unmarshal(b, &tl); err != nil {
		t.Fatal(err)
	}
	return tl
}

// minerAlert is a Falco crypto-miner alert about ns/pod.
func minerAlert(ns, pod string) map[string]any {
	return map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339Nano), "rule": "Detect crypto miners using the Stratum protocol", "priority": "Critical",
		"source": "syscall", "hostname": "node-1", "output": "Outbound connection to a Stratum mining pool (proc=xmrig pod=" + pod + ")",
		"output_fields": map[string]any{"k8s.ns.name": ns, "k8s.pod.name": pod, "proc.name": "xmrig", "fd.sip": "203.0.113.7", "fd.sport": 3333},
	}
}

// deploy creates namespace ns (if missing) and a Deployment of replicas
// there, and waits for its pods; it returns their names.
func deploy(t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32) []string {
	t.Helper()
	_, _ = cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	labels := map[string]string{"app": name}
	_, err := cs.AppsV1().Deployments(ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/miner:1"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pods []string
	waitFor(t, 30*time.Second, "the pods of "+ns+"/"+name, func() bool {
		list, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + name})
		pods = pods[:0]
		for _, p := range list.Items {
			pods = append(pods, p.Name)
		}
		return err == nil && len(pods) == int(replicas)
	})
	return pods
}

func deployment(t *testing.T, cs kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settled waits until the Deployment's controller is done with it (status
// observed and counted, no write for a second) and returns it.
func settled(t *testing.T, cs kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	var rv string
	since := time.Now()
	waitFor(t, 30*time.Second, "deployment "+ns+"/"+name+" to settle", func() bool {
		d = deployment(t, cs, ns, name)
		if d.Status.ObservedGeneration != d.Generation || d.Status.Replicas != *d.Spec.Replicas {
			rv = ""
			return false
		}
		if d.ResourceVersion != rv {
			rv, since = d.ResourceVersion, time.Now()
		}
		return time.Since(since) >= time.Second
	})
	return d
}

// metrics returns the server's /metrics text.
func (q *quell) metrics(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", q.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
