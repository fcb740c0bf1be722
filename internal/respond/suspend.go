package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"k8s.io/client-go/util/retry"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Suspend stops every pod of the target's workload ("suspend-workload"):
//
//   - Deployment, StatefulSet, ReplicaSet, ReplicationController: scaled to
//     0 through the scale subresource.
//   - Job: spec.suspend=true (the Job controller deletes its pods), and its
//     remaining pods are deleted.
//   - CronJob: spec.suspend=true, each unfinished Job it owns suspended
//     and their remaining pods deleted.
//   - DaemonSet: the unsatisfiable node selector quell.dev/suspended=<id>
//     added to its pod template.
//
// The previous state is kept in the Record and in the quell.dev/restore
// annotation of the workload (and of each suspended Job of a CronJob).
// An existing annotation wins over the current state, so re-applying never
// records the suspended state as the original.
//
// HorizontalPodAutoscalers targeting the workload are recorded but not
// changed: the HPA controller does not scale a target whose replicas are 0
// (it reports ScalingActive=False, ScalingDisabled) unless its minReplicas
// is 0 (the HPAScaleToZero feature), which the Record notes.
//
// With DeletePods, a scalable workload's pods are deleted directly once
// it (and, for a Deployment, its ReplicaSets) is at 0 replicas, instead of
// waiting for the controllers to delete them: containment in one round of
// requests rather than two controller hops. A controller whose cache has
// not yet seen the scale to 0 may recreate a pod; it deletes it again once
// it has, and Verify's hold period fails if one stays.
//
// A bare pod or an unknown controller fails with ErrNotSuspendable.
type Suspend struct {
	DeletePods bool
}

// Name implements Action.
func (*Suspend) Name() string { return ActionSuspend }

// HPAState is a HorizontalPodAutoscaler targeting a suspended workload.
type HPAState struct {
	Name        string `json:"name"`
	MinReplicas *int32 `json:"min_replicas,omitempty"`
	MaxReplicas int32  `json:"max_replicas"`
}

// suspendState is suspend-workload's before state and restore data.
type suspendState struct {
	Incident     int64             `json:"incident,omitempty"`
	Kind         string            `json:"kind"`
	Name         string            `json:"name"`
	Replicas     *int32            `json:"replicas,omitempty"`
	Suspend      *bool             `json:"suspend,omitempty"`
	NodeSelector map[string]string `json:"node_selector,omitempty"`
	Jobs         []string          `json:"jobs,omitempty"` // CronJob: the Jobs quell suspended
	HPAs         []HPAState        `json:"hpas,omitempty"`
}

// Rules implements Action.
func (a *Suspend) Rules(t Target) []rbacv1.PolicyRule {
	top, err := t.workload()
	if err != nil {
		return nil
	}
	pods := rule("", "pods", nil, "list", "watch")
	switch top.Kind {
	case "Deployment", "StatefulSet", "ReplicaSet", "ReplicationController":
		rules := []rbacv1.PolicyRule{
			kindRule(top.Kind, "", top.Name, "get", "patch"),
			kindRule(top.Kind, "scale", top.Name, "get", "update"),
			rule("autoscaling", "horizontalpodautoscalers", nil, "list"),
			pods,
		}
		if a.DeletePods {
			rules = append(rules, fastRules(top.Kind)...)
		}
		return rules
	case "DaemonSet":
		return []rbacv1.PolicyRule{kindRule(top.Kind, "", top.Name, "get", "patch"), pods}
	case "Job":
		return []rbacv1.PolicyRule{
			kindRule(top.Kind, "", top.Name, "get", "patch"),
			rule("", "pods", nil, "list", "watch", "delete"),
		}
	case "CronJob":
		return []rbacv1.PolicyRule{
			kindRule(top.Kind, "", top.Name, "get", "patch"),
			rule("batch", "jobs", nil, "get", "list", "patch"),
			rule("", "pods", nil, "list", "watch", "delete"),
		}
	}
	return nil
}

// Apply implements Action.
func (a *Suspend) Apply(ctx context.Context, env Env, t Target) (Record, error) {
	rec := newRecord(a.Name(), env, t)
	rec.Reversible = true
	defer rec.finish()
	top, err := t.workload()
	if err != nil {
		return rec, err
	}
	ref := ObjectRef{Kind: top.Kind, Namespace: t.Namespace, Name: top.Name, UID: top.UID}
	rec.Object = ref
	switch top.Kind {
	case "Deployment", "StatefulSet", "ReplicaSet", "ReplicationController":
		read, _ := t.read(ref)
		err = suspendScaled(ctx, env, ref, a.DeletePods, replicaSetOf(t), read, &rec)
	case "Job":
		err = suspendJob(ctx, env, ref, &rec)
	case "CronJob":
		err = suspendCronJob(ctx, env, ref, &rec)
	case "DaemonSet":
		err = suspendDaemonSet(ctx, env, ref, &rec)
	default:
		err = fmt.Errorf("suspend %s: %w", ref, ErrNotSuspendable)
	}
	if err != nil {
		return rec, fmt.Errorf("suspend workload %s: %w", ref, err)
	}
	env.log().Info("suspended workload", "object", ref.String(), "changed", rec.Changed,
		"incident", env.Incident, "dry_run", env.DryRun)
	return rec, nil
}

// mark returns the metadata patch that labels an object with the incident
// and, when st is not nil, records st as its restore annotation.
func mark(env Env, st *suspendState) (labels, annotations map[string]*string) {
	labels = map[string]*string{LabelIncident: strp(env.incidentLabel())}
	if st != nil {
		annotations = map[string]*string{AnnotationRestore: strp(string(mustJSON(st)))}
	}
	return labels, annotations
}

// unmark removes the incident label and restore annotation.
func unmark() (labels, annotations map[string]*string) {
	return map[string]*string{LabelIncident: nil}, map[string]*string{AnnotationRestore: nil}
}

// suspendScaled scales a workload to 0, starting over from a fresh read
// when the object changed under it.
//
// rs names the Deployment's ReplicaSet of the alerting pod, if known: with
// deletePods it is scaled to 0 without being looked up first.
//
// read, if not nil, is the workload as read moments ago: the first attempt
// starts from it, a conflict from a fresh read.
func suspendScaled(ctx context.Context, env Env, ref ObjectRef, deletePods bool, rs string, read metav1.Object, rec *Record) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj := read
		read = nil
		return suspendScaledOnce(ctx, env, ref, deletePods, rs, obj, rec)
	})
}

// replicaSetOf names the ReplicaSet between the pod and its Deployment.
func replicaSetOf(t Target) string {
	l := t.Chain.Links
	if len(l) == 3 && l[1].Kind == "ReplicaSet" && l[2].Kind == "Deployment" {
		return l[1].Name
	}
	return ""
}

func suspendScaledOnce(ctx context.Context, env Env, ref ObjectRef, deletePods bool, rs string, obj metav1.Object, rec *Record) error {
	var err error
	if obj == nil {
		if obj, err = GetObject(ctx, env.Client, ref); err != nil {
			return err
		}
	}
	rec.Object, rec.GitOps = refOf(ref.Kind, obj), gitOpsOwner(obj)
	var st suspendState
	had, err := readRestore(obj, ActionSuspend, &st)
	if err != nil {
		return err
	}
	replicas := replicasOf(obj)
	before := suspendState{Kind: ref.Kind, Name: ref.Name, Replicas: &replicas}
	if !had {
		// One write: the restore point and replicas 0, on the version read
		// (a concurrent change is a conflict, and the suspension starts
		// over from a fresh read).
		st = before
		st.Incident = env.Incident
		l, an := mark(env, &st)
		obj, err = patchObject(ctx, env, ref, metaPatch(l, an, obj.GetResourceVersion(), map[string]any{"replicas": 0}))
		if err != nil {
			return err
		}
		rec.Changed = replicas != 0
	} else {
		// The scale subresource shares the object's resourceVersion: a
		// concurrent change fails the update and scaleTo re-reads the scale.
		scale := &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Name: ref.Name, Namespace: ref.Namespace, ResourceVersion: obj.GetResourceVersion()},
			Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
		}
		if env.DryRun {
			scale = nil
		}
		rec.Changed, err = scaleTo(ctx, env, ref, scale, 0)
	}
	if err == nil && deletePods {
		var n int
		n, err = deleteScaledPods(ctx, env, ref, obj, rs)
		rec.Changed = rec.Changed || n > 0
	}
	if err != nil {
		return err
	}
	// The HPAs only go into the record: they are listed once the pods are
	// gone, not while the API server is busy with the suspension.
	hpas, err := hpasFor(ctx, env, ref)
	if err != nil {
		return err
	}
	rec.HPAs, before.HPAs = hpas, hpas
	if !had {
		st.HPAs = hpas
	}
	for _, h := range hpas {
		if h.MinReplicas != nil && *h.MinReplicas == 0 {
			rec.Notes = append(rec.Notes, "HorizontalPodAutoscaler "+h.Name+" has minReplicas 0 and may scale the workload up from zero")
		} else {
			rec.Notes = append(rec.Notes, "HorizontalPodAutoscaler "+h.Name+" left unchanged: it does not scale a target at 0 replicas")
		}
	}
	rec.Before, rec.Restore = mustJSON(before), mustJSON(st)
	zero := int32(0)
	rec.After = mustJSON(suspendState{Kind: ref.Kind, Name: ref.Name, Replicas: &zero, HPAs: hpas})
	return nil
}

// replicasOf reads spec.replicas of a scalable workload (1 when unset,
// the API default).
func replicasOf(obj metav1.Object) int32 {
	var r *int32
	switch o := obj.(type) {
	case *appsv1.Deployment:
		r = o.Spec.Replicas
	case *appsv1.StatefulSet:
		r = o.Spec.Replicas
	case *appsv1.ReplicaSet:
		r = o.Spec.Replicas
	case *corev1.ReplicationController:
		r = o.Spec.Replicas
	}
	if r == nil {
		return 1
	}
	return *r
}

// hpasFor lists the autoscaling/v2 HPAs whose target is ref.
func hpasFor(ctx context.Context, env Env, ref ObjectRef) ([]HPAState, error) {
	l, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(ref.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list horizontal pod autoscalers in %s: %w", ref.Namespace, err)
	}
	var out []HPAState
	for _, h := range l.Items {
		if h.Spec.ScaleTargetRef.Kind == ref.Kind && h.Spec.ScaleTargetRef.Name == ref.Name {
			out = append(out, HPAState{Name: h.Name, MinReplicas: h.Spec.MinReplicas, MaxReplicas: h.Spec.MaxReplicas})
		}
	}
	return out, nil
}

func isSuspended(j *batchv1.Job) bool { return j.Spec.Suspend != nil && *j.Spec.Suspend }

func jobFinished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// suspendOneJob suspends job (recording its state in its annotation unless
// one is there) and deletes its remaining pods. It reports whether it
// changed anything.
func suspendOneJob(ctx context.Context, env Env, job *batchv1.Job) (bool, error) {
	ref := refOf("Job", job)
	var st suspendState
	had, err := readRestore(job, ActionSuspend, &st)
	if err != nil {
		return false, err
	}
	suspended := isSuspended(job)
	changed := false
	if !had || !suspended {
		var stp *suspendState
		if !had {
			stp = &suspendState{Incident: env.Incident, Kind: "Job", Name: job.Name, Suspend: &suspended}
		}
		l, an := mark(env, stp)
		if _, err := patchObject(ctx, env, ref, metaPatch(l, an, "", map[string]any{"suspend": true})); err != nil {
			return false, err
		}
		changed = !suspended
	}
	n, err := deleteJobPods(ctx, env, job)
	return changed || n > 0, err
}

// deleteJobPods deletes the pods of job not already terminating.
func deleteJobPods(ctx context.Context, env Env, job *batchv1.Job) (int, error) {
	l, err := env.Client.CoreV1().Pods(job.Namespace).List(ctx, metav1.ListOptions{LabelSelector: batchv1.ControllerUidLabel + "=" + string(job.UID)})
	if err != nil {
		return 0, fmt.Errorf("list pods of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return deletePods(ctx, env, l.Items)
}

func suspendJob(ctx context.Context, env Env, ref ObjectRef, rec *Record) error {
	job, err := env.Client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get job %s: %w", ref, err)
	}
	rec.Object, rec.GitOps = refOf("Job", job), gitOpsOwner(job)
	suspended := isSuspended(job)
	rec.Before = mustJSON(suspendState{Kind: "Job", Name: job.Name, Suspend: &suspended})
	var st suspendState
	had, err := readRestore(job, ActionSuspend, &st)
	if err != nil {
		return err
	}
	if !had {
		st = suspendState{Incident: env.Incident, Kind: "Job", Name: job.Name, Suspend: &suspended}
	}
	rec.Restore = mustJSON(st)
	if rec.Changed, err = suspendOneJob(ctx, env, job); err != nil {
		return err
	}
	rec.After = mustJSON(suspendState{Kind: "Job", Name: job.Name, Suspend: new(true)})
	return nil
}

// ownedJobs lists the Jobs whose controller is the CronJob uid.
func ownedJobs(ctx context.Context, env Env, ns string, uid types.UID) ([]batchv1.Job, error) {
	l, err := env.Client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list jobs in %s: %w", ns, err)
	}
	var out []batchv1.Job
	for _, j := range l.Items {
		if c := metav1.GetControllerOfNoCopy(&j); c != nil && c.UID == uid {
			out = append(out, j)
		}
	}
	return out, nil
}

func suspendCronJob(ctx context.Context, env Env, ref ObjectRef, rec *Record) error {
	cj, err := env.Client.BatchV1().CronJobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get cronjob %s: %w", ref, err)
	}
	rec.Object, rec.GitOps = refOf("CronJob", cj), gitOpsOwner(cj)
	suspended := cj.Spec.Suspend != nil && *cj.Spec.Suspend
	jobs, err := ownedJobs(ctx, env, cj.Namespace, cj.UID)
	if err != nil {
		return err
	}
	var active []*batchv1.Job
	for i := range jobs {
		if !jobFinished(&jobs[i]) {
			active = append(active, &jobs[i])
		}
	}
	var st suspendState
	had, err := readRestore(cj, ActionSuspend, &st)
	if err != nil {
		return err
	}
	before := suspendState{Kind: "CronJob", Name: cj.Name, Suspend: &suspended}
	for _, j := range active {
		before.Jobs = append(before.Jobs, j.Name)
	}
	rec.Before = mustJSON(before)
	if !had {
		st = suspendState{Incident: env.Incident, Kind: "CronJob", Name: cj.Name, Suspend: &suspended}
	}
	// Record every Job quell suspends now or suspended before.
	newJobs := false
	for _, j := range active {
		var js suspendState
		jobHad, err := readRestore(j, ActionSuspend, &js)
		if err != nil {
			return err
		}
		if (!isSuspended(j) || jobHad) && !slices.Contains(st.Jobs, j.Name) {
			st.Jobs = append(st.Jobs, j.Name)
			newJobs = true
		}
	}
	if !had || newJobs || !suspended {
		l, an := mark(env, &st)
		if had && !newJobs {
			an = nil
		}
		if _, err := patchObject(ctx, env, rec.Object, metaPatch(l, an, "", map[string]any{"suspend": true})); err != nil {
			return err
		}
	}
	rec.Restore = mustJSON(st)
	rec.Changed = !suspended
	var errs []error
	for _, j := range active {
		changed, err := suspendOneJob(ctx, env, j)
		rec.Changed = rec.Changed || changed
		errs = append(errs, err)
	}
	rec.After = mustJSON(suspendState{Kind: "CronJob", Name: cj.Name, Suspend: new(true), Jobs: before.Jobs})
	return errors.Join(errs...)
}

func suspendDaemonSet(ctx context.Context, env Env, ref ObjectRef, rec *Record) error {
	ds, err := env.Client.AppsV1().DaemonSets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get daemonset %s: %w", ref, err)
	}
	rec.Object, rec.GitOps = refOf("DaemonSet", ds), gitOpsOwner(ds)
	sel := ds.Spec.Template.Spec.NodeSelector
	rec.Before = mustJSON(suspendState{Kind: "DaemonSet", Name: ds.Name, NodeSelector: sel})
	var st suspendState
	had, err := readRestore(ds, ActionSuspend, &st)
	if err != nil {
		return err
	}
	if !had {
		st = suspendState{Incident: env.Incident, Kind: "DaemonSet", Name: ds.Name, NodeSelector: sel}
	}
	rec.Restore = mustJSON(st)
	_, suspended := sel[NodeSelectorSuspended]
	if !had || !suspended {
		var stp *suspendState
		if !had {
			stp = &st
		}
		l, an := mark(env, stp)
		spec := map[string]any{"template": map[string]any{"spec": map[string]any{
			"nodeSelector": map[string]string{NodeSelectorSuspended: env.incidentLabel()}}}}
		if _, err := patchObject(ctx, env, rec.Object, metaPatch(l, an, "", spec)); err != nil {
			return err
		}
	}
	rec.Changed = !suspended
	after := map[string]string{}
	for k, v := range sel {
		after[k] = v
	}
	if !suspended {
		after[NodeSelectorSuspended] = env.incidentLabel()
	}
	rec.After = mustJSON(suspendState{Kind: "DaemonSet", Name: ds.Name, NodeSelector: after})
	return nil
}

// restoreState picks the state to restore: the Record's, else the
// annotation's.
func restoreState(rec Record, ann suspendState, had bool) (suspendState, bool, error) {
	if len(rec.Restore) > 0 {
		var st suspendState
		if err := json.Unmarshal(rec.Restore, &st); err != nil {
			return st, false, fmt.Errorf("decode restore data: %w", err)
		}
		return st, true, nil
	}
	return ann, had, nil
}
