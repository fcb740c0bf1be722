package playbook_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond"
)

// TestEngineKeepsToItsCluster runs an engine for cluster "test" over a
// store that also holds an incident of cluster "other" about a namesake
// Deployment: resuming takes only its own incidents, restore, approve and
// manual requests refuse the other's, and while its cluster is
// unreachable an alert is recorded with why nothing is done and stays
// open until Resume, after which it is contained.
func TestEngineKeepsToItsCluster(t *testing.T) {
	var up atomic.Bool
	e := newEnv(t, playbook.Options{Mode: config.ModeEnforce, Cluster: "test", Reachable: up.Load})
	pods := e.deployment(t, "miner", 2)
	ctx := t.Context()
	other := incident.Alert{Source: "test", Rule: miner, Priority: "Critical", Time: time.Now(), Output: "miner elsewhere",
		Target: incident.Target{Cluster: "other", Kind: incident.TargetWorkload, Namespace: e.ns, WorkloadKind: "Deployment", Name: "miner", Pod: pods[0].Name}}
	res, err := e.store.Ingest(ctx, []incident.Alert{other}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	otherID := res[0].IncidentID

	own := e.alert(t, e.ns, pods[0].Name, miner, "Critical") // queued, not yet handled
	if err := e.eng.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.eng.QueueLen(); n != 2 {
		t.Errorf("queue holds %d jobs after Resume, want 2: the alert and its incident, not the other cluster's", n)
	}
	if _, err := e.eng.Restore(ctx, otherID, "tester"); !errors.Is(err, playbook.ErrOtherCluster) {
		t.Errorf("restore of the other cluster's incident: %v, want ErrOtherCluster", err)
	}
	if _, err := e.eng.Approve(ctx, otherID, "tester", false); !errors.Is(err, playbook.ErrOtherCluster) {
		t.Errorf("approve of the other cluster's incident: %v, want ErrOtherCluster", err)
	}
	req := respond.Request{Cluster: "other", Namespace: e.ns, Pod: pods[0].Name, Action: respond.ActionSuspend}
	if _, err := e.eng.Manual(ctx, req, "tester"); !errors.Is(err, playbook.ErrBadRequest) {
		t.Errorf("manual request for the other cluster: %v, want ErrBadRequest", err)
	}

	e.start(t)
	e.waitEntry(t, own, incident.EntryDecision, "no action yet: cluster test is unreachable")
	if got := e.state(t, own); got != incident.StateOpen {
		t.Errorf("state %s while unreachable, want open", got)
	}
	if got := e.replicas(t, "miner"); got != 2 {
		t.Errorf("replicas %d while unreachable, want 2", got)
	}

	up.Store(true)
	if err := e.eng.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	e.waitEntry(t, own, incident.EntryCleanup, "cleanup")
	if got := e.replicas(t, "miner"); got != 0 {
		t.Errorf("replicas %d after resuming, want 0", got)
	}
	if n := e.count(t, otherID, incident.EntryDecision, ""); n != 0 {
		t.Errorf("the other cluster's incident has %d decisions, want none", n)
	}
	if got := e.state(t, otherID); got != incident.StateOpen {
		t.Errorf("the other cluster's incident is %s, want open", got)
	}
}
