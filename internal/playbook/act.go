package playbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	// evidence, when not nil, delivers the evidence captured while the
	// decision was being recorded (see prefetchEvidence).
	evidence <-chan captured
}

type captured struct {
	rec      respond.Record
	complete func() respond.Record // nil on an error, or when rec is whole
	err      error
}

// prefetchEvidence starts capturing evidence now, for a plan that
// captures it before its other actions, so that the reads overlap the
// decision's writes instead of delaying the action. It still completes
// before any action: the evidence step waits for it. Only with the
// standing identity and outside dry runs (a lease does not exist yet, and
// the capture itself writes nothing).
func (e *Engine) prefetchEvidence(ctx context.Context, r response) <-chan captured {
	if r.credentials == CredentialsJIT || r.dryRun || len(r.plan) == 0 || r.plan[0].Action != respond.ActionEvidence || r.plan[0].Approval.Needed() {
		return nil
	}
	t := r.target()
	if _, _, done := outcome(r.timeline, respond.ActionEvidence, t, false); done {
		return nil
	}
	a, ok := e.opts.Registry.Get(respond.ActionEvidence)
	if !ok {
		return nil
	}
	out := make(chan captured, 1)
	env := respond.Env{Client: e.opts.Client, Incident: r.inc.ID, Log: e.opts.Log}
	go func() { out <- capture(ctx, a, env, t) }()
	return out
}

// capture applies a, in stages when it is respond.Staged.
func capture(ctx context.Context, a respond.Action, env respond.Env, t respond.Target) captured {
	if s, ok := a.(respond.Staged); ok {
		rec, complete, err := s.Capture(ctx, env, t)
		return captured{rec, complete, err}
	}
	rec, err := a.Apply(ctx, env, t)
	return captured{rec: rec, err: err}
}

// pendingEntries are a run's timeline entries not yet written, one of
// which may still be completing: the evidence, whose events are listed
// while the actions after it run.
type pendingEntries struct {
	list     []incident.Entry
	late     int
	complete func() incident.Entry
}

func (p *pendingEntries) add(ent incident.Entry) { p.list = append(p.list, ent) }

// addLate reserves the next place for the entry complete returns.
func (p *pendingEntries) addLate(complete func() incident.Entry) {
	p.late, p.complete = len(p.list), complete
	p.list = append(p.list, incident.Entry{})
}

// take completes the entries, empties p and returns them.
func (p *pendingEntries) take() []incident.Entry {
	if p.complete != nil {
		p.list[p.late], p.complete = p.complete(), nil
	}
	out := p.list
	p.list = nil
	return out
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

// verification is what remains of a response once its actions are done:
// proving they hold, then cleaning up. It runs outside the incident's lock
// so that a worker is not held for the verification period.
type verification func(ctx context.Context) error

// act runs the plan's actions in order and returns the verification of
// the last one (nil when there is nothing to verify). A step awaiting
// approval, or vetoed, ends the run there.
//
// Only the idempotency key and the decision are written before an action;
// evidence is captured in memory first, and the records of it and of the
// action are written right after the action, with the times they happened.
// A key without a recorded outcome (quell stopped between the two) is
// applied again: actions are idempotent and computed from the cluster's
// current state, so this resumes the response without a second effect.
// An action whose outcome is recorded is not applied again; when it ends
// the plan of an incident still acting (quell stopped before containment
// was verified), it is verified now, unless a verification runs already.
func (e *Engine) act(ctx context.Context, r response) (verification, error) {
	t := r.target()
	env := respond.Env{Client: e.opts.Client, DryRun: r.dryRun, Incident: r.inc.ID, Log: e.opts.Log, VerifyHold: &e.opts.VerifyHold}
	if g := e.opts.GracePeriod; g != nil {
		secs := int64(*g / time.Second)
		env.GracePeriod = &secs
	}
	release := func() {}
	if r.credentials == CredentialsJIT && !r.dryRun {
		client, rel, err := e.jit(ctx, r.inc.ID, t, r.plan)
		if err != nil {
			return nil, e.fail(ctx, r.inc.ID, "just-in-time credentials: "+err.Error())
		}
		env.Client, release = client, rel
	}
	v, err := e.apply(ctx, env, r, t)
	if v == nil {
		release()
		return nil, err
	}
	return func(ctx context.Context) error {
		defer release() // the grant outlives the actions only for their verification
		return v(ctx)
	}, err
}

// apply runs the plan with env.
func (e *Engine) apply(ctx context.Context, env respond.Env, r response, t respond.Target) (verification, error) {
	var (
		last    *respond.Record // the last action's outcome, applied now or before
		applied bool            // an action was applied by this run
		pending pendingEntries
	)
	for _, st := range r.plan {
		a, ok := e.opts.Registry.Get(st.Action)
		if !ok {
			return nil, fmt.Errorf("action %q is not registered", st.Action)
		}
		key := onceKey(r.inc.ID, st.Action, t, env.DryRun)
		// A person's decision on this action and object (or a request
		// awaiting one) binds every playbook of the incident, not only
		// the one whose step asked.
		if !env.DryRun && (st.Approval.Needed() || approvalRecorded(r.timeline, key)) {
			ok, why, err := e.gate(ctx, r.inc, st, key, objectText(st.Action, t), r.timeline)
			if err != nil || !ok {
				return nil, errors.Join(err, e.flush(ctx, r.inc.ID, pending.take()), e.stopped(ctx, r.inc.ID, why, r.timeline))
			}
		}
		// Evidence only reads: it needs no key, its record suffices.
		fresh := true
		if st.Action != respond.ActionEvidence {
			var err error
			if fresh, err = e.opts.Store.Once(ctx, key); err != nil {
				return nil, fmt.Errorf("record action key: %w", err)
			}
		}
		if rec, ok, found := outcome(r.timeline, st.Action, t, env.DryRun); found && (!fresh || st.Action == respond.ActionEvidence) {
			// Applied before, by this or a previous run of quell; a run
			// stopped before containment verifies it now.
			if ok && st.Action != respond.ActionEvidence {
				last = &rec
			}
			continue
		}
		if !fresh {
			e.opts.Log.Warn("resuming an action whose outcome was not recorded", "incident", r.inc.ID, "action", st.Action)
		}
		started := time.Now().UTC()
		var c captured
		if st.Action == respond.ActionEvidence && r.evidence != nil {
			c = <-r.evidence
			r.evidence = nil
			if !c.rec.Started.IsZero() {
				started = c.rec.Started
			}
		} else {
			c = capture(ctx, a, env, t)
		}
		rec, err := c.rec, c.err
		e.m.actions.WithLabelValues(st.Action, result(err)).Inc()
		pending.add(entry(started, incident.EntryActionStarted, st.Action+" started", nil))
		if err != nil {
			pending.add(entry(time.Now().UTC(), incident.EntryActionFailed, st.Action+" failed: "+err.Error(), rec))
			if err := e.flush(ctx, r.inc.ID, pending.take()); err != nil {
				return nil, err
			}
			if st.OnError == OnErrorContinue {
				continue
			}
			return nil, e.fail(ctx, r.inc.ID, st.Action+" failed: "+err.Error())
		}
		if st.Action == respond.ActionEvidence {
			at := time.Now().UTC()
			if c.complete == nil {
				pending.add(entry(at, incident.EntryEvidence, summary(rec), rec))
			} else {
				pending.addLate(func() incident.Entry {
					rec := c.complete()
					return entry(at, incident.EntryEvidence, summary(rec), rec)
				})
			}
			t.Read = rec.Objects() // the objects as just read: the next action need not read them again
			if why := protectedRead(t.Read); why != "" {
				return nil, errors.Join(e.flush(ctx, r.inc.ID, pending.take()), e.decisionOnce(ctx, r.inc.ID, Decision{Reason: "no action: " + why}, r.timeline))
			}
			continue
		}
		// The incident is acting before the action's record is written: a
		// stop between the two leaves it acting with the key recorded, and
		// the next run applies the action again (idempotently) and verifies.
		if !env.DryRun { // a dry run leaves the incident's state alone
			if _, err := e.transition(ctx, r.inc.ID, incident.StateActing, "acting: "+st.Action); err != nil {
				return nil, err
			}
			if st.Action == respond.ActionSuspend && rec.Changed {
				e.limits.suspendedOne(t.Namespace)
			}
		}
		pending.add(entry(time.Now().UTC(), incident.EntryActionSucceeded, summary(rec), rec))
		if err := e.flush(ctx, r.inc.ID, pending.take()); err != nil {
			return nil, err
		}
		last, applied = &rec, true
	}
	if err := e.flush(ctx, r.inc.ID, pending.take()); err != nil {
		return nil, err
	}
	_, verifying := e.inFlight.Load(r.inc.ID)
	// A plan applied before is verified again unless it was verified
	// (contained) or its verification runs now.
	if last == nil || env.DryRun || (!applied && (r.inc.State == incident.StateContained || verifying)) {
		return nil, nil
	}
	rec := *last
	return func(ctx context.Context) error { return e.verify(ctx, env, r, t, rec) }, nil
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
	e.m.latency.Observe(took.Seconds())
	// The verification is the entry of the move to contained.
	held := "" // suspensions and terminations are watched for a hold; other actions' state is read back
	if last.Action == respond.ActionSuspend || last.Action == respond.ActionTerminate {
		held = fmt.Sprintf(", the %s hold included", e.opts.VerifyHold)
	}
	now, err := e.transitionWith(ctx, id, incident.StateContained, entry(time.Now().UTC(), incident.EntryVerification,
		fmt.Sprintf("contained: %s verified %s after the response began%s", last.Action, took.Round(time.Millisecond), held), nil))
	if err != nil {
		return err
	}
	e.notify(notify.Contained, now, "")
	kinds := e.creates(r.plan)
	if len(kinds) == 0 {
		_, err := e.append(ctx, id, incident.EntryCleanup, "cleanup: the actions created no objects; nothing to remove", nil)
		return err
	}
	rep, err := respond.CleanupKindsOf(ctx, respond.Env{Client: e.opts.Client, Incident: id, Log: e.opts.Log}, id, kinds)
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

// creates lists the kinds of object the plan's actions may create.
func (e *Engine) creates(plan []Step) []string {
	var kinds []string
	for _, st := range plan {
		if a, ok := e.opts.Registry.Get(st.Action); ok {
			if c, ok := a.(respond.Creator); ok {
				for _, k := range c.Creates() {
					if !slices.Contains(kinds, k) {
						kinds = append(kinds, k)
					}
				}
			}
		}
	}
	return kinds
}
