package apiclient_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/apiclient"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/incident/sqlstore"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/server"
)

const token = "apiclient-test-token-0123456789"

// responder stands in for the response engine behind the real handler:
// it records manual requests as incidents in the real store.
type responder struct {
	store   incident.Store
	mu      sync.Mutex
	pending map[int64]int // incident -> pending approvals
	calls   []string
}

func (r *responder) Restore(context.Context, int64, string) ([]respond.Record, error) {
	return nil, nil
}

func (r *responder) Approve(_ context.Context, id int64, who string, veto bool) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.pending[id]
	if n == 0 {
		return 0, playbook.ErrNothingPending
	}
	delete(r.pending, id)
	r.calls = append(r.calls, fmt.Sprintf("approve %d by %s veto=%v", id, who, veto))
	return n, nil
}

func (r *responder) Manual(ctx context.Context, req respond.Request, who string) (int64, error) {
	if req.Action != respond.ActionSuspend {
		return 0, fmt.Errorf("%w: action: unknown action %q", playbook.ErrBadRequest, req.Action)
	}
	t := incident.Target{Cluster: "test", Kind: incident.TargetPod, Namespace: req.Namespace, Name: req.Pod, Pod: req.Pod}
	res, err := r.store.Ingest(ctx, []incident.Alert{{Source: "manual", Rule: "Manual response", Priority: "Critical",
		Time: time.Now().UTC(), Output: who + " requested " + req.Action, Target: t}}, time.Minute)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.calls = append(r.calls, fmt.Sprintf("manual %s %s/%s by %s dry_run=%v", req.Action, req.Namespace, req.Pod, who, req.DryRun))
	r.mu.Unlock()
	if req.Reason == "fail" {
		return res[0].IncidentID, errors.New("suspend-workload failed: scale refused")
	}
	return res[0].IncidentID, nil
}

// newServer serves the real API handler over a SQLite store; a nil
// responder is a server without a cluster.
func newServer(t *testing.T, withResponder bool) (*apiclient.Client, *responder) {
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
	store, err := sqlstore.Open(t.Context(), "sqlite://"+filepath.Join(dir, "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	r := &responder{store: store, pending: map[int64]int{}}
	cluster := server.Cluster{Name: "test"}
	if withResponder {
		cluster.Responder = r
	}
	opts := server.Options{Clusters: []server.Cluster{cluster}, Store: store, Tokens: tokens, Log: slog.New(slog.DiscardHandler)}
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	cl, err := apiclient.New(hs.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	return cl, r
}

// apiErr reduces an error to what the tests compare.
func apiErr(err error) string {
	var ae *apiclient.Error
	var re *apiclient.ResponseError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ae):
		return fmt.Sprintf("%d %s: %s", ae.Status, ae.Code, ae.Message)
	case errors.As(err, &re):
		return "response: " + re.Message
	}
	return "other: " + err.Error()
}

func TestRespond(t *testing.T) {
	cl, r := newServer(t, true)
	tests := []struct {
		name      string
		req       respond.Request
		wantErr   string
		wantState incident.State // "" : no incident returned
	}{
		{"succeeds", respond.Request{Namespace: "shop", Pod: "web-1", Action: respond.ActionSuspend, DryRun: true}, "", incident.StateOpen},
		{"fails after recording", respond.Request{Namespace: "shop", Pod: "web-2", Action: respond.ActionSuspend, Reason: "fail"},
			"response: suspend-workload failed: scale refused", incident.StateOpen},
		{"bad request", respond.Request{Namespace: "shop", Pod: "web-3", Action: "explode"},
			`400 bad_request: bad request: action: unknown action "explode"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc, err := cl.Respond(t.Context(), tt.req)
			if diff := cmp.Diff(tt.wantErr, apiErr(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if tt.wantState == "" {
				if inc != nil {
					t.Errorf("incident %+v returned with a bad request", inc)
				}
				return
			}
			if inc == nil {
				t.Fatal("no incident returned")
			}
			want := incident.Target{Cluster: "test", Kind: incident.TargetPod, Namespace: tt.req.Namespace, Name: tt.req.Pod, Pod: tt.req.Pod}
			if diff := cmp.Diff(want, inc.Target); diff != "" || inc.State != tt.wantState || inc.ID == 0 {
				t.Errorf("incident %d state %s, target (-want +got):\n%s", inc.ID, inc.State, diff)
			}
		})
	}
	want := []string{
		"manual suspend-workload shop/web-1 by tester dry_run=true",
		"manual suspend-workload shop/web-2 by tester dry_run=false",
	}
	if diff := cmp.Diff(want, r.calls); diff != "" {
		t.Errorf("engine calls (-want +got):\n%s", diff)
	}
}

func TestApproveAndVeto(t *testing.T) {
	cl, r := newServer(t, true)
	var ids []int64
	for _, pod := range []string{"a", "b"} {
		inc, err := cl.Respond(t.Context(), respond.Request{Namespace: "ns", Pod: pod, Action: respond.ActionSuspend})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inc.ID)
	}
	r.mu.Lock()
	r.pending[ids[0]], r.pending[ids[1]] = 2, 1
	r.calls = nil
	r.mu.Unlock()
	type call struct {
		veto bool
		id   int64
	}
	tests := []struct {
		name    string
		call    call
		wantN   int
		wantErr string
	}{
		{"approve", call{false, ids[0]}, 2, ""},
		{"approve again", call{false, ids[0]}, 0, "409 nothing_pending: incident has no pending approval"},
		{"veto", call{true, ids[1]}, 1, ""},
		{"veto again", call{true, ids[1]}, 0, "409 nothing_pending: incident has no pending approval"},
		{"unknown incident", call{false, 999}, 0, "404 not_found: incident 999 not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cl.Approve
			if tt.call.veto {
				f = cl.Veto
			}
			n, err := f(t.Context(), tt.call.id)
			if diff := cmp.Diff(tt.wantErr, apiErr(err)); diff != "" || n != tt.wantN {
				t.Errorf("n = %d (want %d); error (-want +got):\n%s", n, tt.wantN, diff)
			}
		})
	}
	want := []string{
		fmt.Sprintf("approve %d by tester veto=false", ids[0]),
		fmt.Sprintf("approve %d by tester veto=true", ids[1]),
	}
	if diff := cmp.Diff(want, r.calls); diff != "" {
		t.Errorf("engine calls (-want +got):\n%s", diff)
	}
}

func TestResponsesWithoutCluster(t *testing.T) {
	cl, _ := newServer(t, false)
	_, err := cl.Respond(t.Context(), respond.Request{Namespace: "ns", Pod: "p", Action: respond.ActionSuspend})
	if got := apiErr(err); got != "501 not_configured: no access to cluster test is configured: quell records its alerts but does not respond" {
		t.Errorf("respond: %s", got)
	}
	if _, err := cl.Veto(t.Context(), 1); !strings.HasPrefix(apiErr(err), "501 not_configured:") {
		t.Errorf("veto: %s", apiErr(err))
	}
}
