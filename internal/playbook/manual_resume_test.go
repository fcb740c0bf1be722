package playbook_test

import (
	"context"
	"testing"
	"time"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond"
)

// TestApprovedManualResponseRunsAsAsked: a manual suspension held for
// approval (the namespace's suspension limit) runs once approved, as the
// request asked (enforce), not as an alert would be handled in the
// server's mode (observe here).
func TestApprovedManualResponseRunsAsAsked(t *testing.T) {
	e := setupWith(t, playbook.Options{Mode: config.ModeObserve, SuspensionsPerHour: 1})
	a := e.deployment(t, "a", 1)
	b := e.deployment(t, "b", 2)
	if _, err := e.eng.Manual(t.Context(), respond.Request{Namespace: e.ns, Pod: a[0].Name, Action: respond.ActionSuspend}, "erin"); err != nil {
		t.Fatal(err)
	}
	id, err := e.eng.Manual(t.Context(), respond.Request{Namespace: e.ns, Pod: b[0].Name, Action: respond.ActionSuspend}, "erin")
	if err != nil {
		t.Fatal(err)
	}
	e.waitEntry(t, id, incident.EntryApproval, "awaits approval")
	if got := e.replicas(t, "b"); got != 2 {
		t.Fatalf("replicas = %d before approval, want 2", got)
	}
	if _, err := e.eng.Approve(t.Context(), id, "carol", false); err != nil {
		t.Fatal(err)
	}
	e.waitEntry(t, id, incident.EntryCleanup, "cleanup")
	if got := e.replicas(t, "b"); got != 0 {
		t.Fatalf("replicas = %d after approval, want 0", got)
	}
	if n := e.count(t, id, incident.EntryDecision, "observe mode"); n != 0 {
		t.Errorf("%d observe-mode decisions: the approved request ran as an alert", n)
	}
}

// TestResumedDryRunRequestStaysDryRun: an engine started in enforce mode
// resumes the open incident of a manual dry-run request; it must not act
// for real on it.
func TestResumedDryRunRequestStaysDryRun(t *testing.T) {
	e := newEnv(t, playbook.Options{Mode: config.ModeEnforce, Workers: 1})
	pods := e.deployment(t, "web", 2)
	id, err := e.eng.Manual(t.Context(), respond.Request{Namespace: e.ns, Pod: pods[0].Name, Action: respond.ActionTerminate, DryRun: true}, "frank")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.state(t, id); got != incident.StateOpen {
		t.Fatalf("state = %s after a dry run, want open", got)
	}
	e.start(t)
	// One worker handles the queue in order: the resumed incident first,
	// then this alert, whose decision says the first is done.
	other := e.alert(t, "kube-system", "x", miner, "Critical")
	e.waitEntry(t, other, incident.EntryDecision, "protected")
	if got := e.replicas(t, "web"); got != 2 {
		t.Errorf("replicas = %d, want 2", got)
	}
	tl, err := e.store.Timeline(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range tl {
		if ent.Type == incident.EntryActionStarted && ent.Summary != "capture-evidence started" && ent.Summary != "terminate-pod started" {
			t.Errorf("resumed dry run ran %q", ent.Summary)
		}
	}
	if n := e.count(t, id, incident.EntryActionStarted, ""); n != 2 {
		t.Errorf("%d actions started, want the dry run's 2 only", n)
	}
	pods = e.pods(t, "app=web", 2)
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			t.Errorf("pod %s is being deleted", p.Name)
		}
	}
}

// TestManualResponseOutlivesItsRequest: the one who asked going away (the
// request's context cancelled) mid-response does not cut it short.
func TestManualResponseOutlivesItsRequest(t *testing.T) {
	e := newEnv(t, playbook.Options{Mode: config.ModeEnforce, VerifyHold: time.Second})
	pods := e.deployment(t, "web", 2)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel) // during the verification hold
	id, err := e.eng.Manual(ctx, respond.Request{Namespace: e.ns, Pod: pods[0].Name, Action: respond.ActionSuspend}, "frank")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.state(t, id); got != incident.StateContained {
		t.Fatalf("state = %s, want contained", got)
	}
}
