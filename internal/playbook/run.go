package playbook

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/notify"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/respond"
)

const actor = "quell"

// run handles one alert of one incident under its lock, and hands the
// verification, if any, to its own goroutine.
func (e *Engine) run(ctx context.Context, j job) {
	v, err := e.runLocked(ctx, j)
	if err != nil && ctx.Err() == nil {
		e.opts.Log.Error("response failed", "incident", j.incident, "rule", j.alert.Rule, "err", err)
	}
	if v == nil {
		return
	}
	verify := func() {
		defer e.inFlight.Delete(j.incident)
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := v(ctx); err != nil && ctx.Err() == nil {
			e.opts.Log.Error("verification failed", "incident", j.incident, "err", err)
		}
	}
	select {
	case e.verifySlots <- struct{}{}:
		e.verifying.Go(func() {
			defer func() { <-e.verifySlots }()
			verify()
		})
	default: // as many verifications as allowed run: this worker waits for its own
		verify()
	}
}

// runLocked responds under the incident's lock; a verification it
// returns is marked in flight before the lock is released.
func (e *Engine) runLocked(ctx context.Context, j job) (verification, error) {
	defer e.lock(j.incident)()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	v, err := e.respond(ctx, j)
	if v != nil {
		e.inFlight.Store(j.incident, true)
	}
	return v, err
}

// respond runs the playbook for one alert; the caller holds the
// incident's lock.
func (e *Engine) respond(ctx context.Context, j job) (verification, error) {
	start := time.Now()
	inc, err := e.opts.Store.Get(ctx, j.incident)
	if err != nil {
		return nil, fmt.Errorf("get incident: %w", err)
	}
	if err := e.ownCluster(inc.ID, inc.Target.Cluster); err != nil {
		return nil, err
	}
	e.tracker.saw(inc)
	if inc.State.Final() {
		return nil, nil
	}
	timeline, err := e.opts.Store.Timeline(ctx, inc.ID)
	if err != nil {
		return nil, fmt.Errorf("read timeline: %w", err)
	}
	if e.unreachable() {
		return nil, e.decisionOnce(ctx, inc.ID, Decision{Reason: e.unreachableReason()}, timeline)
	}
	if j.resume {
		a, ok := lastAlert(timeline)
		if !ok {
			return nil, nil
		}
		j.alert = a
	}
	if restoredByPerson(timeline) {
		// A person undid the response: acting again would undo their
		// decision (and the actions' keys keep it from acting anyway).
		return nil, e.decisionOnce(ctx, inc.ID, Decision{Reason: "no action: a person restored this incident's actions; resolve it, and a new alert opens a new incident that quell acts on"}, timeline)
	}
	facts, why, err := e.validate(ctx, inc, j.alert, timeline)
	if err != nil {
		return nil, err
	}
	if why != "" {
		return nil, e.decisionOnce(ctx, inc.ID, Decision{Reason: "no action: " + why}, timeline)
	}
	pb := j.playbook
	if m, ok := manualOf(j.alert); ok && pb == nil {
		pb = m
	}
	if pb == nil {
		pol := e.policy.Load()
		sub := subjectOf(j.alert, facts)
		if a := pol.allowed(sub); a != nil {
			return nil, e.decisionOnce(ctx, inc.ID, Decision{Reason: "no action: allowlisted (" + a.Where + "): " + a.Reason}, timeline)
		}
		if pb = pol.selectFor(sub); pb == nil {
			pb = e.builtin
		}
	}
	if facts.Severity < pb.MinSeverity {
		return nil, e.decisionOnce(ctx, inc.ID, Decision{Playbook: pb.Name, Reason: fmt.Sprintf("no action: severity %s is below the %s playbook's minimum %s", facts.Severity, pb.Name, pb.MinSeverity)}, timeline)
	}
	plan, d := e.plan(pb, facts)
	mode := cmp.Or(pb.Mode, e.opts.Mode)
	limited := ""
	if len(plan) > 0 && mode != config.ModeObserve && destructive(plan) {
		if ok, why := e.limits.allow(facts.Target.Namespace); !ok {
			limited = why
		}
	}
	r := response{inc: inc, facts: facts, plan: plan, dryRun: mode == config.ModeDryRun,
		credentials: cmp.Or(pb.Credentials, e.opts.Credentials), start: start, timeline: timeline}
	if len(plan) > 0 && mode != config.ModeObserve && limited == "" {
		r.evidence = e.prefetchEvidence(ctx, r)
	}
	var pre []incident.Entry // written with the decision, in one transaction
	if pb.has(StepEnrich) && facts.Chain != nil {
		pre = enrichment(*facts.Chain, timeline)
		pre = append(pre, e.investigation(ctx, inc.ID, facts, d, timeline)...)
	}
	switch {
	case len(plan) == 0:
		d.Reason = "no action: " + d.Reason
		return nil, e.decisionOnce(ctx, inc.ID, d, timeline, pre...)
	case mode == config.ModeObserve:
		d.Reason = "observe mode, nothing changed; would run " + strings.Join(d.Actions, ", ") + ": " + d.Reason
		return nil, e.decisionOnce(ctx, inc.ID, d, timeline, pre...)
	case limited != "":
		return nil, e.decisionOnce(ctx, inc.ID, Decision{Playbook: pb.Name, Reason: "no action: " + limited + "; " + d.Reason}, timeline, pre...)
	}
	if err := e.decisionOnce(ctx, inc.ID, d, timeline, pre...); err != nil {
		return nil, err
	}
	return e.act(ctx, r)
}

// plan expands a playbook's steps into the actions to run, and the
// decision that explains them.
func (e *Engine) plan(pb *Playbook, f Facts) ([]Step, Decision) {
	var (
		plan    []Step
		reasons []string
		d       = Decision{Playbook: pb.Name}
	)
	for _, st := range pb.Steps {
		switch st.Kind {
		case StepDecide:
			bd := Decide(f)
			d.Escalated = bd.Escalated
			reasons = append(reasons, bd.Reason)
			for _, a := range bd.Actions {
				s := Step{Kind: StepAction, Action: a, OnError: st.OnError, Approval: st.Approval}
				if a == respond.ActionEvidence {
					s.OnError, s.Approval = OnErrorContinue, Approval{}
				}
				plan = append(plan, s)
			}
		case StepAction:
			plan = append(plan, st)
			reasons = append(reasons, "the "+pb.Name+" playbook runs "+st.Action)
		}
	}
	for i, st := range plan {
		d.Actions = append(d.Actions, st.Action)
		if st.Action == respond.ActionSuspend && !st.Approval.Required {
			if need, why := e.limits.suspensionNeedsApproval(f.Target.Namespace); need {
				plan[i].Approval = Approval{Required: true, Reason: why}
			}
		}
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "the "+pb.Name+" playbook has no action for this alert")
	}
	d.Reason = strings.Join(reasons, "; ")
	return plan, d
}

func (pb *Playbook) has(kind string) bool {
	return slices.ContainsFunc(pb.Steps, func(s Step) bool { return s.Kind == kind })
}

// destructive reports whether a plan changes workloads or nodes.
func destructive(plan []Step) bool {
	return slices.ContainsFunc(plan, func(s Step) bool {
		switch s.Action {
		case respond.ActionTerminate, respond.ActionSuspend, respond.ActionIsolate, respond.ActionCordon:
			return true
		}
		return false
	})
}

// lastAlert decodes the newest alert of a timeline.
func lastAlert(timeline []incident.Entry) (incident.Alert, bool) {
	for i := len(timeline) - 1; i >= 0; i-- {
		var a incident.Alert
		if timeline[i].Type == incident.EntryAlert && json.Unmarshal(timeline[i].Data, &a) == nil {
			return a, true
		}
	}
	return incident.Alert{}, false
}

// onceKey names one application of an action to one object.
func onceKey(id int64, action string, t respond.Target, dry bool) string {
	obj := t.Node
	if action == respond.ActionSuspend && len(t.Chain.Links) > 0 {
		obj = t.Chain.Top().Kind + "/" + t.Chain.Top().UID
	} else if len(t.Chain.Links) > 0 {
		obj = "Pod/" + t.Chain.Pod().UID
	}
	key := fmt.Sprintf("respond/%d/%s/%s", id, action, obj)
	if dry {
		key += "/dry-run"
	}
	return key
}

func result(err error) string {
	if err != nil {
		return "failed"
	}
	return "succeeded"
}

func summary(rec respond.Record) string {
	s := rec.Action + " " + rec.Object.String()
	if rec.Action == respond.ActionEvidence {
		var bytes int
		for _, it := range rec.Evidence {
			bytes += it.Size
		}
		return fmt.Sprintf("%s: %d items, %d bytes, SHA-256 digests recorded", s, len(rec.Evidence), bytes)
	}
	switch {
	case rec.DryRun:
		s += " (dry run: nothing persisted)"
	case !rec.Changed:
		s += " (already in effect)"
	}
	if rec.GitOps != "" {
		s += "; GitOps owner " + rec.GitOps + " may revert it"
	}
	return s
}

func (e *Engine) append(ctx context.Context, id int64, typ incident.EntryType, text string, data any) (incident.Entry, error) {
	ent := entry(time.Now().UTC(), typ, text, data)
	out, err := e.opts.Store.Append(ctx, id, ent)
	if err != nil {
		return out, fmt.Errorf("append %s entry: %w", typ, err)
	}
	return out, nil
}

// entry builds a timeline entry by quell; data that cannot be encoded is
// replaced by the encoding error, so the entry is never lost.
func entry(at time.Time, typ incident.EntryType, text string, data any) incident.Entry {
	ent := incident.Entry{Time: at, Type: typ, Actor: actor, Summary: text}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			b, _ = json.Marshal(map[string]string{"encode_error": err.Error()})
		}
		ent.Data = b
	}
	return ent
}

// flush appends entries in order, in one transaction.
func (e *Engine) flush(ctx context.Context, id int64, entries []incident.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if _, err := e.opts.Store.AppendAll(ctx, id, entries); err != nil {
		return fmt.Errorf("append %d entries: %w", len(entries), err)
	}
	return nil
}

// decisionOnce records d unless the timeline (read under the incident's
// lock) already holds the same decision: the same actions, whatever alert
// led to them, or the same reason for none.
//
// Entries in pre (the enrichment that led to it) are written first, in the
// same transaction.
func (e *Engine) decisionOnce(ctx context.Context, id int64, d Decision, timeline []incident.Entry, pre ...incident.Entry) error {
	dup := slices.ContainsFunc(timeline, func(ent incident.Entry) bool {
		var prev Decision
		return ent.Type == incident.EntryDecision && json.Unmarshal(ent.Data, &prev) == nil && prev.key() == d.key()
	})
	if !dup {
		pre = append(pre, entry(time.Now().UTC(), incident.EntryDecision, d.Reason, d))
	}
	return e.flush(ctx, id, pre)
}

// key identifies a decision for deduplication.
func (d Decision) key() string {
	if len(d.Actions) > 0 {
		return fmt.Sprintf("act:%s:%v", strings.Join(d.Actions, ","), d.Escalated)
	}
	return d.Reason
}

// transition moves the incident to `to` when it is not there already.
func (e *Engine) transition(ctx context.Context, id int64, to incident.State, why string) (*incident.Incident, error) {
	return e.transitionWith(ctx, id, to, incident.Entry{Time: time.Now().UTC(), Type: incident.EntryState, Actor: actor, Summary: why})
}

// transitionWith is transition recording ent; when the incident is there
// already, ent is appended unless it is a plain state entry.
func (e *Engine) transitionWith(ctx context.Context, id int64, to incident.State, ent incident.Entry) (*incident.Incident, error) {
	inc, err := e.opts.Store.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get incident: %w", err)
	}
	if inc.State == to {
		if ent.Type != incident.EntryState {
			return inc, e.flush(ctx, id, []incident.Entry{ent})
		}
		return inc, nil
	}
	inc, err = e.opts.Store.Transition(ctx, id, to, ent)
	if err != nil {
		return nil, fmt.Errorf("move incident to %s: %w", to, err)
	}
	return inc, nil
}

func (e *Engine) fail(ctx context.Context, id int64, why string) error {
	inc, err := e.transition(ctx, id, incident.StateFailed, why)
	if err != nil {
		return err
	}
	e.notify(notify.Failed, inc, why)
	return nil
}

func (e *Engine) notify(k notify.Kind, inc *incident.Incident, detail string) {
	if e.opts.Notify != nil && inc != nil {
		e.opts.Notify.Enqueue(notify.Message{Kind: k, Incident: *inc, Detail: detail})
	}
}

// recentChain is how old an owner chain resolved when the alert arrived
// may be and still be used: the pod's deletion is preconditioned on its
// UID and the workload's scale on what is read then, so an older view
// never acts on the wrong object.
const recentChain = 2 * time.Second

// validate gathers the facts, or says why quell must not act: a protected
// namespace or object, or a target that no longer exists (the pod, or its
// owner when the pod is gone and its chain was recorded before).
func (e *Engine) validate(ctx context.Context, inc *incident.Incident, a incident.Alert, timeline []incident.Entry) (f Facts, why string, err error) {
	f = Facts{Target: a.Target, Severity: inc.Severity, Rule: a.Rule}
	if a.Target.Kind == incident.TargetNode || a.Target.Kind == incident.TargetCluster {
		return f, "", nil
	}
	if slices.Contains(e.opts.Protected, a.Target.Namespace) {
		return f, "namespace " + a.Target.Namespace + " is protected", nil
	}
	if a.Target.Pod == "" {
		return f, "the alert names no pod", nil
	}
	chain, fresh := e.opts.Resolver.Recent(a.Target.Namespace, a.Target.Pod, recentChain)
	if !fresh {
		chain, err = e.opts.Resolver.Resolve(ctx, a.Target.Namespace, a.Target.Pod)
	}
	if apierrors.IsNotFound(err) {
		c, ok := recordedChain(timeline, a.Target.Pod)
		if !ok || c.Bare() {
			return f, "pod " + a.Target.Namespace + "/" + a.Target.Pod + " no longer exists and its owner is unknown", nil
		}
		if _, gerr := respond.GetObject(ctx, e.opts.Client, respond.ObjectRef{Kind: c.Top().Kind, Namespace: c.Namespace, Name: c.Top().Name}); apierrors.IsNotFound(gerr) {
			return f, "pod " + a.Target.Namespace + "/" + a.Target.Pod + " and its " + c.Top().Kind + " " + c.Top().Name + " no longer exist", nil
		} else if gerr != nil && respond.KnownKind(c.Top().Kind) {
			return f, "", gerr
		}
		chain, err = c, nil
	}
	if err != nil {
		return f, "", err
	}
	if chain.PodLabels[LabelProtected] == "true" {
		return f, "pod " + a.Target.Namespace + "/" + a.Target.Pod + " is labelled " + LabelProtected + "=true", nil
	}
	if protected, err := e.workloadProtected(ctx, chain.Namespace, chain.Top()); err != nil {
		return f, "", err
	} else if protected {
		return f, chain.Top().Kind + " " + chain.Namespace + "/" + chain.Top().Name + " is labelled " + LabelProtected + "=true", nil
	}
	f.Chain = &chain
	f.Terminated, f.Pods = history(timeline, a.Target.Pod)
	return f, "", nil
}

// enrichment is the owner chain's entry, unless the timeline has it.
func enrichment(chain owner.Chain, timeline []incident.Entry) []incident.Entry {
	text := "owner chain: " + chainText(chain)
	for _, ent := range timeline {
		if ent.Type == incident.EntryEnrichment && ent.Summary == text {
			return nil // recorded for an earlier alert
		}
	}
	return []incident.Entry{entry(time.Now().UTC(), incident.EntryEnrichment, text, chain)}
}

// restoredByPerson reports whether the timeline records a successful
// restore.
func restoredByPerson(timeline []incident.Entry) bool {
	return slices.ContainsFunc(timeline, func(e incident.Entry) bool {
		return e.Type == incident.EntryRestore && strings.HasPrefix(e.Summary, "restored ")
	})
}
