package playbook_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond"
)

// TestResumeVerifiesAnInterruptedResponse stops the engine while it
// verifies containment (the action applied and recorded, the incident
// acting) and starts a new one on the same store: it must not act again,
// and must verify and contain the incident rather than leave it acting.
func TestResumeVerifiesAnInterruptedResponse(t *testing.T) {
	e := newEnv(t, playbook.Options{Mode: config.ModeEnforce, VerifyHold: time.Minute})
	pods := e.deployment(t, "miner", 3)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.eng.Start(ctx) }()
	id := e.alert(t, e.ns, pods[0].Name, miner, "Critical")
	e.waitEntry(t, id, incident.EntryActionSucceeded, "suspend-workload")
	stop() // mid-hold, as a crash would
	<-done
	if got := e.state(t, id); got != incident.StateActing {
		t.Fatalf("state = %s after the stop, want acting", got)
	}

	e.eng = playbook.New(playbook.Options{Store: e.store, Client: e.cs, Log: slog.New(slog.DiscardHandler),
		Mode: config.ModeEnforce, VerifyHold: 300 * time.Millisecond})
	e.start(t)
	e.waitEntry(t, id, incident.EntryCleanup, "cleanup")
	if got := e.state(t, id); got != incident.StateContained {
		t.Fatalf("state = %s, want contained", got)
	}
	for _, c := range []struct {
		typ  incident.EntryType
		text string
		want int
	}{
		{incident.EntryActionSucceeded, "suspend-workload", 1},
		{incident.EntryEvidence, "capture-evidence", 1},
		{incident.EntryVerification, "contained", 1},
	} {
		if n := e.count(t, id, c.typ, c.text); n != c.want {
			t.Errorf("%d %s entries with %q, want %d", n, c.typ, c.text, c.want)
		}
	}
}

// TestDryRunOutcomeDoesNotStandForTheAction records a dry run of an
// action, then the enforced action's key without an outcome (a stop
// between the two): the enforced action must still be applied.
func TestDryRunOutcomeDoesNotStandForTheAction(t *testing.T) {
	e := newEnv(t, playbook.Options{Mode: config.ModeEnforce})
	pods := e.deployment(t, "web", 2)
	req := respond.Request{Namespace: e.ns, Pod: pods[0].Name, Action: respond.ActionSuspend, DryRun: true}
	id, err := e.eng.Manual(t.Context(), req, "frank")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := owner.NewResolver(e.cs, nil).Resolve(t.Context(), e.ns, pods[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	key := playbook.OnceKey(id, respond.ActionSuspend, respond.Target{Namespace: e.ns, Pod: pods[0].Name, Chain: chain}, false)
	if _, err := e.store.Once(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	req.DryRun = false
	if _, err := e.eng.Manual(t.Context(), req, "frank"); err != nil {
		t.Fatal(err)
	}
	if got := e.replicas(t, "web"); got != 0 {
		t.Fatalf("replicas = %d, want 0: the dry run's outcome stood for the action", got)
	}
	if got := e.state(t, id); got != incident.StateContained {
		t.Fatalf("state = %s, want contained", got)
	}
}
