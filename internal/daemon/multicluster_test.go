package daemon_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestOneServerManyClusters runs one server, in enforce mode, for two
// local control planes a and b (one kubeconfig, a context each) and c, an
// address that does not answer (until the end, when it leads to b's API
// server). On PostgreSQL and on SQLite: the server serves at once, a
// crypto-miner alert for a suspends only a's Deployment, b's namesake
// untouched, and the other way round; the incident list filters by
// cluster. On SQLite also: a playbook matching clusters [b] takes b's
// alerts only; then a's control plane stops, and b's alerts are still
// contained, a's still recorded (saying why nothing is done), the server
// healthy and a shown down; last, an alert for c waits while c does not
// answer and is contained once it does.
func TestOneServerManyClusters(t *testing.T) {
	cl := testenv.OwnClusters(t, 2)
	kc := sharedKubeconfig(t, map[string]*devcluster.Cluster{"a": cl[0], "b": cl[1]})
	cs := map[string]kubernetes.Interface{}
	for i, name := range []string{"a", "b"} {
		c, err := cl[i].Client()
		if err != nil {
			t.Fatal(err)
		}
		cs[name] = c
	}
	late, open := lateCluster(t, cl[1])
	playbooks := writeFile(t, "playbooks.yaml", `playbooks:
  - name: observe-in-b
    match: {clusters: [b], rules: ["Terminal shell in container"]}
    mode: observe
    steps: [validate, enrich, decide]
`)
	configFor := func(store string) string {
		return fmt.Sprintf(`server:
  store: %s
  mode: enforce
response:
  playbooks: [%s]
kubernetes:
  clusters:
    - {name: a, kubeconfig: %s, context: a}
    - {name: b, kubeconfig: %s, context: b}
    - {name: c, kubeconfig: %s}
`, store, playbooks, kc, kc, late)
	}
	allUp := map[string]string{"a": "up", "b": "up", "c": "down"}

	t.Run("postgres", func(t *testing.T) {
		q := runServer(t, configFor(testenv.Postgres(t)))
		waitClusters(t, q, allUp)
		routeMiners(t, q, cs, "pg-shop")
	})
	t.Run("sqlite", func(t *testing.T) {
		q := runServer(t, configFor("sqlite://"+filepath.Join(t.TempDir(), "q.db")))
		waitClusters(t, q, allUp)
		if code, resp := q.do(t, "POST", "/v1/falco?cluster=nope", minerAlert("shop", "x"), true); code != http.StatusBadRequest ||
			!strings.Contains(fmt.Sprint(resp), "known: a, b, c") {
			t.Errorf("unknown cluster = %d %v, want 400 naming the clusters", code, resp)
		}
		routeMiners(t, q, cs, "shop")
		playbookPerCluster(t, q, cs)
		stopOne(t, q, cl[0], cs["b"])
		lateArrival(t, q, cs["b"], open)
	})
}

// routeMiners checks that a miner alert for a cluster suspends that
// cluster's Deployment only, for a and then b.
func routeMiners(t *testing.T, q *quell, cs map[string]kubernetes.Interface, ns string) {
	pods := map[string][]string{}
	for name, c := range cs {
		pods[name] = deploy(t, c, ns, "miner", 2)
	}
	for _, c := range []struct{ act, other string }{{"a", "b"}, {"b", "a"}} {
		before := settled(t, cs[c.other], ns, "miner")
		if code, resp := q.do(t, "POST", "/v1/falco?cluster="+c.act, minerAlert(ns, pods[c.act][0]), true); code != http.StatusAccepted {
			t.Fatalf("alert for %s = %d %v", c.act, code, resp)
		}
		waitState(t, q, "cluster="+c.act+"&namespace="+ns, incident.StateContained)
		if d := testenv.GetDeployment(t, cs[c.act], ns, "miner"); *d.Spec.Replicas != 0 {
			t.Errorf("cluster %s's Deployment has %d replicas after its alert, want 0", c.act, *d.Spec.Replicas)
		}
		d := testenv.GetDeployment(t, cs[c.other], ns, "miner")
		if d.ResourceVersion != before.ResourceVersion || *d.Spec.Replicas != *before.Spec.Replicas {
			t.Errorf("cluster %s's Deployment changed on %s's alert: resourceVersion %s -> %s, replicas %d -> %d",
				c.other, c.act, before.ResourceVersion, d.ResourceVersion, *before.Spec.Replicas, *d.Spec.Replicas)
		}
	}
	for _, name := range []string{"a", "b"} {
		list := q.incidents(t, "cluster="+name+"&namespace="+ns)
		if len(list) != 1 || list[0].Target.Cluster != name {
			t.Errorf("?cluster=%s lists %+v, want its one incident", name, list)
		}
	}
}

// playbookPerCluster sends the same alert to a and b: the playbook
// matching clusters [b] decides b's, the built-in one a's.
func playbookPerCluster(t *testing.T, q *quell, cs map[string]kubernetes.Interface) {
	const ns = "shells"
	for name, c := range cs {
		pod := deploy(t, c, ns, "shell", 1)[0]
		alert := map[string]any{"rule": "Terminal shell in container", "priority": "Notice", "source": "syscall", "output": "a shell in " + pod,
			"output_fields": map[string]any{"k8s.ns.name": ns, "k8s.pod.name": pod, "proc.name": "bash"}}
		if code, resp := q.do(t, "POST", "/?cluster="+name, alert, true); code != http.StatusAccepted {
			t.Fatalf("shell alert for %s = %d %v", name, code, resp)
		}
	}
	got := map[string]string{}
	testenv.WaitFor(t, 30*time.Second, "both clusters' decisions", func() bool {
		for _, name := range []string{"a", "b"} {
			for _, inc := range q.incidents(t, "cluster="+name+"&namespace="+ns) {
				for _, e := range q.timeline(t, inc.ID) {
					var d struct{ Playbook string }
					if e.Type == incident.EntryDecision && json.Unmarshal(e.Data, &d) == nil {
						got[name] = d.Playbook
					}
				}
			}
		}
		return len(got) == 2
	})
	if diff := cmp.Diff(map[string]string{"a": "built-in", "b": "observe-in-b"}, got); diff != "" {
		t.Errorf("deciding playbook by cluster (-want +got):\n%s", diff)
	}
}

// stopOne stops cluster a's control plane: the server stays healthy and
// shows a down, contains b's next miner, and records a's alert saying why
// nothing is done.
func stopOne(t *testing.T, q *quell, a *devcluster.Cluster, csB kubernetes.Interface) {
	begun := time.Now()
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitClusters(t, q, map[string]string{"a": "down", "b": "up", "c": "down"})
	t.Logf("a's control plane stopped in %s; a shown down %s later", stopped.Sub(begun).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
	if code, _ := q.do(t, "GET", "/healthz", nil, false); code != http.StatusOK {
		t.Errorf("healthz = %d with a down", code)
	}
	metrics := q.metrics(t)
	for _, want := range []string{`quell_cluster_up{cluster="a"} 0`, `quell_cluster_up{cluster="b"} 1`, `quell_cluster_up{cluster="c"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	pods := deploy(t, csB, "after", "miner", 2)
	posted := time.Now()
	if code, resp := q.do(t, "POST", "/v1/falco?cluster=b", minerAlert("after", pods[0]), true); code != http.StatusAccepted {
		t.Fatalf("alert for b with a down = %d %v", code, resp)
	}
	stored := time.Since(posted)
	waitState(t, q, "cluster=b&namespace=after", incident.StateContained)
	t.Logf("with a down, b's alert stored in %s and contained %s after it was posted", stored.Round(time.Microsecond), time.Since(posted).Round(time.Millisecond))
	if d := testenv.GetDeployment(t, csB, "after", "miner"); *d.Spec.Replicas != 0 {
		t.Errorf("b's Deployment has %d replicas, want 0", *d.Spec.Replicas)
	}

	posted = time.Now()
	if code, resp := q.do(t, "POST", "/v1/falco?cluster=a", minerAlert("after", "xmrig-7f9c"), true); code != http.StatusAccepted {
		t.Fatalf("alert for a while a is down = %d %v", code, resp)
	}
	t.Logf("a's alert stored in %s while a is down", time.Since(posted).Round(time.Microsecond))
	inc := waitDecision(t, q, "cluster=a&namespace=after", "cluster a is unreachable")
	if inc.State != incident.StateOpen {
		t.Errorf("a's incident is %s, want open (resumed when a answers)", inc.State)
	}
	if n := strings.Count(q.logs.String(), `msg="cluster unreachable`); n != 2 {
		t.Errorf("%d cluster unreachable log lines, want 2 (c at start, a once)", n)
	}
}

// lateArrival alerts for c while it does not answer: the incident stays
// open saying why; once c answers (it leads to b's API server), the
// response resumes and contains the miner.
func lateArrival(t *testing.T, q *quell, csB kubernetes.Interface, open func()) {
	pods := deploy(t, csB, "late", "miner", 2)
	if code, resp := q.do(t, "POST", "/v1/falco?cluster=c", minerAlert("late", pods[0]), true); code != http.StatusAccepted {
		t.Fatalf("alert for c = %d %v", code, resp)
	}
	if inc := waitDecision(t, q, "cluster=c&namespace=late", "cluster c is unreachable"); inc.State != incident.StateOpen {
		t.Errorf("c's incident is %s while c does not answer, want open", inc.State)
	}
	if d := testenv.GetDeployment(t, csB, "late", "miner"); *d.Spec.Replicas != 2 {
		t.Errorf("the Deployment has %d replicas before c answers, want 2", *d.Spec.Replicas)
	}
	opened := time.Now()
	open()
	waitClusters(t, q, map[string]string{"a": "down", "b": "up", "c": "up"})
	t.Logf("c shown up %s after it answers", time.Since(opened).Round(time.Millisecond))
	waitState(t, q, "cluster=c&namespace=late", incident.StateContained)
	t.Logf("c's waiting incident contained %s after c answers", time.Since(opened).Round(time.Millisecond))
	if d := testenv.GetDeployment(t, csB, "late", "miner"); *d.Spec.Replicas != 0 {
		t.Errorf("the Deployment has %d replicas once c answers, want 0", *d.Spec.Replicas)
	}
}

// waitDecision waits until the one incident of query has a decision
// containing text, and returns it.
func waitDecision(t *testing.T, q *quell, query, text string) incident.Incident {
	t.Helper()
	var inc incident.Incident
	testenv.WaitFor(t, 30*time.Second, "a decision "+text+" in ?"+query, func() bool {
		list := q.incidents(t, query)
		if len(list) != 1 {
			return false
		}
		inc = list[0]
		for _, e := range q.timeline(t, inc.ID) {
			if e.Type == incident.EntryDecision && strings.Contains(e.Summary, text) {
				return true
			}
		}
		return false
	})
	return inc
}

// waitClusters waits until /readyz shows the clusters' states.
func waitClusters(t *testing.T, q *quell, want map[string]string) {
	t.Helper()
	var got map[string]string
	testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("/readyz to show %v", want), func() bool {
		code, body := q.do(t, "GET", "/readyz", nil, false)
		states, _ := body["clusters"].(map[string]any)
		got = map[string]string{}
		for k, v := range states {
			got[k] = fmt.Sprint(v)
		}
		return code == http.StatusOK && maps.Equal(got, want)
	})
}

// waitState waits until the one incident of query is in state.
func waitState(t *testing.T, q *quell, query string, state incident.State) incident.Incident {
	t.Helper()
	var last []incident.Incident
	deadline := time.Now().Add(45 * time.Second)
	for {
		last = q.incidents(t, query)
		if len(last) == 1 && last[0].State == state {
			return last[0]
		}
		if time.Now().After(deadline) {
			var tl []incident.Entry
			if len(last) > 0 {
				tl = q.timeline(t, last[0].ID)
			}
			t.Fatalf("?%s: %+v, want one incident %s; timeline %+v", query, last, state, tl)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
