package playbook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/respond"
)

// ErrBadRequest wraps the problems of a manual request.
var ErrBadRequest = errors.New("bad request")

// Manual runs one action a person asked for through the engine: it is
// recorded as an alert (source "manual") on the target's incident and
// handled like any other, with the same guards (protected namespaces and
// objects, limits, evidence first, verification, the audit trail), in
// enforce mode or, with DryRun, dry-run. It returns the incident's id once
// the response has run; cancelling ctx does not stop a response begun.
func (e *Engine) Manual(ctx context.Context, req respond.Request, who string) (int64, error) {
	if err := e.acting(); err != nil {
		return 0, err
	}
	if err := e.checkRequest(req); err != nil {
		return 0, err
	}
	t := incident.Target{Cluster: e.opts.Cluster, Kind: incident.TargetPod, Namespace: req.Namespace, Name: req.Pod, Pod: req.Pod}
	obj := "pod " + req.Namespace + "/" + req.Pod
	if req.Node != "" {
		t = incident.Target{Cluster: e.opts.Cluster, Kind: incident.TargetNode, Name: req.Node, Node: req.Node}
		obj = "node " + req.Node
	} else {
		t = e.opts.Resolver.Target(ctx, t)
	}
	out := who + " requested " + req.Action + " on " + obj
	if req.Reason != "" {
		out += ": " + req.Reason
	}
	a := incident.Alert{Source: sourceManual, Rule: "Manual response", Priority: "Critical", Time: time.Now().UTC(),
		Output: out, Target: t, Fields: map[string]any{fieldRequestedBy: who, fieldAction: req.Action, fieldDryRun: req.DryRun}}
	res, err := e.opts.Store.Ingest(ctx, []incident.Alert{a}, e.opts.Window)
	if err != nil {
		return 0, fmt.Errorf("record manual request: %w", err)
	}
	id := res[0].IncidentID
	pb := manualPlaybook(req.Action, req.Node != "", req.DryRun, who)
	// A response once begun runs to its end, even if the one who asked
	// goes away: stopping between an action and its record would leave
	// the incident acting until quell restarts.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	v, err := e.runLocked(ctx, job{alert: a, incident: id, playbook: pb})
	if v != nil { // the person asking waits for the verification
		defer e.inFlight.Delete(id)
		err = errors.Join(err, v(ctx))
	}
	if err != nil {
		return id, fmt.Errorf("respond: %w", err)
	}
	return id, nil
}

// A manual request's alert: its source, and the fields that record it.
const (
	sourceManual     = "manual"
	fieldRequestedBy = "quell.requested_by"
	fieldAction      = "quell.action"
	fieldDryRun      = "quell.dry_run"
)

// manualPlaybook runs one requested action: validate, enrich, evidence
// first for a pod, then the action, in enforce mode or dry-run.
func manualPlaybook(action string, node, dryRun bool, who string) *Playbook {
	mode := config.ModeEnforce
	if dryRun {
		mode = config.ModeDryRun
	}
	steps := []Step{{Kind: StepValidate}, {Kind: StepEnrich}}
	if action != respond.ActionEvidence && !node {
		steps = append(steps, Step{Kind: StepAction, Action: respond.ActionEvidence, OnError: OnErrorContinue})
	}
	steps = append(steps, Step{Kind: StepAction, Action: action, OnError: OnErrorStop})
	return &Playbook{Name: "manual", Where: "manual request by " + who, Mode: mode, MinSeverity: incident.SeverityInfo, Steps: steps}
}

// manualOf rebuilds the playbook of a manual request from its alert, so
// that a request resumed (approved, or after a restart) runs as asked, not
// as the policy would handle an alert. ok is false for other alerts.
func manualOf(a incident.Alert) (pb *Playbook, ok bool) {
	action, _ := a.Fields[fieldAction].(string)
	if a.Source != sourceManual || action == "" {
		return nil, false
	}
	who, _ := a.Fields[fieldRequestedBy].(string)
	dry, _ := a.Fields[fieldDryRun].(bool)
	return manualPlaybook(action, a.Target.Kind == incident.TargetNode, dry, who), true
}

func (e *Engine) checkRequest(req respond.Request) error {
	var errs []error
	if req.Cluster != "" && e.opts.Cluster != "" && req.Cluster != e.opts.Cluster {
		errs = append(errs, fmt.Errorf("cluster: %q is not this engine's cluster %s", req.Cluster, e.opts.Cluster))
	}
	if _, ok := e.opts.Registry.Get(req.Action); !ok {
		errs = append(errs, fmt.Errorf("action: unknown action %q (known: %s)", req.Action, strings.Join(e.opts.Registry.Names(), ", ")))
	}
	switch {
	case req.Node != "" && (req.Pod != "" || req.Namespace != ""):
		errs = append(errs, errors.New("node: give a node, or a namespace and pod, not both"))
	case req.Node != "" && req.Action != respond.ActionCordon:
		errs = append(errs, fmt.Errorf("action: %s acts on pods or workloads; a node takes %s", req.Action, respond.ActionCordon))
	case req.Node == "" && (req.Pod == "" || req.Namespace == ""):
		errs = append(errs, errors.New("pod: namespace and pod are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return nil
}
