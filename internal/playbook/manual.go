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
// the response has run.
func (e *Engine) Manual(ctx context.Context, req respond.Request, who string) (int64, error) {
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
	a := incident.Alert{Source: "manual", Rule: "Manual response", Priority: "Critical", Time: time.Now().UTC(),
		Output: out, Target: t, Fields: map[string]any{"quell.requested_by": who, "quell.action": req.Action}}
	res, err := e.opts.Store.Ingest(ctx, []incident.Alert{a}, e.opts.Window)
	if err != nil {
		return 0, fmt.Errorf("record manual request: %w", err)
	}
	id := res[0].IncidentID
	mode := config.ModeEnforce
	if req.DryRun {
		mode = config.ModeDryRun
	}
	steps := []Step{{Kind: StepValidate}, {Kind: StepEnrich}}
	if req.Action != respond.ActionEvidence && req.Node == "" {
		steps = append(steps, Step{Kind: StepAction, Action: respond.ActionEvidence, OnError: OnErrorContinue})
	}
	steps = append(steps, Step{Kind: StepAction, Action: req.Action, OnError: OnErrorStop})
	pb := &Playbook{Name: "manual", Where: "manual request by " + who, Mode: mode, MinSeverity: incident.SeverityInfo, Steps: steps}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
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

func (e *Engine) checkRequest(req respond.Request) error {
	var errs []error
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
