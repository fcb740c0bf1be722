package respond

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Label sets labels on the target pod, or on its top workload when
// Workload is set ("label"). The incident label is always set, so with no
// Labels the action marks the target. Reversible: the previous values (or
// their absence) are recorded and put back.
type Label struct {
	Labels   map[string]string
	Workload bool
}

// Annotate sets annotations like Label sets labels ("annotate").
type Annotate struct {
	Annotations map[string]string
	Workload    bool
}

// Name implements Action.
func (*Label) Name() string { return ActionLabel }

// Name implements Action.
func (*Annotate) Name() string { return ActionAnnotate }

// Rules implements Action.
func (a *Label) Rules(t Target) []rbacv1.PolicyRule { return metaRules(t, a.Workload) }

// Rules implements Action.
func (a *Annotate) Rules(t Target) []rbacv1.PolicyRule { return metaRules(t, a.Workload) }

// Apply implements Action.
func (a *Label) Apply(ctx context.Context, env Env, t Target) (Record, error) {
	return applyMeta(ctx, env, t, a.Name(), a.Workload, a.Labels, nil)
}

// Apply implements Action.
func (a *Annotate) Apply(ctx context.Context, env Env, t Target) (Record, error) {
	return applyMeta(ctx, env, t, a.Name(), a.Workload, nil, a.Annotations)
}

// Restore implements Restorer.
func (a *Label) Restore(ctx context.Context, env Env, rec Record) (Record, error) {
	return restoreMeta(ctx, env, a.Name(), a.Workload, rec)
}

// Restore implements Restorer.
func (a *Annotate) Restore(ctx context.Context, env Env, rec Record) (Record, error) {
	return restoreMeta(ctx, env, a.Name(), a.Workload, rec)
}

// metaState is the previous value of every label and annotation key an
// action set; nil means the key was absent.
type metaState struct {
	Incident    int64              `json:"incident"`
	Object      ObjectRef          `json:"object"`
	Labels      map[string]*string `json:"labels,omitempty"`
	Annotations map[string]*string `json:"annotations,omitempty"`
}

func metaTarget(t Target, workload bool) (ObjectRef, error) {
	if !workload {
		return ObjectRef{Kind: "Pod", Namespace: t.Namespace, Name: t.Pod}, nil
	}
	top, err := t.workload()
	if err != nil {
		return ObjectRef{}, err
	}
	if _, ok := kinds[top.Kind]; !ok {
		return ObjectRef{}, fmt.Errorf("workload %s %s: %w", top.Kind, top.Name, ErrNotSuspendable)
	}
	return ObjectRef{Kind: top.Kind, Namespace: t.Namespace, Name: top.Name}, nil
}

func metaRules(t Target, workload bool) []rbacv1.PolicyRule {
	ref, err := metaTarget(t, workload)
	if err != nil {
		return nil
	}
	return []rbacv1.PolicyRule{kindRule(ref.Kind, "", ref.Name, "get", "patch")}
}

func previous(cur map[string]string, keys map[string]string) map[string]*string {
	out := map[string]*string{}
	for k := range keys {
		if v, ok := cur[k]; ok {
			out[k] = strp(v)
		} else {
			out[k] = nil
		}
	}
	return out
}

// mergePrevious adds to st the keys it lacks, so an undo covers them too;
// it reports whether it added any.
func mergePrevious(st, prev map[string]*string) (map[string]*string, bool) {
	if st == nil {
		st = map[string]*string{}
	}
	added := false
	for k, v := range prev {
		if _, ok := st[k]; !ok {
			st[k] = v
			added = true
		}
	}
	return st, added
}

func differs(cur map[string]string, want map[string]string) bool {
	for k, v := range want {
		if c, ok := cur[k]; !ok || c != v {
			return true
		}
	}
	return false
}

func toPtrs(m map[string]string) map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = strp(v)
	}
	return out
}

// setMeta sets labels and annotations on ref, recording their previous
// values in rec (Changed says whether a value changed) and in action's
// restore annotation. wrap, when not nil, turns the state into what is
// stored; it must marshal to a superset of metaState's JSON.
func setMeta(ctx context.Context, env Env, action string, ref ObjectRef, labels, annotations map[string]string,
	wrap func(metaState) any, rec *Record) (metaState, error) {
	labels = maps.Clone(labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelIncident] = env.incidentLabel()
	obj, err := GetObject(ctx, env.Client, ref)
	if err != nil {
		return metaState{}, err
	}
	ref = refOf(ref.Kind, obj)
	rec.Object = ref
	var st metaState
	had, err := readRestore(obj, action, &st)
	if err != nil {
		return st, err
	}
	prevL, prevA := previous(obj.GetLabels(), labels), previous(obj.GetAnnotations(), annotations)
	rec.Before = mustJSON(metaState{Object: ref, Labels: prevL, Annotations: prevA})
	var addL, addA bool
	if !had {
		st = metaState{Incident: env.Incident, Object: ref, Labels: prevL, Annotations: prevA}
	} else {
		st.Labels, addL = mergePrevious(st.Labels, prevL)
		st.Annotations, addA = mergePrevious(st.Annotations, prevA)
	}
	if len(st.Annotations) == 0 {
		st.Annotations = nil
	}
	if wrap != nil {
		rec.Restore = mustJSON(wrap(st))
	} else {
		rec.Restore = mustJSON(st)
	}
	rec.Changed = differs(obj.GetLabels(), labels) || differs(obj.GetAnnotations(), annotations)
	if rec.Changed || !had || addL || addA {
		an := toPtrs(annotations)
		an[restoreAnnotation(action)] = strp(string(rec.Restore))
		if _, err := patchObject(ctx, env, ref, metaPatch(toPtrs(labels), an, "", nil)); err != nil {
			return st, err
		}
	}
	rec.After = mustJSON(metaState{Object: ref, Labels: toPtrs(labels), Annotations: toPtrs(annotations)})
	return st, nil
}

func applyMeta(ctx context.Context, env Env, t Target, action string, workload bool, labels, annotations map[string]string) (Record, error) {
	rec := newRecord(action, env, t)
	rec.Reversible = true
	defer rec.finish()
	ref, err := metaTarget(t, workload)
	if err != nil {
		return rec, fmt.Errorf("%s: %w", action, err)
	}
	if _, err := setMeta(ctx, env, action, ref, labels, annotations, nil, &rec); err != nil {
		return rec, fmt.Errorf("%s %s: %w", action, ref, err)
	}
	env.log().Info("set metadata", "action", action, "object", rec.Object.String(), "changed", rec.Changed,
		"incident", env.Incident, "dry_run", env.DryRun)
	return rec, nil
}

// unsetMeta puts back the values recorded by setMeta (the Record's, else
// the annotation's) and removes the restore annotation. An object gone, or
// without the annotation and with no restore data, is left alone.
func unsetMeta(ctx context.Context, env Env, action string, ref ObjectRef, data json.RawMessage, out *Record) (metaState, error) {
	obj, err := GetObject(ctx, env.Client, ref)
	if apierrors.IsNotFound(err) {
		out.Notes = append(out.Notes, "object gone")
		return metaState{}, nil
	}
	if err != nil {
		return metaState{}, err
	}
	var ann metaState
	had, err := readRestore(obj, action, &ann)
	if err != nil {
		return metaState{}, err
	}
	st := ann
	if len(data) > 0 {
		if err := json.Unmarshal(data, &st); err != nil {
			return st, fmt.Errorf("decode restore data: %w", err)
		}
	} else if !had {
		out.Notes = append(out.Notes, "already restored")
		return st, nil
	}
	out.Restore = mustJSON(st)
	out.Changed = had || !sameAs(obj.GetLabels(), st.Labels) || !sameAs(obj.GetAnnotations(), st.Annotations)
	if !out.Changed {
		out.Notes = append(out.Notes, "already restored")
		return st, nil
	}
	an := maps.Clone(st.Annotations)
	if an == nil {
		an = map[string]*string{}
	}
	an[restoreAnnotation(action)] = nil
	if _, err := patchObject(ctx, env, refOf(ref.Kind, obj), metaPatch(st.Labels, an, "", nil)); err != nil {
		return st, err
	}
	return st, nil
}

// sameAs reports whether cur holds the values of want (nil: absent).
func sameAs(cur map[string]string, want map[string]*string) bool {
	for k, v := range want {
		c, ok := cur[k]
		if (v == nil) != !ok || (v != nil && *v != c) {
			return false
		}
	}
	return true
}

func restoreMeta(ctx context.Context, env Env, action string, workload bool, rec Record) (Record, error) {
	out := newRecord(action, env, rec.Target)
	out.Reversible = true
	out.Object = rec.Object
	defer out.finish()
	if out.Object.Name == "" {
		ref, err := metaTarget(rec.Target, workload)
		if err != nil {
			return out, fmt.Errorf("restore %s: %w", action, err)
		}
		out.Object = ref
	}
	if _, err := unsetMeta(ctx, env, action, out.Object, rec.Restore, &out); err != nil {
		return out, fmt.Errorf("restore %s %s: %w", action, out.Object, err)
	}
	return out, nil
}
