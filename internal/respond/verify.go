package respond

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// ErrDryRun is returned by Verify for a dry-run Record: nothing was
// changed, so nothing can be verified.
var ErrDryRun = errors.New("dry-run record: nothing to verify")

// ErrNotContained is returned (wrapped) by Verify when the action's effect
// does not hold; the message says why.
var ErrNotContained = errors.New("not contained")

// Verify checks that rec's effect holds on the cluster:
//
//   - suspend-workload: a watch on the workload's pods sees none, then none
//     for Env.VerifyHold. A pod appearing during the hold fails it, unless
//     a controller made it while the workload is still at 0 replicas (the
//     Deployment controller, seeing its ReplicaSet scaled before the
//     Deployment, may scale it back up for a moment): then the wait starts
//     over once the controllers have removed it.
//   - terminate-pod: the pod's UID is gone. A replacement of another UID is
//     accepted for a controller's pod, and fails it for a bare pod (which
//     must also stay absent for the hold).
//   - isolate-pod, cordon-node, label, annotate: the state is read back.
//
// Verify waits at most Env.VerifyTimeout (and ctx). Failures wrap
// ErrNotContained.
func Verify(ctx context.Context, env Env, t Target, rec Record) error {
	if rec.DryRun {
		return ErrDryRun
	}
	ctx, cancel := context.WithTimeout(ctx, env.verifyTimeout())
	defer cancel()
	var err error
	switch rec.Action {
	case ActionSuspend:
		err = verifySuspended(ctx, env, rec)
	case ActionTerminate:
		err = verifyTerminated(ctx, env, t, rec)
	case ActionIsolate:
		err = verifyIsolated(ctx, env, rec)
	case ActionCordon:
		err = verifyCordoned(ctx, env, rec)
	case ActionLabel, ActionAnnotate:
		err = verifyMeta(ctx, env, rec)
	case ActionEvidence:
		if len(rec.Evidence) == 0 {
			err = fmt.Errorf("no evidence captured: %w", ErrNotContained)
		}
	default:
		err = fmt.Errorf("action %q has no verification", rec.Action)
	}
	if err != nil {
		return fmt.Errorf("verify %s on %s: %w", rec.Action, rec.Object, err)
	}
	return nil
}

// podWait is one watch for pods: counted pods must all go; reject fails
// the wait at once when it returns an error.
type podWait struct {
	ns      string
	opts    metav1.ListOptions
	counted func(*corev1.Pod) bool
	reject  func(*corev1.Pod) error
	hold    time.Duration
	what    string
	// stillHeld, when set, is asked when a counted pod appears during the
	// hold: nil means the suspension still holds (the controllers
	// recreated a pod while catching up with the scale to 0, and will
	// delete it), so the wait starts over once it is gone; an error fails
	// the verification.
	stillHeld func(ctx context.Context, p *corev1.Pod) error
}

// run lists then watches until no counted pod exists and none appears
// for the hold period.
func (w podWait) run(ctx context.Context, env Env) error {
	pods := env.Client.CoreV1().Pods(w.ns)
	present := map[types.UID]string{}
	var holdC <-chan time.Time
	holding := false
	// see records one pod state; it fails on a rejected pod or on a
	// counted pod appearing during the hold.
	see := func(p *corev1.Pod, gone bool) error {
		if gone {
			delete(present, p.UID)
			return nil
		}
		if w.reject != nil {
			if err := w.reject(p); err != nil {
				return err
			}
		}
		if !w.counted(p) {
			return nil
		}
		if holding {
			if w.stillHeld == nil {
				return fmt.Errorf("pod %s of %s appeared during the %s hold: %w", p.Name, w.what, w.hold, ErrNotContained)
			}
			if err := w.stillHeld(ctx, p); err != nil {
				return fmt.Errorf("pod %s of %s appeared during the %s hold: %w", p.Name, w.what, w.hold, err)
			}
			holding, holdC = false, nil // wait for it to go, then hold again
		}
		present[p.UID] = p.Name
		return nil
	}
	relist := func() (string, error) {
		l, err := pods.List(ctx, w.opts)
		if err != nil {
			return "", fmt.Errorf("list pods of %s: %w", w.what, err)
		}
		clear(present)
		for i := range l.Items {
			if err := see(&l.Items[i], false); err != nil {
				return "", err
			}
		}
		return l.ResourceVersion, nil
	}
	rv, err := relist()
	if err != nil {
		return err
	}
	for {
		if len(present) == 0 && !holding {
			if w.hold <= 0 {
				return nil
			}
			holding = true
			holdC = time.After(w.hold)
		}
		opts := w.opts
		opts.ResourceVersion, opts.AllowWatchBookmarks = rv, true
		wi, err := pods.Watch(ctx, opts)
		if err != nil {
			if ctx.Err() != nil {
				return w.timeout(ctx, present)
			}
			return fmt.Errorf("watch pods of %s: %w", w.what, err)
		}
		rv, err = w.consume(ctx, wi, see, present, &holding, &holdC, rv)
		wi.Stop()
		if err != nil || rv == "" {
			return err
		}
		if rv == "relist" {
			if rv, err = relist(); err != nil {
				return err
			}
		}
	}
}

// consume reads one watch until it ends. It returns the resourceVersion to
// watch from next, "relist" when the watch expired, or "" and an error or
// nil when the wait is over.
func (w podWait) consume(ctx context.Context, wi watch.Interface, see func(*corev1.Pod, bool) error,
	present map[types.UID]string, holding *bool, holdC *<-chan time.Time, rv string) (string, error) {
	for {
		if len(present) == 0 && !*holding {
			if w.hold <= 0 {
				return "", nil
			}
			*holding = true
			*holdC = time.After(w.hold)
		}
		select {
		case <-ctx.Done():
			return "", w.timeout(ctx, present)
		case <-*holdC:
			return "", nil
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return rv, nil
			}
			switch ev.Type {
			case watch.Error:
				return "relist", nil // e.g. 410 Gone: the resourceVersion expired
			case watch.Bookmark:
				if p, ok := ev.Object.(*corev1.Pod); ok {
					rv = p.ResourceVersion
				}
			case watch.Added, watch.Modified, watch.Deleted:
				p, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				rv = p.ResourceVersion
				if err := see(p, ev.Type == watch.Deleted); err != nil {
					return "", err
				}
			}
		}
	}
}

func (w podWait) timeout(ctx context.Context, present map[types.UID]string) error {
	names := slices.Sorted(maps.Values(present))
	if len(names) == 0 {
		return fmt.Errorf("%s: %w", w.what, context.Cause(ctx))
	}
	return fmt.Errorf("%d pod(s) of %s remain (%v): %w: %w", len(names), w.what, names, ErrNotContained, context.Cause(ctx))
}

func verifySuspended(ctx context.Context, env Env, rec Record) error {
	ref := rec.Object
	w := podWait{ns: ref.Namespace, hold: env.verifyHold(), what: ref.String()}
	if ref.Kind == "CronJob" {
		cj, err := env.Client.BatchV1().CronJobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get %s: %w", ref, err)
		}
		w.opts = metav1.ListOptions{LabelSelector: batchv1.ControllerUidLabel}
		w.counted = cronJobPods(ctx, env, cj.UID)
		return w.run(ctx, env)
	}
	if _, ok := kinds[ref.Kind]; !ok || ref.Kind == "Pod" || ref.Kind == "Node" {
		return fmt.Errorf("kind %s: %w", ref.Kind, ErrNotSuspendable)
	}
	obj, err := GetObject(ctx, env.Client, ref)
	if err != nil {
		return err
	}
	sel, err := selectorOf(obj)
	if err != nil {
		return err
	}
	w.opts = metav1.ListOptions{LabelSelector: sel.String()}
	w.counted = func(*corev1.Pod) bool { return true }
	if _, scalable := scalableKinds[ref.Kind]; scalable {
		w.stillHeld = func(ctx context.Context, p *corev1.Pod) error {
			if metav1.GetControllerOfNoCopy(p) == nil {
				return fmt.Errorf("no controller made it: %w", ErrNotContained) // someone started it by hand
			}
			obj, err := GetObject(ctx, env.Client, ref)
			if err != nil {
				return fmt.Errorf("read %s: %w", ref, err)
			}
			if n := replicasOf(obj); n != 0 {
				return fmt.Errorf("%s is at %d replicas again: %w", ref, n, ErrNotContained)
			}
			return nil
		}
	}
	return w.run(ctx, env)
}

// scalableKinds are suspended by scaling to 0.
var scalableKinds = map[string]struct{}{"Deployment": {}, "StatefulSet": {}, "ReplicaSet": {}, "ReplicationController": {}}

// cronJobPods matches pods whose Job is controlled by the CronJob uid.
func cronJobPods(ctx context.Context, env Env, uid types.UID) func(*corev1.Pod) bool {
	owned := map[types.UID]bool{}
	return func(p *corev1.Pod) bool {
		c := metav1.GetControllerOfNoCopy(p)
		if c == nil || c.Kind != "Job" {
			return false
		}
		if v, ok := owned[c.UID]; ok {
			return v
		}
		j, err := env.Client.BatchV1().Jobs(p.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil {
			return !apierrors.IsNotFound(err) // unknown: count it, to be safe
		}
		jc := metav1.GetControllerOfNoCopy(j)
		owned[c.UID] = jc != nil && jc.UID == uid
		return owned[c.UID]
	}
}

func verifyTerminated(ctx context.Context, env Env, t Target, rec Record) error {
	ref := rec.Object
	if ref.UID == "" {
		return errors.New("record has no pod UID")
	}
	bare := t.bare()
	w := podWait{
		ns:      ref.Namespace,
		opts:    metav1.ListOptions{FieldSelector: "metadata.name=" + ref.Name},
		counted: func(p *corev1.Pod) bool { return string(p.UID) == ref.UID },
		what:    ref.String(),
	}
	if bare {
		w.hold = env.verifyHold()
		w.reject = func(p *corev1.Pod) error {
			if string(p.UID) != ref.UID {
				return fmt.Errorf("bare pod %s was recreated (uid %s): %w", p.Name, p.UID, ErrNotContained)
			}
			return nil
		}
	}
	return w.run(ctx, env)
}

func verifyIsolated(ctx context.Context, env Env, rec Record) error {
	_, err := env.Client.NetworkingV1().NetworkPolicies(rec.Object.Namespace).Get(ctx, PolicyName(rec.Incident), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("network policy %s: %w: %w", PolicyName(rec.Incident), err, ErrNotContained)
	}
	p, err := env.Client.CoreV1().Pods(rec.Object.Namespace).Get(ctx, rec.Object.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.Labels[LabelQuarantine] != strconv.FormatInt(rec.Incident, 10) {
		return fmt.Errorf("pod %s lacks label %s: %w", p.Name, LabelQuarantine, ErrNotContained)
	}
	return nil
}

func verifyCordoned(ctx context.Context, env Env, rec Record) error {
	n, err := env.Client.CoreV1().Nodes().Get(ctx, rec.Object.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if !n.Spec.Unschedulable {
		return fmt.Errorf("node %s is schedulable: %w", n.Name, ErrNotContained)
	}
	return nil
}

func verifyMeta(ctx context.Context, env Env, rec Record) error {
	obj, err := GetObject(ctx, env.Client, rec.Object)
	if err != nil {
		return err
	}
	var after metaState
	if err := jsonUnmarshal(rec.After, &after); err != nil {
		return err
	}
	if !sameAs(obj.GetLabels(), after.Labels) || !sameAs(obj.GetAnnotations(), after.Annotations) {
		return fmt.Errorf("%s does not carry the values set: %w", rec.Object, ErrNotContained)
	}
	return nil
}
