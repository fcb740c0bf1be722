package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/google/go-cmp/cmp"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/incident/sqlstore"
	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/server"
)

const token = "test-token-0123456789abcdef"

// harness is a real server on a loopback port with a real SQLite store.
type harness struct {
	url   string
	store *sqlstore.Store
	stop  func()
}

func start(t testing.TB, dsn string) *harness {
	t.Helper()
	return startWith(t, dsn, nil)
}

// startWith is start with edit applied to the server configuration.
func startWith(t testing.TB, dsn string, edit func(*config.Server)) *harness {
	t.Helper()
	return startOptions(t, dsn, func(o *server.Options) {
		if edit != nil {
			edit(&o.Config)
		}
	})
}

// startOptions is start with edit applied to the server's options.
func startOptions(t testing.TB, dsn string, edit func(*server.Options)) *harness {
	t.Helper()
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokFile, []byte(token+" tester\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := server.LoadTokens(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	if dsn == "" {
		dsn = "sqlite://" + filepath.Join(dir, "quell.db")
	}
	ctx, cancel := context.WithCancel(context.Background())
	store, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	eng, diags := rules.LoadEngine(false)
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Server
	cfg.Listen = "127.0.0.1:0"
	cfg.RateLimit = 1e6 // the benchmark drives far more than a token may by default
	opts := server.Options{
		Config: cfg, Clusters: []server.Cluster{{Name: "test"}}, Store: store, Tokens: tokens,
		Log: slog.New(slog.DiscardHandler), Audit: server.RulesAudit{Engine: eng},
	}
	edit(&opts)
	cfg = opts.Config
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	addr, err := srv.Addr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http://"
	if cfg.TLSCertFile != "" {
		scheme = "https://"
	}
	h := &harness{url: scheme + addr.String(), store: store}
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with %v", err)
		}
		store.Close()
	}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) do(t testing.TB, method, path, tok string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

// metrics returns the server's /metrics text.
func (h *harness) metrics(t testing.TB) string {
	t.Helper()
	req, _ := http.NewRequest("GET", h.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFalcoArray posts Falco alerts as a JSON array, as a log shipper
// batching Falco's JSON output does: each is recorded as if posted alone.
func TestFalcoArray(t *testing.T) {
	h := start(t, "")
	one := bytes.TrimSpace(readTestdata(t, "falco_network_tool.json"))
	other := bytes.Replace(one, []byte(`"k8s.pod.name":"web-7d4b9c-x2x9z"`), []byte(`"k8s.pod.name":"api-1"`), 1)
	if bytes.Equal(one, other) {
		t.Fatal("testdata changed: no k8s.pod.name to replace")
	}
	body := append(append(append([]byte("[\n"), one...), ','), append(other, ']')...)
	if code, resp := h.do(t, "POST", "/v1/falco", token, body); code != http.StatusAccepted {
		t.Fatalf("POST /v1/falco [2 alerts] = %d %v", code, resp)
	}
	list, err := h.store.List(t.Context(), incident.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var pods []string
	for _, inc := range list {
		pods = append(pods, inc.Target.Pod)
	}
	slices.Sort(pods)
	if diff := cmp.Diff([]string{"api-1", "web-7d4b9c-x2x9z"}, pods); diff != "" {
		t.Errorf("incidents' pods (-want +got):\n%s", diff)
	}
}

func TestFalcoAlertOpensIncident(t *testing.T) {
	h := start(t, "")
	body := readTestdata(t, "falco_network_tool.json")
	code, resp := h.do(t, "POST", "/", token, body)
	if code != http.StatusAccepted {
		t.Fatalf("POST / = %d %v", code, resp)
	}
	// The same alert again (Falcosidekick retry) joins and is deduplicated.
	if code, _ := h.do(t, "POST", "/v1/falco", token, body); code != http.StatusAccepted {
		t.Fatalf("POST /v1/falco = %d", code)
	}
	list, err := h.store.List(t.Context(), incident.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d incidents, want 1: %+v", len(list), list)
	}
	inc := list[0]
	want := incident.Target{Cluster: "test", Kind: incident.TargetPod, Namespace: "shop", Name: "web-7d4b9c-x2x9z", Pod: "web-7d4b9c-x2x9z", Container: "3ad7b26ded6d", Node: "node-1"}
	if inc.Target != want || inc.Severity != incident.SeverityLow || inc.State != incident.StateOpen ||
		inc.AlertCount != 1 || inc.DedupCount != 1 || inc.Rules[0] != "Launch Suspicious Network Tool in Container" {
		t.Errorf("incident = %+v", inc)
	}
	tl, err := h.store.Timeline(t.Context(), inc.ID)
	if err != nil || len(tl) != 1 || tl[0].Type != incident.EntryAlert {
		t.Fatalf("timeline = %+v, %v", tl, err)
	}
	// evt.time is nanoseconds: kept exact, not rounded through float64.
	if !strings.Contains(string(tl[0].Data), `"evt.time":1700000000123456789`) {
		t.Errorf("evt.time not stored exactly: %s", tl[0].Data)
	}
}

func TestAuditPrivilegedPodOpensIncident(t *testing.T) {
	h := start(t, "")
	body := readTestdata(t, "audit_privileged_pod.json")
	code, resp := h.do(t, "POST", "/v1/audit", token, body)
	if code != http.StatusAccepted {
		t.Fatalf("POST /v1/audit = %d %v", code, resp)
	}
	// Redelivery of the same batch is counted once.
	if code, _ := h.do(t, "POST", "/v1/audit", token, body); code/100 != 2 {
		t.Fatalf("redelivery = %d", code)
	}
	list, err := h.store.List(t.Context(), incident.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d incidents, want 1", len(list))
	}
	inc := list[0]
	if inc.Target.Kind != incident.TargetPod || inc.Target.Namespace != "default" || inc.Target.Name != "nginx-privileged" {
		t.Errorf("target = %+v", inc.Target)
	}
	has := func(rule string) bool {
		for _, r := range inc.Rules {
			if r == rule {
				return true
			}
		}
		return false
	}
	if !has("Create Privileged Pod") || !has("New K8s Pod") {
		t.Errorf("rules = %v, want Create Privileged Pod and New K8s Pod", inc.Rules)
	}
	if inc.Severity < incident.SeverityMedium {
		t.Errorf("severity = %v", inc.Severity)
	}
	tl, _ := h.store.Timeline(t.Context(), inc.ID)
	if len(tl) != len(inc.Rules) {
		t.Errorf("timeline has %d entries for %d rules: redelivery recorded twice?", len(tl), len(inc.Rules))
	}
}

func TestBadRequestsAre4xxAndServerStaysUp(t *testing.T) {
	h := start(t, "")
	big := bytes.Repeat([]byte("a"), 2<<20)
	tests := []struct {
		name, method, path, tok string
		body                    []byte
		want                    int
		where                   string
	}{
		{"no token", "POST", "/v1/falco", "", []byte(`{}`), 401, ""},
		{"wrong token", "GET", "/v1/incidents", "nope-nope-nope-nope", nil, 401, ""},
		{"metrics need a token", "GET", "/metrics", "", nil, 401, ""},
		{"malformed", "POST", "/v1/falco", token, []byte(`{"rule": "x",`), 400, ""},
		{"syntax with place", "POST", "/v1/falco", token, []byte("{\n\"rule\": x}"), 400, "line 2, column 9"},
		{"wrong type", "POST", "/v1/falco", token, []byte(`{"rule": 5, "priority": "Notice"}`), 400, "rule"},
		{"missing rule", "POST", "/v1/falco", token, []byte(`{"priority": "Notice"}`), 400, "rule"},
		{"bad priority", "POST", "/v1/falco", token, []byte(`{"rule": "r", "priority": "Loud"}`), 400, "priority"},
		{"bad time", "POST", "/v1/falco", token, []byte(`{"rule": "r", "priority": "Notice", "time": "yesterday"}`), 400, "time"},
		{"oversized", "POST", "/v1/falco", token, big, 413, ""},
		{"empty falco array", "POST", "/v1/falco", token, []byte(` []`), 400, ""},
		{"bad falco array item", "POST", "/v1/falco", token, []byte(`[{"rule": "r", "priority": "Notice"}, {"priority": "Notice"}]`), 400, "[1].rule"},
		{"empty", "POST", "/v1/alerts", token, nil, 400, ""},
		{"unknown field", "POST", "/v1/alerts", token, []byte(`{"alerts": [{"rule": "r", "priority": "Notice", "colour": 1}]}`), 400, "colour"},
		{"no alerts", "POST", "/v1/alerts", token, []byte(`{"alerts": []}`), 400, "alerts"},
		{"bad item", "POST", "/v1/alerts", token, []byte(`{"alerts": [{"rule": "r", "priority": "Notice"}, {"priority": "Notice"}]}`), 400, "alerts[1].rule"},
		{"audit wrong kind", "POST", "/v1/audit", token, []byte(`{"apiVersion": "audit.k8s.io/v1", "kind": "Policy"}`), 400, "kind"},
		{"audit wrong version", "POST", "/v1/audit", token, []byte(`{"apiVersion": "v1", "kind": "EventList"}`), 400, "apiVersion"},
		{"audit item without id", "POST", "/v1/audit", token, []byte(`{"apiVersion": "audit.k8s.io/v1", "kind": "EventList", "items": [{"verb": "get"}]}`), 400, "items[0]"},
		{"bad incident id", "GET", "/v1/incidents/abc", token, nil, 400, "id"},
		{"missing incident", "GET", "/v1/incidents/999", token, nil, 404, ""},
		{"bad filter", "GET", "/v1/incidents?state=sleepy", token, nil, 400, "state"},
		{"bad since", "GET", "/v1/incidents?since=soon", token, nil, 400, "since"},
		{"note on missing", "POST", "/v1/incidents/999/notes", token, []byte(`{"text": "hi"}`), 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, resp := h.do(t, tt.method, tt.path, tt.tok, tt.body)
			if code != tt.want {
				t.Fatalf("%s %s = %d %v, want %d", tt.method, tt.path, code, resp, tt.want)
			}
			e, _ := resp["error"].(map[string]any)
			if e == nil || e["message"] == "" {
				t.Fatalf("no JSON error: %v", resp)
			}
			if tt.where != "" && e["where"] != tt.where {
				t.Errorf("where = %v, want %q (message %v)", e["where"], tt.where, e["message"])
			}
		})
	}
	// Still serving, nothing stored by the bad requests.
	if code, _ := h.do(t, "GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("healthz after bad requests = %d", code)
	}
	list, _ := h.store.List(t.Context(), incident.Filter{})
	if len(list) != 0 {
		t.Errorf("bad requests stored %d incidents", len(list))
	}
}

func TestIncidentAPI(t *testing.T) {
	h := start(t, "")
	post := func(ns, pod, rule, prio string) int64 {
		body := fmt.Sprintf(`{"alerts": [{"rule": %q, "priority": %q, "output": "o", "target": {"namespace": %q, "pod": %q}}]}`, rule, prio, ns, pod)
		code, resp := h.do(t, "POST", "/v1/alerts", token, []byte(body))
		if code != 202 {
			t.Fatalf("post alert = %d %v", code, resp)
		}
		return int64(resp["incidents"].([]any)[0].(map[string]any)["id"].(float64))
	}
	a := post("shop", "a", "Known Cryptominer Process Executed", "Critical")
	b := post("shop", "b", "Launch Suspicious Network Tool in Container", "Notice")
	c := post("ops", "c", "Launch Suspicious Network Tool in Container", "Notice")
	ids := func(path string) []int64 {
		code, resp := h.do(t, "GET", path, token, nil)
		if code != 200 {
			t.Fatalf("GET %s = %d %v", path, code, resp)
		}
		var out []int64
		for _, i := range resp["incidents"].([]any) {
			out = append(out, int64(i.(map[string]any)["id"].(float64)))
		}
		return out
	}
	for _, tt := range []struct {
		path string
		want []int64
	}{
		{"/v1/incidents", []int64{c, b, a}},
		{"/v1/incidents?namespace=shop", []int64{b, a}},
		{"/v1/incidents?severity=critical", []int64{a}},
		{"/v1/incidents?rule=Launch+Suspicious+Network+Tool+in+Container", []int64{c, b}},
		{"/v1/incidents?limit=2", []int64{c, b}},
		{fmt.Sprintf("/v1/incidents?limit=2&after=%d", b), []int64{a}},
		{"/v1/incidents?since=1h", []int64{c, b, a}},
	} {
		if got := ids(tt.path); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("GET %s = %v, want %v", tt.path, got, tt.want)
		}
	}
	if code, resp := h.do(t, "POST", fmt.Sprintf("/v1/incidents/%d/notes", a), token, []byte(`{"text": "looking"}`)); code != 201 || resp["actor"] != "tester" {
		t.Errorf("note = %d %v", code, resp)
	}
	if code, resp := h.do(t, "POST", fmt.Sprintf("/v1/incidents/%d/false-positive", b), token, []byte(`{"reason": "pentest"}`)); code != 200 || resp["state"] != "false-positive" {
		t.Errorf("false-positive = %d %v", code, resp)
	}
	if code, _ := h.do(t, "POST", fmt.Sprintf("/v1/incidents/%d/false-positive", b), token, nil); code != 409 {
		t.Errorf("second false-positive = %d, want 409", code)
	}
	if got := ids("/v1/incidents?state=open"); fmt.Sprint(got) != fmt.Sprint([]int64{c, a}) {
		t.Errorf("open incidents = %v", got)
	}
	code, resp := h.do(t, "GET", fmt.Sprintf("/v1/incidents/%d", a), token, nil)
	if code != 200 {
		t.Fatalf("get = %d", code)
	}
	tl := resp["timeline"].([]any)
	if len(tl) != 2 || tl[0].(map[string]any)["type"] != "alert" || tl[1].(map[string]any)["type"] != "note" {
		t.Errorf("timeline = %v", tl)
	}
	if code, _ := h.do(t, "GET", fmt.Sprintf("/v1/incidents/%d/export", a), token, nil); code != 200 {
		t.Errorf("export = %d", code)
	}
	code, _ = h.do(t, "GET", "/metrics", token, nil)
	if code != 200 {
		t.Errorf("metrics = %d", code)
	}
}

func TestMetricsCountAlerts(t *testing.T) {
	h := start(t, "")
	h.do(t, "POST", "/v1/falco", token, readTestdata(t, "falco_network_tool.json"))
	data := h.metrics(t)
	for _, want := range []string{
		`quell_alerts_received_total{priority="Notice",rule="Launch Suspicious Network Tool in Container",source="falco"} 1`,
		`quell_incidents_opened_total 1`,
		`quell_incidents{state="open"} 1`,
		`quell_incidents{state="contained"} 0`,
		`quell_ingest_duration_seconds_count{endpoint="falco"} 1`,
	} {
		if !strings.Contains(data, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestTokenReload(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens")
	os.WriteFile(p, []byte("first-token-0123456789\n"), 0o600)
	tk, err := server.LoadTokens(p)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, []byte("short\n"), 0o600)
	if err := tk.Reload(); err == nil {
		t.Fatal("short token accepted")
	}
	if _, ok := tk.Lookup("first-token-0123456789"); !ok {
		t.Fatal("failed reload dropped the old tokens")
	}
	os.WriteFile(p, []byte("# comment\nsecond-token-0123456789 ci\n"), 0o600)
	if err := tk.Reload(); err != nil {
		t.Fatal(err)
	}
	if name, ok := tk.Lookup("second-token-0123456789"); !ok || name != "ci" {
		t.Errorf("second token: %q %v", name, ok)
	}
	if _, ok := tk.Lookup("first-token-0123456789"); ok {
		t.Error("removed token still accepted")
	}
	_ = time.Second
}
