package playbook

import (
	"context"
	"encoding/json"
	"fmt"
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
	var (
		obj metav1.Object
		err error
	)
	get := metav1.GetOptions{}
	cs := e.opts.Client
	switch top.Kind {
	case "Deployment":
		obj, err = cs.AppsV1().Deployments(ns).Get(ctx, top.Name, get)
	case "StatefulSet":
		obj, err = cs.AppsV1().StatefulSets(ns).Get(ctx, top.Name, get)
	case "DaemonSet":
		obj, err = cs.AppsV1().DaemonSets(ns).Get(ctx, top.Name, get)
	case "ReplicaSet":
		obj, err = cs.AppsV1().ReplicaSets(ns).Get(ctx, top.Name, get)
	case "Job":
		obj, err = cs.BatchV1().Jobs(ns).Get(ctx, top.Name, get)
	case "CronJob":
		obj, err = cs.BatchV1().CronJobs(ns).Get(ctx, top.Name, get)
	case "ReplicationController":
		obj, err = cs.CoreV1().ReplicationControllers(ns).Get(ctx, top.Name, get)
	default:
		return false, nil // the pod itself, or a kind quell does not read
	}
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get %s %s/%s: %w", top.Kind, ns, top.Name, err)
	}
	return obj.GetLabels()[LabelProtected] == "true", nil
}
