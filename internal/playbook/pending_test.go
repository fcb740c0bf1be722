package playbook_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/playbook"
)

func TestPending(t *testing.T) {
	rec := func(key, status string) incident.Entry {
		b, _ := json.Marshal(map[string]string{"key": key, "action": "suspend-workload", "object": "Deployment " + key, "status": status})
		return incident.Entry{Type: incident.EntryApproval, Data: b}
	}
	tl := []incident.Entry{
		rec("a", playbook.ApprovalRequested),
		rec("b", playbook.ApprovalRequested),
		rec("a", playbook.ApprovalApproved),
		rec("c", playbook.ApprovalRequested),
		rec("c", playbook.ApprovalVetoed),
		rec("c", playbook.ApprovalRequested), // a decision stands
		{Type: incident.EntryNote, Summary: "n"},
	}
	want := []playbook.PendingApproval{{Action: "suspend-workload", Object: "Deployment b"}}
	if diff := cmp.Diff(want, playbook.Pending(tl)); diff != "" {
		t.Errorf("Pending (-want +got):\n%s", diff)
	}
}
