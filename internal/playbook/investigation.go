package playbook

import (
	"context"

	"encoding/json"
	"fmt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"time"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/owner"
)

// investigation is the entry of the alerting pod's investigation report,
// its suggested response the decision d, unless the timeline has one for
// this pod or no Investigator is configured. A report that cannot be
// built is recorded as such; it never stops the response.
func (e *Engine) investigation(ctx context.Context, f Facts, d Decision, timeline []incident.Entry) []incident.Entry {
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
	if apierrors.IsNotFound(err) {
		return nil // gone already (its workload suspended): nothing left to investigate
	}
	if err != nil {
		e.opts.Log.Warn("investigation failed", "namespace", ns, "pod", pod, "err", err)
		return []incident.Entry{entry(time.Now().UTC(), incident.EntryInvestigation, "investigation of pod "+ns+"/"+pod+" failed: "+err.Error(),
			map[string]string{"namespace": ns, "pod": pod, "error": err.Error()})}
	}
	r.Impact.Suggested = &investigate.Suggestion{Actions: d.Actions, Reason: d.Reason}
	return []incident.Entry{entry(time.Now().UTC(), incident.EntryInvestigation, InvestigationSummary(r), r)}
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
