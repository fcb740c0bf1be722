package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// Cordon marks the target node unschedulable ("cordon-node") and, with
// Taint, adds the taint quell.dev/quarantine=<incident> with Effect
// (default NoSchedule; NoExecute also evicts running pods). Reversible:
// the previous unschedulable flag is recorded and put back, quell's taint
// removed.
type Cordon struct {
	Taint  bool
	Effect corev1.TaintEffect
}

type cordonState struct {
	Incident      int64   `json:"incident,omitempty"`
	Node          string  `json:"node"`
	Unschedulable bool    `json:"unschedulable"`
	Taint         string  `json:"taint,omitempty"` // the taint present (after) or added (restore)
	IncidentLabel *string `json:"incident_label,omitempty"`
}

// Name implements Action.
func (*Cordon) Name() string { return ActionCordon }

// Rules implements Action; nodes are cluster-scoped (see SplitRules).
func (*Cordon) Rules(t Target) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{kindRule("Node", "", t.Node, "get", "update")}
}

func (a *Cordon) taint(env Env) corev1.Taint {
	eff := a.Effect
	if eff == "" {
		eff = corev1.TaintEffectNoSchedule
	}
	return corev1.Taint{Key: TaintQuarantine, Value: env.incidentLabel(), Effect: eff}
}

func hasTaint(n *corev1.Node, key string) (corev1.Taint, bool) {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return t, true
		}
	}
	return corev1.Taint{}, false
}

// Apply implements Action.
func (a *Cordon) Apply(ctx context.Context, env Env, t Target) (Record, error) {
	rec := newRecord(a.Name(), env, t)
	rec.Reversible = true
	defer rec.finish()
	if t.Node == "" {
		return rec, errors.New("cordon node: target names no node")
	}
	nodes := env.Client.CoreV1().Nodes()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := nodes.Get(ctx, t.Node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		rec.Object = refOf("Node", n)
		var st cordonState
		had, err := readRestore(n, a.Name(), &st)
		if err != nil {
			return err
		}
		_, tainted := hasTaint(n, TaintQuarantine)
		rec.Before = mustJSON(cordonState{Node: n.Name, Unschedulable: n.Spec.Unschedulable})
		if !had {
			st = cordonState{Incident: env.Incident, Node: n.Name, Unschedulable: n.Spec.Unschedulable}
			if v, ok := n.Labels[LabelIncident]; ok {
				st.IncidentLabel = &v
			}
			if a.Taint && !tainted {
				st.Taint = TaintQuarantine
			}
		}
		rec.Restore = mustJSON(st)
		rec.Changed = !n.Spec.Unschedulable || (a.Taint && !tainted)
		after := cordonState{Node: n.Name, Unschedulable: true}
		if a.Taint || tainted {
			after.Taint = TaintQuarantine
		}
		rec.After = mustJSON(after)
		if !rec.Changed && had {
			return nil
		}
		n.Spec.Unschedulable = true
		if a.Taint && !tainted {
			n.Spec.Taints = append(n.Spec.Taints, a.taint(env))
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[LabelIncident] = env.incidentLabel()
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[restoreAnnotation(a.Name())] = string(rec.Restore)
		_, err = nodes.Update(ctx, n, env.updateOpts())
		return err
	})
	if err != nil {
		return rec, fmt.Errorf("cordon node %s: %w", t.Node, err)
	}
	env.log().Info("cordoned node", "node", t.Node, "changed", rec.Changed, "incident", env.Incident, "dry_run", env.DryRun)
	return rec, nil
}

// Restore implements Restorer.
func (a *Cordon) Restore(ctx context.Context, env Env, rec Record) (Record, error) {
	out := newRecord(a.Name(), env, rec.Target)
	out.Reversible = true
	defer out.finish()
	name := rec.Object.Name
	if name == "" {
		name = rec.Target.Node
	}
	nodes := env.Client.CoreV1().Nodes()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		out.Object = refOf("Node", n)
		var ann cordonState
		had, err := readRestore(n, a.Name(), &ann)
		if err != nil {
			return err
		}
		st := ann
		if len(rec.Restore) > 0 {
			if err := json.Unmarshal(rec.Restore, &st); err != nil {
				return fmt.Errorf("decode restore data: %w", err)
			}
		} else if !had {
			out.Notes = append(out.Notes, "already restored")
			return nil
		}
		out.Restore = mustJSON(st)
		_, tainted := hasTaint(n, TaintQuarantine)
		out.Before = mustJSON(cordonState{Node: n.Name, Unschedulable: n.Spec.Unschedulable})
		removeTaint := tainted && st.Taint != ""
		out.Changed = had || removeTaint || n.Spec.Unschedulable != st.Unschedulable
		out.After = mustJSON(cordonState{Node: n.Name, Unschedulable: st.Unschedulable})
		if !out.Changed {
			out.Notes = append(out.Notes, "already restored")
			return nil
		}
		n.Spec.Unschedulable = st.Unschedulable
		if removeTaint {
			kept := n.Spec.Taints[:0]
			for _, t := range n.Spec.Taints {
				if t.Key != TaintQuarantine {
					kept = append(kept, t)
				}
			}
			n.Spec.Taints = kept
		}
		delete(n.Annotations, restoreAnnotation(a.Name()))
		if st.IncidentLabel != nil {
			n.Labels[LabelIncident] = *st.IncidentLabel
		} else {
			delete(n.Labels, LabelIncident)
		}
		_, err = nodes.Update(ctx, n, env.updateOpts())
		return err
	})
	if err != nil {
		return out, fmt.Errorf("restore node %s: %w", name, err)
	}
	env.log().Info("uncordoned node", "node", name, "changed", out.Changed, "incident", env.Incident, "dry_run", env.DryRun)
	return out, nil
}
