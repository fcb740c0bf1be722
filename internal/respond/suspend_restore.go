package respond

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Restore implements Restorer: replicas, suspend flags and node selectors
// go back to the recorded state (the Record's, else the quell.dev/restore
// annotation's), then the annotation and incident label are removed. A
// workload without the annotation that is no longer suspended counts as
// restored already.
func (a *Suspend) Restore(ctx context.Context, env Env, rec Record) (Record, error) {
	out := newRecord(a.Name(), env, rec.Target)
	out.Reversible = true
	defer out.finish()
	ref := rec.Object
	if ref.Name == "" {
		top, err := rec.Target.workload()
		if err != nil {
			return out, fmt.Errorf("restore: %w", err)
		}
		ref = ObjectRef{Kind: top.Kind, Namespace: rec.Target.Namespace, Name: top.Name}
	}
	out.Object = ref
	var err error
	switch ref.Kind {
	case "Deployment", "StatefulSet", "ReplicaSet", "ReplicationController":
		err = restoreScaled(ctx, env, ref, rec, &out)
	case "Job":
		var st *suspendState
		if s, ok, derr := restoreState(rec, suspendState{}, false); derr != nil {
			return out, derr
		} else if ok {
			st = &s
		}
		out.Changed, err = restoreJob(ctx, env, ref.Namespace, ref.Name, st, nil)
	case "CronJob":
		err = restoreCronJob(ctx, env, ref, rec, &out)
	case "DaemonSet":
		err = restoreDaemonSet(ctx, env, ref, &out)
	default:
		err = fmt.Errorf("kind %s: %w", ref.Kind, ErrNotSuspendable)
	}
	if err != nil {
		return out, fmt.Errorf("restore workload %s: %w", ref, err)
	}
	env.log().Info("restored workload", "object", ref.String(), "changed", out.Changed,
		"incident", env.Incident, "dry_run", env.DryRun)
	return out, nil
}

func restoreScaled(ctx context.Context, env Env, ref ObjectRef, rec Record, out *Record) error {
	obj, err := GetObject(ctx, env.Client, ref)
	if err != nil {
		return err
	}
	var ann suspendState
	had, err := readRestore(obj, ActionSuspend, &ann)
	if err != nil {
		return err
	}
	scale, err := getScale(ctx, env, ref)
	if err != nil {
		return err
	}
	cur := scale.Spec.Replicas
	out.Before = mustJSON(suspendState{Kind: ref.Kind, Name: ref.Name, Replicas: &cur})
	if !had && cur != 0 {
		out.Notes = append(out.Notes, "already restored")
		out.After = out.Before
		return nil
	}
	st, ok, err := restoreState(rec, ann, had)
	if err != nil {
		return err
	}
	if !ok || st.Replicas == nil {
		return errors.New("no restore state: neither the record nor the annotation " + AnnotationRestore + " has replicas")
	}
	out.Restore = mustJSON(st)
	if out.Changed, err = scaleTo(ctx, env, ref, scale, *st.Replicas); err != nil {
		return err
	}
	if had {
		l, an := unmark()
		if _, err := patchObject(ctx, env, ref, metaPatch(l, an, "", nil)); err != nil {
			return err
		}
		out.Changed = true
	}
	out.After = mustJSON(suspendState{Kind: ref.Kind, Name: ref.Name, Replicas: st.Replicas})
	return nil
}

// restoreJob sets job ns/name's suspend flag back: to preferred's, else to
// its annotation's, else to fallback's. A Job gone or neither annotated nor
// suspended is left alone.
func restoreJob(ctx context.Context, env Env, ns, name string, preferred, fallback *suspendState) (bool, error) {
	job, err := env.Client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get job %s/%s: %w", ns, name, err)
	}
	var ann suspendState
	had, err := readRestore(job, ActionSuspend, &ann)
	if err != nil {
		return false, err
	}
	if !had && !isSuspended(job) {
		return false, nil
	}
	st := preferred
	if st == nil && had {
		st = &ann
	}
	if st == nil {
		st = fallback
	}
	if st == nil || st.Suspend == nil {
		return false, fmt.Errorf("job %s/%s: no restore state", ns, name)
	}
	var spec map[string]any
	if isSuspended(job) != *st.Suspend {
		spec = map[string]any{"suspend": *st.Suspend}
	}
	var l, an map[string]*string
	if had {
		l, an = unmark()
	}
	if spec == nil && !had {
		return false, nil
	}
	if _, err := patchObject(ctx, env, refOf("Job", job), metaPatch(l, an, "", spec)); err != nil {
		return false, err
	}
	return spec != nil || had, nil
}

func restoreCronJob(ctx context.Context, env Env, ref ObjectRef, rec Record, out *Record) error {
	cj, err := env.Client.BatchV1().CronJobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get cronjob %s: %w", ref, err)
	}
	var ann suspendState
	had, err := readRestore(cj, ActionSuspend, &ann)
	if err != nil {
		return err
	}
	suspended := cj.Spec.Suspend != nil && *cj.Spec.Suspend
	out.Before = mustJSON(suspendState{Kind: "CronJob", Name: cj.Name, Suspend: &suspended})
	if !had && !suspended {
		out.Notes = append(out.Notes, "already restored")
		out.After = out.Before
		return nil
	}
	st, ok, err := restoreState(rec, ann, had)
	if err != nil {
		return err
	}
	if !ok || st.Suspend == nil {
		return errors.New("no restore state: neither the record nor the annotation " + AnnotationRestore + " has the suspend flag")
	}
	out.Restore = mustJSON(st)
	// Jobs first, so that a restore cut short leaves the CronJob annotated.
	resume := &suspendState{Suspend: new(false)}
	var errs []error
	for _, name := range st.Jobs {
		changed, err := restoreJob(ctx, env, ref.Namespace, name, nil, resume)
		out.Changed = out.Changed || changed
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var spec map[string]any
	if suspended != *st.Suspend {
		spec = map[string]any{"suspend": *st.Suspend}
	}
	var l, an map[string]*string
	if had {
		l, an = unmark()
	}
	if spec != nil || had {
		if _, err := patchObject(ctx, env, refOf("CronJob", cj), metaPatch(l, an, "", spec)); err != nil {
			return err
		}
		out.Changed = true
	}
	out.After = mustJSON(suspendState{Kind: "CronJob", Name: cj.Name, Suspend: st.Suspend, Jobs: st.Jobs})
	return nil
}

func restoreDaemonSet(ctx context.Context, env Env, ref ObjectRef, out *Record) error {
	ds, err := env.Client.AppsV1().DaemonSets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get daemonset %s: %w", ref, err)
	}
	var ann suspendState
	had, err := readRestore(ds, ActionSuspend, &ann)
	if err != nil {
		return err
	}
	sel := ds.Spec.Template.Spec.NodeSelector
	_, suspended := sel[NodeSelectorSuspended]
	out.Before = mustJSON(suspendState{Kind: "DaemonSet", Name: ds.Name, NodeSelector: sel})
	if !had && !suspended {
		out.Notes = append(out.Notes, "already restored")
		out.After = out.Before
		return nil
	}
	// Only quell's key is removed: the rest of the selector is the
	// recorded one unless someone changed it since, and then theirs wins.
	var spec map[string]any
	if suspended {
		spec = map[string]any{"template": map[string]any{"spec": map[string]any{
			"nodeSelector": map[string]*string{NodeSelectorSuspended: nil}}}}
	}
	var l, an map[string]*string
	if had {
		l, an = unmark()
	}
	if _, err := patchObject(ctx, env, refOf("DaemonSet", ds), metaPatch(l, an, "", spec)); err != nil {
		return err
	}
	out.Changed = true
	after := map[string]string{}
	for k, v := range sel {
		if k != NodeSelectorSuspended {
			after[k] = v
		}
	}
	out.After = mustJSON(suspendState{Kind: "DaemonSet", Name: ds.Name, NodeSelector: after})
	return nil
}
