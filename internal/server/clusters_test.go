package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/server"
)

// recorder is a cluster's response engine and audit observer as far as
// the server sees them: it records what it is handed.
type recorder struct {
	mu       sync.Mutex
	alerts   []string // cluster/rule of every committed alert
	restored []int64
	manual   []respond.Request
	audits   int
}

func (r *recorder) Committed(alerts []incident.Alert, _ []incident.IngestResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range alerts {
		r.alerts = append(r.alerts, a.Target.Cluster+"/"+a.Rule)
	}
}

func (r *recorder) Restore(_ context.Context, id int64, _ string) ([]respond.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restored = append(r.restored, id)
	return nil, nil
}

func (r *recorder) Approve(context.Context, int64, string, bool) (int, error) { return 1, nil }

func (r *recorder) Manual(context.Context, respond.Request, string) (int64, error) {
	return 0, fmt.Errorf("not in this test")
}

func (r *recorder) Observe([]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.audits++
}

func (r *recorder) seen() ([]string, []int64, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.alerts...), append([]int64(nil), r.restored...), r.audits
}

var (
	_ server.Sink          = (*recorder)(nil)
	_ server.Responder     = (*recorder)(nil)
	_ server.AuditObserver = (*recorder)(nil)
)

// falcoAlert is a Falco alert of rule about pod shop/web-1 with extra
// output fields.
func falcoAlert(rule string, extra map[string]any) map[string]any {
	fields := map[string]any{"k8s.ns.name": "shop", "k8s.pod.name": "web-1", "container.id": "3ad7b26ded6d"}
	for k, v := range extra {
		fields[k] = v
	}
	return map[string]any{"rule": rule, "priority": "Warning", "output": rule, "hostname": "node-1", "output_fields": fields}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClusterRouting serves clusters a, b and c (b the default) and
// checks that every ingest endpoint takes its cluster from ?cluster=
// (Falco alerts also from their output fields, the parameter first),
// rejects an unknown one with a 400 naming it and the known clusters,
// and that each cluster's sink, responder and audit observers get only
// their own alerts, incidents and events.
func TestClusterRouting(t *testing.T) {
	rec := map[string]*recorder{"a": {}, "b": {}, "c": {}}
	var aUp atomic.Bool
	aUp.Store(true)
	h := startOptions(t, "", func(o *server.Options) {
		o.Clusters = []server.Cluster{
			{Name: "a", Sink: rec["a"], Responder: rec["a"], AuditObservers: []server.AuditObserver{rec["a"]}, Up: aUp.Load},
			{Name: "b", Sink: rec["b"], Responder: rec["b"], AuditObservers: []server.AuditObserver{rec["b"]}, Up: func() bool { return false }},
			{Name: "c"}, // recorded only: no access configured
		}
		o.DefaultCluster = "b"
	})

	unknown := []struct{ name, method, path, where string }{
		{"falco", "POST", "/v1/falco?cluster=nope", "query parameter cluster"},
		{"falco root", "POST", "/?cluster=nope", "query parameter cluster"},
		{"alerts", "POST", "/v1/alerts?cluster=nope", "query parameter cluster"},
		{"sensor", "POST", "/v1/sensor/alerts?cluster=nope", "query parameter cluster"},
		{"audit", "POST", "/v1/audit?cluster=nope", "query parameter cluster"},
		{"manual response", "POST", "/v1/responses", "cluster"},
		{"falco field", "POST", "/v1/falco", "output_fields.k8s.cluster.name"},
		{"falco array field", "POST", "/v1/falco", "[1].output_fields.cluster"},
	}
	bodies := map[string][]byte{
		"falco": mustJSON(t, falcoAlert("r", nil)), "falco root": mustJSON(t, falcoAlert("r", nil)),
		"alerts": []byte(`{"alerts": [{"rule": "r", "priority": "Notice"}]}`), "sensor": []byte(`{"alerts": []}`),
		"audit":           readTestdata(t, "audit_privileged_pod.json"),
		"manual response": []byte(`{"cluster": "nope", "namespace": "shop", "pod": "web-1", "action": "terminate-pod"}`),
		"falco field":     mustJSON(t, falcoAlert("r", map[string]any{"k8s.cluster.name": "nope"})),
		"falco array field": mustJSON(t, []any{falcoAlert("r", map[string]any{"cluster": "a"}),
			falcoAlert("r", map[string]any{"cluster": "nope"})}),
	}
	for _, tt := range unknown {
		t.Run("unknown "+tt.name, func(t *testing.T) {
			code, resp := h.do(t, tt.method, tt.path, token, bodies[tt.name])
			e, _ := resp["error"].(map[string]any)
			if code != http.StatusBadRequest || e == nil {
				t.Fatalf("%s %s = %d %v, want 400", tt.method, tt.path, code, resp)
			}
			msg, _ := e["message"].(string)
			if e["where"] != tt.where || !strings.Contains(msg, `"nope" is not a cluster this server serves (known: a, b, c)`) {
				t.Errorf("error where %v message %q", e["where"], msg)
			}
		})
	}

	posts := []struct {
		path, rule string
		fields     map[string]any
		want       string // the incident's cluster
	}{
		{"/v1/falco?cluster=a", "param a", nil, "a"},
		{"/?cluster=c", "param c", nil, "c"},
		{"/v1/falco", "field a", map[string]any{"k8s.cluster.name": "a"}, "a"},
		{"/v1/falco", "short field a", map[string]any{"cluster": "a"}, "a"},
		{"/v1/falco", "field NA", map[string]any{"k8s.cluster.name": "<NA>"}, "b"},
		{"/v1/falco?cluster=c", "param over field", map[string]any{"k8s.cluster.name": "a"}, "c"},
		{"/v1/falco", "default", nil, "b"},
		{"/v1/alerts?cluster=a", "own a", nil, "a"},
		{"/v1/sensor/alerts?cluster=c", "sensor c", nil, "c"},
	}
	for _, p := range posts {
		body := mustJSON(t, falcoAlert(p.rule, p.fields))
		if strings.Contains(p.path, "alerts") {
			body = []byte(`{"alerts": [{"rule": "` + p.rule + `", "priority": "Warning", "target": {"namespace": "shop", "pod": "web-1"}}]}`)
		}
		if code, resp := h.do(t, "POST", p.path, token, body); code != http.StatusAccepted {
			t.Fatalf("POST %s = %d %v", p.path, code, resp)
		}
	}
	if code, resp := h.do(t, "POST", "/v1/audit?cluster=a", token, readTestdata(t, "audit_privileged_pod.json")); code != http.StatusAccepted {
		t.Fatalf("POST /v1/audit?cluster=a = %d %v", code, resp)
	}
	// The same audit event from another cluster is another cluster's.
	if code, resp := h.do(t, "POST", "/v1/audit?cluster=c", token, readTestdata(t, "audit_privileged_pod.json")); code != http.StatusAccepted {
		t.Fatalf("POST /v1/audit?cluster=c = %d %v", code, resp)
	}

	byCluster := map[string][]string{}
	for _, name := range []string{"a", "b", "c"} {
		code, resp := h.do(t, "GET", "/v1/incidents?cluster="+name, token, nil)
		if code != http.StatusOK {
			t.Fatalf("list ?cluster=%s = %d %v", name, code, resp)
		}
		list, _ := resp["incidents"].([]any)
		for _, it := range list {
			inc := it.(map[string]any)
			target := inc["target"].(map[string]any)
			if target["cluster"] != name {
				t.Errorf("?cluster=%s listed an incident of %v", name, target["cluster"])
			}
			for _, r := range inc["rules"].([]any) {
				byCluster[name] = append(byCluster[name], r.(string))
			}
		}
	}
	for _, p := range posts {
		if !contains(byCluster[p.want], p.rule) {
			t.Errorf("POST %s (%s): no incident of cluster %s holds it; by cluster: %v", p.path, p.rule, p.want, byCluster)
		}
	}
	if !contains(byCluster["a"], "Create Privileged Pod") || !contains(byCluster["c"], "Create Privileged Pod") || contains(byCluster["b"], "Create Privileged Pod") {
		t.Errorf("audit alerts by cluster: %v", byCluster)
	}

	alertsA, _, auditsA := rec["a"].seen()
	alertsB, _, auditsB := rec["b"].seen()
	for _, a := range alertsA {
		if !strings.HasPrefix(a, "a/") {
			t.Errorf("cluster a's sink got %s", a)
		}
	}
	for _, a := range alertsB {
		if !strings.HasPrefix(a, "b/") {
			t.Errorf("cluster b's sink got %s", a)
		}
	}
	if len(alertsA) < 5 || len(alertsB) != 2 {
		t.Errorf("sinks got %v and %v", alertsA, alertsB)
	}
	if auditsA == 0 || auditsB != 0 {
		t.Errorf("audit observers saw %d events (a) and %d (b), want some and none", auditsA, auditsB)
	}

	// Restore goes to the incident's cluster; a cluster without access
	// answers 501.
	idOf := func(cluster string) int64 {
		_, resp := h.do(t, "GET", "/v1/incidents?cluster="+cluster, token, nil)
		list := resp["incidents"].([]any)
		return int64(list[0].(map[string]any)["id"].(float64))
	}
	if code, resp := h.do(t, "POST", fmt.Sprintf("/v1/incidents/%d/restore", idOf("a")), token, nil); code != http.StatusOK {
		t.Fatalf("restore a = %d %v", code, resp)
	}
	if _, restored, _ := rec["b"].seen(); len(restored) != 0 {
		t.Errorf("cluster b's responder restored %v", restored)
	}
	if _, restored, _ := rec["a"].seen(); len(restored) != 1 || restored[0] != idOf("a") {
		t.Errorf("cluster a's responder restored %v", restored)
	}
	if code, resp := h.do(t, "POST", fmt.Sprintf("/v1/incidents/%d/approve", idOf("c")), token, nil); code != http.StatusNotImplemented ||
		!strings.Contains(fmt.Sprint(resp), "no access to cluster c is configured") {
		t.Errorf("approve c = %d %v, want 501 naming the cluster", code, resp)
	}

	// Readiness and metrics show each watched cluster's state.
	code, ready := h.do(t, "GET", "/readyz", "", nil)
	if diff := cmp.Diff(map[string]any{"status": "ready", "clusters": map[string]any{"a": "up", "b": "down", "c": "unknown"}}, ready); code != http.StatusOK || diff != "" {
		t.Errorf("readyz = %d (-want +got):\n%s", code, diff)
	}
	aUp.Store(false)
	metrics := h.metrics(t)
	for _, want := range []string{`quell_cluster_up{cluster="a"} 0`, `quell_cluster_up{cluster="b"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, `quell_cluster_up{cluster="c"}`) {
		t.Error("metrics show a state for cluster c, which is not watched")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
