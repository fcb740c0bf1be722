package playbook

import (
	"context"
	"encoding/json"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/respond"
)

// history counts, from an incident's timeline, the pods quell terminated
// and the distinct pods that alerted (current included).
func history(timeline []incident.Entry, current string) (terminated, pods int) {
	seen := map[string]bool{current: true}
	for _, e := range timeline {
		switch e.Type {
		case incident.EntryAlert:
			var a struct {
				Target incident.Target `json:"target"`
			}
			if json.Unmarshal(e.Data, &a) == nil && a.Target.Pod != "" {
				seen[a.Target.Pod] = true
			}
		case incident.EntryActionSucceeded:
			var r respond.Record
			if json.Unmarshal(e.Data, &r) == nil && r.Action == respond.ActionTerminate && r.Changed && !r.DryRun {
				terminated++
			}
		}
	}
	return terminated, len(seen)
}

func chainText(c owner.Chain) string {
	parts := make([]string, len(c.Links))
	for i, l := range c.Links {
		parts[i] = l.Kind + " " + l.Name
	}
	s := strings.Join(parts, " -> ")
	if c.Unknown {
		s += " (a controller kind quell does not follow)"
	}
	return s
}

// workloadProtected reports whether the top controller carries the
// protection label.
func (e *Engine) workloadProtected(ctx context.Context, ns string, top owner.Ref) (bool, error) {
	if top.Kind == "Pod" || !respond.KnownKind(top.Kind) {
		return false, nil // a bare pod (its own labels were checked), or a kind quell does not read
	}
	obj, _, err := e.opts.Resolver.Object(ctx, top.Kind, ns, top.Name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return obj.GetLabels()[LabelProtected] == "true", nil
}

// recordedChain returns the owner chain of pod recorded in the timeline.
func recordedChain(timeline []incident.Entry, pod string) (owner.Chain, bool) {
	for i := len(timeline) - 1; i >= 0; i-- {
		var c owner.Chain
		if timeline[i].Type == incident.EntryEnrichment && json.Unmarshal(timeline[i].Data, &c) == nil &&
			len(c.Links) > 0 && c.Pod().Name == pod {
			return c, true
		}
	}
	return owner.Chain{}, false
}

// protectedRead names the first of objs, as read moments ago from the API
// server, that carries the protection label ("" when none does): the
// check before an action, since validation may have read a cached copy.
func protectedRead(objs []metav1.Object) string {
	for _, o := range objs {
		if o.GetLabels()[LabelProtected] == "true" {
			kind := respond.KindOf(o)
			if kind == "Pod" {
				kind = "pod" // as validation words it
			}
			return kind + " " + o.GetNamespace() + "/" + o.GetName() + " is labelled " + LabelProtected + "=true"
		}
	}
	return ""
}
