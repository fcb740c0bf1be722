package playbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/notify"
)

// Approval statuses, as recorded in approval timeline entries.
const (
	ApprovalRequested    = "requested"
	ApprovalApproved     = "approved"
	ApprovalVetoed       = "vetoed"
	ApprovalAutoApproved = "auto-approved"
)

// ErrNothingPending is returned by Approve when no approval is pending.
var ErrNothingPending = errors.New("no approval is pending")

// approvalRecord is the data of an approval timeline entry.
type approvalRecord struct {
	Key      string     `json:"key"` // the action's idempotency key
	Action   string     `json:"action"`
	Object   string     `json:"object"`
	Status   string     `json:"status"`
	Reason   string     `json:"reason,omitempty"`
	Deadline *time.Time `json:"deadline,omitempty"` // auto-after: acts then unless vetoed
	By       string     `json:"by,omitempty"`
}

// approvals returns the latest approval record per key.
func approvals(timeline []incident.Entry) map[string]approvalRecord {
	out := map[string]approvalRecord{}
	for _, e := range timeline {
		var r approvalRecord
		if e.Type == incident.EntryApproval && json.Unmarshal(e.Data, &r) == nil && r.Key != "" {
			if prev, ok := out[r.Key]; ok && r.Status == ApprovalRequested && prev.Status != ApprovalRequested {
				continue // a decision stands; a later request does not reopen it
			}
			out[r.Key] = r
		}
	}
	return out
}

// approvalRecorded says whether the timeline holds an approval request or
// decision for key.
func approvalRecorded(timeline []incident.Entry, key string) bool {
	_, ok := approvals(timeline)[key]
	return ok
}

// PendingApproval is an action of an incident that awaits a person.
type PendingApproval struct {
	Action string
	Object string
}

// Pending lists the approvals still requested in an incident's timeline
// (a decision stands; a later request does not reopen it), in the order
// they were first requested.
func Pending(timeline []incident.Entry) []PendingApproval {
	latest := approvals(timeline)
	var out []PendingApproval
	seen := map[string]bool{}
	for _, e := range timeline {
		var r approvalRecord
		if e.Type != incident.EntryApproval || json.Unmarshal(e.Data, &r) != nil || seen[r.Key] {
			continue
		}
		seen[r.Key] = true
		if l := latest[r.Key]; l.Status == ApprovalRequested {
			out = append(out, PendingApproval{Action: l.Action, Object: l.Object})
		}
	}
	return out
}

// gate decides whether step st (key names its action on obj) may act now.
// It records a request the first time, and turns an expired auto-after
// into an approval. It returns false when the step must wait or was
// vetoed; why says which.
func (e *Engine) gate(ctx context.Context, inc *incident.Incident, st Step, key, obj string, timeline []incident.Entry) (ok bool, why string, err error) {
	rec, seen := approvals(timeline)[key]
	switch {
	case seen && (rec.Status == ApprovalApproved || rec.Status == ApprovalAutoApproved):
		return true, "", nil
	case seen && rec.Status == ApprovalVetoed:
		return false, st.Action + " was vetoed by " + rec.By, nil
	case seen && rec.Deadline != nil && !time.Now().Before(*rec.Deadline):
		rec.Status, rec.By = ApprovalAutoApproved, actor
		within := "its deadline"
		if st.Approval.AutoAfter > 0 {
			within = st.Approval.AutoAfter.String()
		}
		_, err := e.append(ctx, inc.ID, incident.EntryApproval, st.Action+" "+obj+" approved: no veto within "+within, rec)
		return err == nil, "", err
	case seen:
		e.schedule(inc.ID, rec.Deadline) // again, after a restart
		return false, st.Action + " awaits approval", nil
	}
	rec = approvalRecord{Key: key, Action: st.Action, Object: obj, Status: ApprovalRequested, Reason: st.Approval.Reason}
	text := st.Action + " " + obj + " awaits approval: " + st.Approval.Reason
	if st.Approval.AutoAfter > 0 {
		d := time.Now().UTC().Add(st.Approval.AutoAfter)
		rec.Deadline = &d
		text += "; it runs at " + d.Format(time.RFC3339) + " unless vetoed"
	}
	if _, err := e.append(ctx, inc.ID, incident.EntryApproval, text, rec); err != nil {
		return false, "", err
	}
	e.notify(notify.ApprovalPending, inc, text)
	e.schedule(inc.ID, rec.Deadline)
	return false, st.Action + " awaits approval", nil
}

// schedule re-runs the incident's response at deadline (nil: never).
func (e *Engine) schedule(id int64, deadline *time.Time) {
	if deadline == nil {
		return
	}
	time.AfterFunc(time.Until(*deadline), func() { e.enqueue(job{incident: id, resume: true}) })
}

// Approve approves (or vetoes) every pending approval of an incident,
// records who did, and resumes the response. It returns how many were
// decided, or ErrNothingPending.
func (e *Engine) Approve(ctx context.Context, id int64, who string, veto bool) (int, error) {
	if err := e.acting(); err != nil {
		return 0, err
	}
	if err := e.own(ctx, id); err != nil {
		return 0, err
	}
	unlock := e.lock(id)
	timeline, err := e.opts.Store.Timeline(ctx, id)
	if err != nil {
		unlock()
		return 0, fmt.Errorf("read timeline: %w", err)
	}
	n := 0
	for _, rec := range approvals(timeline) {
		if rec.Status != ApprovalRequested {
			continue
		}
		rec.Status, rec.By, rec.Deadline = ApprovalApproved, who, nil
		if veto {
			rec.Status = ApprovalVetoed
		}
		if _, err := e.append(ctx, id, incident.EntryApproval, rec.Action+" "+rec.Object+" "+rec.Status+" by "+who, rec); err != nil {
			unlock()
			return n, err
		}
		n++
	}
	unlock()
	if n == 0 {
		return 0, ErrNothingPending
	}
	if !veto {
		e.enqueue(job{incident: id, resume: true})
	}
	return n, nil
}
