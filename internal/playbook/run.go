package playbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/notify"
	"quell.dev/quell/internal/respond"
)

const actor = "quell"

// run handles one alert of one incident.
func (e *Engine) run(ctx context.Context, j job) {
	defer e.lock(j.incident)()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	log := e.opts.Log.With("incident", j.incident, "rule", j.alert.Rule)
	if err := e.respond(ctx, j); err != nil && ctx.Err() == nil {
		log.Error("response failed", "err", err)
	}
}

func (e *Engine) respond(ctx context.Context, j job) error {
	start := time.Now()
	inc, err := e.opts.Store.Get(ctx, j.incident)
	if err != nil {
		return fmt.Errorf("get incident: %w", err)
	}
	if inc.State.Final() {
		return nil
	}
	timeline, err := e.opts.Store.Timeline(ctx, inc.ID)
	if err != nil {
		return fmt.Errorf("read timeline: %w", err)
	}
	facts, why, err := e.validate(ctx, inc, j.alert, timeline)
	if err != nil {
		return err
	}
	if why != "" {
		return e.decisionOnce(ctx, inc.ID, Decision{Reason: "no action: " + why}, timeline)
	}
	d := Decide(facts)
	if len(d.Actions) == 0 {
		return e.decisionOnce(ctx, inc.ID, Decision{Reason: "no action: " + d.Reason}, timeline)
	}
	if e.opts.Mode == config.ModeObserve {
		d.Reason = "observe mode, nothing changed; would run " + strings.Join(d.Actions, ", ") + ": " + d.Reason
		return e.decisionOnce(ctx, inc.ID, d, timeline)
	}
	if !e.limiter.Allow() {
		return e.decisionOnce(ctx, inc.ID, Decision{Reason: "no action: the destructive-action rate limit is reached; " + d.Reason}, timeline)
	}
	if err := e.decisionOnce(ctx, inc.ID, d, timeline); err != nil {
		return err
	}
	return e.act(ctx, inc, facts, d, start)
}

// act applies the decided actions, verifies the last one and cleans up.
func (e *Engine) act(ctx context.Context, inc *incident.Incident, f Facts, d Decision, start time.Time) error {
	env := respond.Env{Client: e.opts.Client, DryRun: e.opts.Mode == config.ModeDryRun, Incident: inc.ID, Log: e.opts.Log, VerifyHold: &e.opts.VerifyHold}
	t := respond.Target{Namespace: f.Target.Namespace, Pod: f.Target.Pod}
	if f.Chain != nil {
		t.Chain = *f.Chain
	}
	if f.Target.Kind == incident.TargetNode {
		t.Node = f.Target.Name
	}
	// Only the idempotency key and the decision are written before an
	// action; evidence is captured in memory first, and the records of it
	// and of the action are written right after the action, with the times
	// they happened.
	var (
		last    *respond.Record
		pending []incident.Entry
	)
	for _, name := range d.Actions {
		a, ok := e.opts.Registry.Get(name)
		if !ok {
			return fmt.Errorf("action %q is not registered", name)
		}
		fresh, err := e.opts.Store.Once(ctx, onceKey(inc.ID, name, t, env.DryRun))
		if err != nil {
			return fmt.Errorf("record action key: %w", err)
		}
		if !fresh {
			continue // applied before (or by a previous run of quell)
		}
		started := time.Now().UTC()
		rec, err := a.Apply(ctx, env, t)
		e.m.actions.WithLabelValues(name, result(err)).Inc()
		pending = append(pending, entry(started, incident.EntryActionStarted, name+" started", nil))
		if name == respond.ActionEvidence {
			if err != nil { // evidence is best effort; the response goes on
				pending = append(pending, entry(time.Now().UTC(), incident.EntryActionFailed, name+" failed: "+err.Error(), rec))
			} else {
				pending = append(pending, entry(time.Now().UTC(), incident.EntryEvidence, summary(rec), rec))
			}
			continue
		}
		if err := e.flush(ctx, inc.ID, pending); err != nil {
			return err
		}
		pending = nil
		if err != nil {
			if _, aerr := e.append(ctx, inc.ID, incident.EntryActionFailed, name+" failed: "+err.Error(), rec); aerr != nil {
				return aerr
			}
			return e.fail(ctx, inc.ID, name+" failed: "+err.Error())
		}
		if !env.DryRun { // a dry run leaves the incident's state alone
			if _, err := e.transition(ctx, inc.ID, incident.StateActing, "acting: "+name); err != nil {
				return err
			}
		}
		if _, err := e.append(ctx, inc.ID, incident.EntryActionSucceeded, summary(rec), rec); err != nil {
			return err
		}
		last = &rec
	}
	if err := e.flush(ctx, inc.ID, pending); err != nil {
		return err
	}
	if last == nil || env.DryRun {
		return nil
	}
	if err := respond.Verify(ctx, env, t, *last); err != nil {
		if _, aerr := e.append(ctx, inc.ID, incident.EntryVerification, "not contained: "+err.Error(), nil); aerr != nil {
			return aerr
		}
		return e.fail(ctx, inc.ID, "verification failed: "+err.Error())
	}
	took := time.Since(start)
	if _, err := e.append(ctx, inc.ID, incident.EntryVerification, fmt.Sprintf("contained: %s verified %s after the response began, the %s hold included", last.Action, took.Round(time.Millisecond), e.opts.VerifyHold), nil); err != nil {
		return err
	}
	e.m.latency.Observe(took.Seconds())
	now, err := e.transition(ctx, inc.ID, incident.StateContained, "contained")
	if err != nil {
		return err
	}
	e.notify(notify.Contained, now, "")
	rep, err := respond.Cleanup(ctx, env, inc.ID)
	if err != nil {
		_, aerr := e.append(ctx, inc.ID, incident.EntryCleanup, "cleanup failed: "+err.Error(), rep)
		return errors.Join(err, aerr)
	}
	msg := fmt.Sprintf("cleanup: %d deleted, %d kept until restore, %d remaining", len(rep.Deleted), len(rep.Kept), len(rep.Remaining))
	_, err = e.append(ctx, inc.ID, incident.EntryCleanup, msg, rep)
	return err
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

// flush appends entries in order.
func (e *Engine) flush(ctx context.Context, id int64, entries []incident.Entry) error {
	for _, ent := range entries {
		if _, err := e.opts.Store.Append(ctx, id, ent); err != nil {
			return fmt.Errorf("append %s entry: %w", ent.Type, err)
		}
	}
	return nil
}

// decisionOnce records d unless the timeline (read under the incident's
// lock) already holds the same decision: the same actions, whatever alert
// led to them, or the same reason for none.
func (e *Engine) decisionOnce(ctx context.Context, id int64, d Decision, timeline []incident.Entry) error {
	for _, ent := range timeline {
		var prev Decision
		if ent.Type == incident.EntryDecision && json.Unmarshal(ent.Data, &prev) == nil && prev.key() == d.key() {
			return nil
		}
	}
	_, err := e.append(ctx, id, incident.EntryDecision, d.Reason, d)
	return err
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
	inc, err := e.opts.Store.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get incident: %w", err)
	}
	if inc.State == to {
		return inc, nil
	}
	inc, err = e.opts.Store.Transition(ctx, id, to, incident.Entry{Time: time.Now().UTC(), Type: incident.EntryState, Actor: actor, Summary: why})
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

// validate gathers the facts, or says why quell must not act.
func (e *Engine) validate(ctx context.Context, inc *incident.Incident, a incident.Alert, timeline []incident.Entry) (Facts, string, error) {
	f := Facts{Target: a.Target, Severity: inc.Severity, Rule: a.Rule}
	if a.Target.Kind == incident.TargetNode || a.Target.Kind == incident.TargetCluster {
		return f, "", nil
	}
	if slices.Contains(e.opts.Protected, a.Target.Namespace) {
		return f, "namespace " + a.Target.Namespace + " is protected", nil
	}
	if a.Target.Pod == "" {
		return f, "the alert names no pod", nil
	}
	chain, err := e.opts.Resolver.Resolve(ctx, a.Target.Namespace, a.Target.Pod)
	if apierrors.IsNotFound(err) {
		return f, "pod " + a.Target.Namespace + "/" + a.Target.Pod + " no longer exists and its owner is unknown", nil
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
	text := "owner chain: " + chainText(chain)
	for _, ent := range timeline {
		if ent.Type == incident.EntryEnrichment && ent.Summary == text {
			return f, "", nil // recorded for an earlier alert
		}
	}
	if _, err := e.append(ctx, inc.ID, incident.EntryEnrichment, text, chain); err != nil {
		return f, "", err
	}
	return f, "", nil
}
