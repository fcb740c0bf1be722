package playbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/owner"
)

// investigation is the entry of the alerting pod's investigation report,
// its suggested response the decision d, unless the timeline has one for
// this pod or no Investigator is configured. A report that cannot be
// built is recorded as such; it never stops the response.
//
// While the cluster cache is still loading (the first moments after a
// start) the report is not built now, which would hold the response
// back, nor recorded as failed: it is handed to investigateLater, which
// records it once the cache has loaded.
func (e *Engine) investigation(ctx context.Context, id int64, f Facts, d Decision, timeline []incident.Entry) []incident.Entry {
	if e.opts.Investigator == nil {
		return nil
	}
	ns, pod := f.Target.Namespace, f.Target.Pod
	top := ""
	if f.Chain != nil && !f.Chain.Bare() {
		top = f.Chain.Top().Kind + "/" + f.Chain.Top().Name
	}
	for _, ent := range timeline {
		var r investigate.Report
		if ent.Type != incident.EntryInvestigation || json.Unmarshal(ent.Data, &r) != nil || r.Namespace != ns {
			continue
		}
		if r.Pod == pod || (top != "" && r.Workload.Kind+"/"+r.Workload.Name == top) {
			return nil // this pod's, or another pod's of the same workload: one report per workload
		}
	}
	r, err := e.opts.Investigator.Pod(ctx, ns, pod)
	if errors.Is(err, investigate.ErrNotReady) {
		select {
		case e.later <- lateInvestigation{id: id, ns: ns, pod: pod, d: d}:
		default:
			e.opts.Log.Warn("investigation not recorded: the cache is loading and too many wait for it", "incident", id, "pod", pod)
		}
		return nil
	}
	if ent, ok := e.investigationEntry(ns, pod, d, r, err); ok {
		return []incident.Entry{ent}
	}
	return nil
}

// investigationEntry records a report, or why it could not be built; ok
// is false for a pod already gone (its workload suspended): nothing left
// to investigate.
func (e *Engine) investigationEntry(ns, pod string, d Decision, r *investigate.Report, err error) (incident.Entry, bool) {
	if apierrors.IsNotFound(err) {
		return incident.Entry{}, false
	}
	if err != nil {
		e.opts.Log.Warn("investigation failed", "namespace", ns, "pod", pod, "err", err)
		return entry(time.Now().UTC(), incident.EntryInvestigation, "investigation of pod "+ns+"/"+pod+" failed: "+err.Error(),
			map[string]string{"namespace": ns, "pod": pod, "error": err.Error()}), true
	}
	r.Impact.Suggested = &investigate.Suggestion{Actions: d.Actions, Reason: d.Reason}
	return entry(time.Now().UTC(), incident.EntryInvestigation, InvestigationSummary(r), r), true
}

// lateInvestigation is a report to build once the cache has loaded.
type lateInvestigation struct {
	id      int64
	ns, pod string
	d       Decision
}

// lateWait bounds how long a late investigation waits for the cache.
const lateWait = 30 * time.Second

// investigateLater records the reports whose pods alerted while the
// cache was loading, as soon as it has (within lateWait of each), until
// ctx is done.
func (e *Engine) investigateLater(ctx context.Context) {
	for {
		var li lateInvestigation
		select {
		case <-ctx.Done():
			return
		case li = <-e.later:
		}
		deadline := time.Now().Add(lateWait)
		r, err := e.opts.Investigator.Pod(ctx, li.ns, li.pod)
		for errors.Is(err, investigate.ErrNotReady) && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
			r, err = e.opts.Investigator.Pod(ctx, li.ns, li.pod)
		}
		if ent, ok := e.investigationEntry(li.ns, li.pod, li.d, r, err); ok {
			if _, err := e.opts.Store.Append(ctx, li.id, ent); err != nil && ctx.Err() == nil {
				e.opts.Log.Error("record investigation", "incident", li.id, "err", err)
			}
		}
	}
}

// InvestigationSummary is the one-line summary of a report.
func InvestigationSummary(r *investigate.Report) string {
	origin := "origin unknown"
	if c := r.Origin.Pod.Created; c != nil {
		origin = "created by " + c.User
	}
	if w := r.Origin.Workload; w != nil && w.Created != nil {
		origin = r.Workload.Kind + " " + r.Workload.Name + " created by " + w.Created.User
	}
	return fmt.Sprintf("investigation of pod %s/%s: risk %d/100, %s, %d pods of %s %s, pod security %s", r.Namespace, r.Pod, r.Impact.Score, origin,
		len(r.Workload.Pods), r.Workload.Kind, r.Workload.Name, r.Config.PodSecurity.Level)
}

// Suggest is what the built-in playbook would decide for an alert of
// severity sev about r's pod.
func Suggest(sev incident.Severity, r *investigate.Report) *investigate.Suggestion {
	chain := owner.Chain{Namespace: r.Namespace, Links: r.Workload.Chain, Unknown: r.Workload.UnknownOwner}
	t := incident.Target{Kind: incident.TargetPod, Namespace: r.Namespace, Name: r.Pod, Pod: r.Pod}
	d := Decide(Facts{Target: t, Severity: sev, Chain: &chain, Pods: 1 + len(r.Workload.OtherPodsAlerted)})
	return &investigate.Suggestion{Actions: d.Actions, Reason: d.Reason}
}
