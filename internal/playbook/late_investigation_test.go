package playbook_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/playbook"
)

// loadingInvestigator answers as an investigator whose cache is still
// loading for its first calls, then with a report.
type loadingInvestigator struct {
	loading int32
	calls   atomic.Int32
}

func (l *loadingInvestigator) Pod(_ context.Context, ns, name string) (*investigate.Report, error) {
	if l.calls.Add(1) <= l.loading {
		return nil, fmt.Errorf("investigate pod %s/%s: %w (ClusterRole)", ns, name, investigate.ErrNotReady)
	}
	return &investigate.Report{Namespace: ns, Pod: name}, nil
}

// TestInvestigationWaitsForTheCache: an alert that comes while the
// cluster cache is loading is answered at once (the response does not
// wait for the report), and its report is recorded once the cache has
// loaded, not a failure.
func TestInvestigationWaitsForTheCache(t *testing.T) {
	inv := &loadingInvestigator{loading: 3}
	e := setupWith(t, playbook.Options{Mode: config.ModeObserve, Investigator: inv})
	pods := e.deployment(t, "web", 1)
	id := e.alert(t, e.ns, pods[0].Name, "Launch Suspicious Network Tool in Container", "Notice")
	e.waitEntry(t, id, incident.EntryDecision, "")
	e.waitEntry(t, id, incident.EntryInvestigation, "investigation of pod "+e.ns+"/"+pods[0].Name+": risk")
	if n := e.count(t, id, incident.EntryInvestigation, "failed"); n != 0 {
		t.Errorf("%d failed investigations recorded, want none: the cache loaded", n)
	}
	if got := inv.calls.Load(); got < 4 {
		t.Errorf("the investigator was asked %d times, want the loading answers and one more", got)
	}
}
