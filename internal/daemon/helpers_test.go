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

// quell is a server run by daemon.RunServer for a test.
type quell struct {
	url  string
	logs *testenv.LogBuffer
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
	q := &quell{logs: &testenv.LogBuffer{}}
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

// request sends a request with the token (when auth) and returns the
// answer's status and body.
func (q *quell) request(t *testing.T, method, path string, body []byte, auth bool) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, q.url+path, bytes.NewReader(body))
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
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// do sends body as JSON (none when nil) and decodes the answer.
func (q *quell) do(t *testing.T, method, path string, body any, auth bool) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	code, data := q.request(t, method, path, b, auth)
	var out map[string]any
	if json.Unmarshal(data, &out) != nil {
		out = map[string]any{"text": string(data)}
	}
	return code, out
}

// incidents lists the incidents of query (cluster=a, ...).
func (q *quell) incidents(t *testing.T, query string) []incident.Incident {
	t.Helper()
	code, data := q.request(t, "GET", "/v1/incidents?"+query, nil, true)
	var out struct{ Incidents []incident.Incident }
	if err := json.Unmarshal(data, &out); err != nil || code != http.StatusOK {
		t.Fatalf("list incidents ?%s: %d %v", query, code, err)
	}
	return out.Incidents
}

// metrics returns the server's /metrics text.
func (q *quell) metrics(t *testing.T) string {
	t.Helper()
	_, data := q.request(t, "GET", "/metrics", nil, true)
	return string(data)
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
// there, and returns its pods' names once they exist.
func deploy(t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32) []string {
	t.Helper()
	_, _ = cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	return testenv.Deployment(t, cs, ns, name, replicas)
}

// settled waits until the Deployment's controller is done with it (status
// observed and counted, no write for a second) and returns it.
func settled(t *testing.T, cs kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	var rv string
	since := time.Now()
	testenv.WaitFor(t, 30*time.Second, "deployment "+ns+"/"+name+" to settle", func() bool {
		d = testenv.GetDeployment(t, cs, ns, name)
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
