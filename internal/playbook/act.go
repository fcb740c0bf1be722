package playbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/notify"
	"quell.dev/quell/internal/respond"
)

// response is one run of a plan on an incident.
type response struct {
	inc         *incident.Incident
	facts       Facts
	plan        []Step
	dryRun      bool
	credentials string
	start       time.Time
	timeline    []incident.Entry // read under the incident's lock
}

func (r response) target() respond.Target {
	t := respond.Target{Namespace: r.facts.Target.Namespace, Pod: r.facts.Target.Pod}
	if r.facts.Chain != nil {
		t.Chain = *r.facts.Chain
	}
	if r.facts.Target.Kind == incident.TargetNode {
		t.Node = r.facts.Target.Name
	}
	return t
}

// act runs the plan's actions in order, verifies the last one and cleans
// up. A step awaiting approval, or vetoed, ends the run there.
//
// Only the idempotency key and the decision are written before an action;
// evidence is captured in memory first, and the records of it and of the
// action are written right after the action, with the times they happened.
// A key without a recorded outcome (quell stopped between the two) is
// applied again: actions are idempotent and computed from the cluster's
// current state, so this resumes the response without a second effect.
// An action whose outcome is recorded is not applied again; when it ends
// the plan of an incident still acting (quell stopped before containment
// was verified), it is verified now.
func (e *Engine) act(ctx context.Context, r response) error {
	t := r.target()
	env := respond.Env{Client: e.opts.Client, DryRun: r.dryRun, Incident: r.inc.ID, Log: e.opts.Log, VerifyHold: &e.opts.VerifyHold}
	if r.credentials == CredentialsJIT && !r.dryRun {
		client, release, err := e.jit(ctx, r.inc.ID, t, r.plan)
		if err != nil {
			return e.fail(ctx, r.inc.ID, "just-in-time credentials: "+err.Error())
		}
		defer release()
		env.Client = client
	}
	var (
		last    *respond.Record // the last action's outcome, applied now or before
		applied bool            // an action was applied by this run
		pending []incident.Entry
	)
	for _, st := range r.plan {
		a, ok := e.opts.Registry.Get(st.Action)
		if !ok {
			return fmt.Errorf("action %q is not registered", st.Action)
		}
		key := onceKey(r.inc.ID, st.Action, t, env.DryRun)
		if st.Approval.Needed() && !env.DryRun {
			ok, why, err := e.gate(ctx, r.inc, st, key, objectText(st.Action, t), r.timeline)
			if err != nil || !ok {
				return errors.Join(err, e.flush(ctx, r.inc.ID, pending), e.stopped(ctx, r.inc.ID, why, r.timeline))
			}
		}
		fresh, err := e.opts.Store.Once(ctx, key)
		if err != nil {
			return fmt.Errorf("record action key: %w", err)
		}
		if !fresh {
			if rec, ok, found := outcome(r.timeline, st.Action, t, env.DryRun); found {
				// Applied before, by this or a previous run of quell; a run
				// stopped before containment verifies it now.
				if ok && st.Action != respond.ActionEvidence {
					last = &rec
				}
				continue
			}
		}
		if !fresh {
			e.opts.Log.Warn("resuming an action whose outcome was not recorded", "incident", r.inc.ID, "action", st.Action)
		}
		started := time.Now().UTC()
		rec, err := a.Apply(ctx, env, t)
		e.m.actions.WithLabelValues(st.Action, result(err)).Inc()
		pending = append(pending, entry(started, incident.EntryActionStarted, st.Action+" started", nil))
		if err != nil {
			pending = append(pending, entry(time.Now().UTC(), incident.EntryActionFailed, st.Action+" failed: "+err.Error(), rec))
			if err := e.flush(ctx, r.inc.ID, pending); err != nil {
				return err
			}
			pending = nil
			if st.OnError == OnErrorContinue {
				continue
			}
			return e.fail(ctx, r.inc.ID, st.Action+" failed: "+err.Error())
		}
		if st.Action == respond.ActionEvidence {
			pending = append(pending, entry(time.Now().UTC(), incident.EntryEvidence, summary(rec), rec))
			continue
		}
		if err := e.flush(ctx, r.inc.ID, pending); err != nil {
			return err
		}
		pending = nil
		if !env.DryRun { // a dry run leaves the incident's state alone
			if _, err := e.transition(ctx, r.inc.ID, incident.StateActing, "acting: "+st.Action); err != nil {
				return err
			}
			if st.Action == respond.ActionSuspend && rec.Changed {
				e.limits.suspendedOne(t.Namespace)
			}
		}
		if _, err := e.append(ctx, r.inc.ID, incident.EntryActionSucceeded, summary(rec), rec); err != nil {
			return err
		}
		last, applied = &rec, true
	}
	if err := e.flush(ctx, r.inc.ID, pending); err != nil {
		return err
	}
	if last == nil || env.DryRun || (!applied && r.inc.State != incident.StateActing) {
		return nil
	}
	return e.verify(ctx, env, r, t, *last)
}

// verify proves the last action holds, marks the incident contained and
// cleans up.
func (e *Engine) verify(ctx context.Context, env respond.Env, r response, t respond.Target, last respond.Record) error {
	id := r.inc.ID
	if err := respond.Verify(ctx, env, t, last); err != nil {
		if _, aerr := e.append(ctx, id, incident.EntryVerification, "not contained: "+err.Error(), nil); aerr != nil {
			return aerr
		}
		return e.fail(ctx, id, "verification failed: "+err.Error())
	}
	took := time.Since(r.start)
	if _, err := e.append(ctx, id, incident.EntryVerification, fmt.Sprintf("contained: %s verified %s after the response began, the %s hold included", last.Action, took.Round(time.Millisecond), e.opts.VerifyHold), nil); err != nil {
		return err
	}
	e.m.latency.Observe(took.Seconds())
	now, err := e.transition(ctx, id, incident.StateContained, "contained")
	if err != nil {
		return err
	}
	e.notify(notify.Contained, now, "")
	rep, err := respond.Cleanup(ctx, respond.Env{Client: e.opts.Client, Incident: id, Log: e.opts.Log}, id)
	if err != nil {
		_, aerr := e.append(ctx, id, incident.EntryCleanup, "cleanup failed: "+err.Error(), rep)
		return errors.Join(err, aerr)
	}
	msg := fmt.Sprintf("cleanup: %d deleted, %d kept until restore, %d remaining", len(rep.Deleted), len(rep.Kept), len(rep.Remaining))
	_, err = e.append(ctx, id, incident.EntryCleanup, msg, rep)
	return err
}

// stopped records, once, why a plan stopped before its end.
func (e *Engine) stopped(ctx context.Context, id int64, why string, timeline []incident.Entry) error {
	if why == "" {
		return nil
	}
	return e.decisionOnce(ctx, id, Decision{Reason: "stopped: " + why}, timeline)
}

// outcome finds the recorded outcome of action on t's object, in the same
// mode (a dry run's outcome is not an enforced one's): found reports
// whether there is one, ok whether it is a success, and rec is then its
// record.
func outcome(timeline []incident.Entry, action string, t respond.Target, dry bool) (rec respond.Record, ok, found bool) {
	for _, ent := range timeline {
		switch ent.Type {
		case incident.EntryActionSucceeded, incident.EntryActionFailed, incident.EntryEvidence:
		default:
			continue
		}
		var r respond.Record
		if json.Unmarshal(ent.Data, &r) != nil || r.Action != action || r.DryRun != dry {
			continue
		}
		if objectText(action, r.Target) == objectText(action, t) {
			rec, ok, found = r, ent.Type != incident.EntryActionFailed, true
		}
	}
	return rec, ok, found
}

// objectText names the object action works on for t.
func objectText(action string, t respond.Target) string {
	switch {
	case t.Node != "" && action == respond.ActionCordon:
		return "Node " + t.Node
	case action == respond.ActionSuspend && len(t.Chain.Links) > 0:
		return t.Chain.Top().Kind + " " + t.Namespace + "/" + t.Chain.Top().Name
	default:
		return "Pod " + t.Namespace + "/" + t.Pod
	}
}
