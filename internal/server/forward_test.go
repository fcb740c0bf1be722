package server_test

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/server"
)

// leadersAt says the cluster "test" is led by the replica at url (nil:
// this one), or that none is known.
type leadersAt struct {
	url  *url.URL
	none bool
}

func (l *leadersAt) Leader(string) (*url.URL, error) {
	if l.none {
		return nil, server.ErrNoLeader
	}
	return l.url, nil
}

func (l *leadersAt) Identity() string { return "replica-under-test" }

// leaderEngine is the leader's response engine: it records who asked what.
type leaderEngine struct {
	mu    sync.Mutex
	calls []string
	store incident.Store
}

func (r *leaderEngine) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *leaderEngine) Restore(_ context.Context, id int64, who string) ([]respond.Record, error) {
	r.add("restore " + strconv.FormatInt(id, 10) + " by " + who)
	return nil, nil
}

func (r *leaderEngine) Approve(_ context.Context, id int64, who string, veto bool) (int, error) {
	r.add("approve " + strconv.FormatInt(id, 10) + " by " + who + " veto=" + strconv.FormatBool(veto))
	return 1, nil
}

func (r *leaderEngine) Manual(_ context.Context, req respond.Request, who string) (int64, error) {
	r.add("manual " + req.Action + " " + req.Namespace + "/" + req.Pod + " by " + who)
	return 1, nil
}

// standby is the follower's engine: it refuses, as a standing-by engine does.
type standby struct{ t *testing.T }

func (s standby) Restore(context.Context, int64, string) ([]respond.Record, error) {
	return nil, playbook.ErrNotLeader
}
func (s standby) Approve(context.Context, int64, string, bool) (int, error) {
	return 0, playbook.ErrNotLeader
}
func (s standby) Manual(context.Context, respond.Request, string) (int64, error) {
	return 0, playbook.ErrNotLeader
}

// TestRequestsThatActGoToTheLeader: restore, approve, veto and manual
// responses sent to a follower are forwarded, with the caller's token, to
// the leader, which authenticates them itself and acts; a request that
// fails authentication is not forwarded; with no leader known, or when a
// forwarded request reaches a replica that does not lead, the answer is 503
// with Retry-After.
func TestRequestsThatActGoToTheLeader(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "shared.db")
	rec := &leaderEngine{}
	lead := startOptions(t, dsn, func(o *server.Options) {
		o.Clusters, o.Leaders = []server.Cluster{{Name: "test", Responder: rec}}, &leadersAt{}
	})
	leaderURL, _ := url.Parse(lead.url)
	follow := &leadersAt{url: leaderURL}
	f := startOptions(t, dsn, func(o *server.Options) {
		o.Clusters, o.Leaders = []server.Cluster{{Name: "test", Responder: standby{t}}}, follow
	})

	if code, resp := f.do(t, "POST", "/v1/falco", token, readTestdata(t, "falco_network_tool.json")); code != http.StatusAccepted {
		t.Fatalf("alert to the follower = %d %v", code, resp)
	}
	list, err := f.store.List(t.Context(), incident.Filter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("incidents %v (%v), want 1", list, err)
	}
	id := strconv.FormatInt(list[0].ID, 10)
	for _, c := range []struct{ path, body string }{
		{"/v1/incidents/" + id + "/restore", ""},
		{"/v1/incidents/" + id + "/approve", ""},
		{"/v1/incidents/" + id + "/veto", ""},
		{"/v1/responses", `{"namespace":"shop","pod":"web-1","action":"suspend-workload"}`},
	} {
		if code, resp := f.do(t, "POST", c.path, token, []byte(c.body)); code != http.StatusOK {
			t.Errorf("POST %s to the follower = %d %v, want 200 from the leader", c.path, code, resp)
		}
	}
	if code, _ := f.do(t, "POST", "/v1/incidents/"+id+"/restore", "wrong-token", nil); code != http.StatusUnauthorized {
		t.Errorf("restore with a wrong token = %d, want 401", code)
	}
	want := []string{"restore " + id + " by tester", "approve " + id + " by tester veto=false", "approve " + id + " by tester veto=true",
		"manual suspend-workload shop/web-1 by tester"}
	if diff := cmp.Diff(want, rec.calls); diff != "" {
		t.Errorf("the leader's engine was asked (-want +got):\n%s", diff)
	}

	// A forwarded request that lands on a replica not leading is not
	// forwarded again.
	req, _ := http.NewRequest("POST", f.url+"/v1/incidents/"+id+"/restore", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(server.HeaderForwardedBy, "another-replica")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a twice-forwarded restore = %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	follow.none = true
	if code, resp := f.do(t, "POST", "/v1/incidents/"+id+"/restore", token, nil); code != http.StatusServiceUnavailable || errCode(resp) != "no_leader" {
		t.Errorf("restore with no leader known = %d %v, want 503 no_leader", code, resp)
	}
	// An engine standing by answers 503 too, should a request reach it.
	follow.none, follow.url = false, nil
	if code, resp := f.do(t, "POST", "/v1/incidents/"+id+"/restore", token, nil); code != http.StatusServiceUnavailable || errCode(resp) != "not_leader" {
		t.Errorf("restore on a standing-by engine = %d %v, want 503 not_leader", code, resp)
	}
	if len(rec.calls) != len(want) {
		t.Errorf("the leader was asked %d times, want %d: %v", len(rec.calls), len(want), rec.calls)
	}
}

// errCode is the code of an API error answer.
func errCode(resp map[string]any) any {
	e, _ := resp["error"].(map[string]any)
	return e["code"]
}
