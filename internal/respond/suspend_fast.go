package respond

import (
	"context"
	"errors"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// fastRules are the extra rules Suspend.DeletePods needs for kind.
func fastRules(kind string) []rbacv1.PolicyRule {
	rules := []rbacv1.PolicyRule{rule("", "pods", nil, "delete")}
	if kind == "Deployment" {
		rules = append(rules,
			rule("apps", "replicasets", nil, "list"),
			rule("apps", "replicasets/scale", nil, "get", "update"))
	}
	return rules
}

// deleteScaledPods is Suspend.DeletePods for a scalable workload already
// scaled to 0: a Deployment's ReplicaSets are scaled to 0 as well (what
// the Deployment controller would do next), then the pods matching the
// workload's selector are deleted in parallel, each once nothing would
// recreate it: the alerting pod's ReplicaSet (rs) is scaled at once, and
// its pods are deleted without waiting for the others to be listed and
// scaled. It returns how many pods it deleted.
func deleteScaledPods(ctx context.Context, env Env, ref ObjectRef, obj metav1.Object, rs string) (int, error) {
	sel, err := selectorOf(obj)
	if err != nil {
		return 0, err
	}
	// The pods are listed while the ReplicaSets are scaled.
	type listed struct {
		pods []corev1.Pod
		err  error
	}
	podsC := make(chan listed, 1)
	go func() {
		pl, err := env.Client.CoreV1().Pods(ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			podsC <- listed{err: fmt.Errorf("list pods of %s: %w", ref, err)}
			return
		}
		podsC <- listed{pods: pl.Items}
	}()
	known, others := done(nil), done(nil)
	if ref.Kind == "Deployment" { // rs is named only below a Deployment
		known, others = scaleReplicaSetsToZero(ctx, env, ref, obj, sel, rs)
	}
	l := <-podsC
	if l.err != nil {
		return 0, errors.Join(l.err, <-known, <-others)
	}
	var ofKnown, rest []corev1.Pod
	for _, p := range l.pods {
		if c := metav1.GetControllerOfNoCopy(&p); c != nil && c.Kind == "ReplicaSet" && c.Name == rs {
			ofKnown = append(ofKnown, p)
		} else {
			rest = append(rest, p)
		}
	}
	var (
		n    [2]int
		errs [2]error
		wg   sync.WaitGroup
	)
	for i, part := range []struct {
		scaled <-chan error
		pods   []corev1.Pod
	}{{known, ofKnown}, {others, rest}} {
		wg.Go(func() {
			if errs[i] = <-part.scaled; errs[i] == nil {
				n[i], errs[i] = deletePods(ctx, env, part.pods)
			}
		})
	}
	wg.Wait()
	return n[0] + n[1], errors.Join(errs[:]...)
}

// done returns a channel that delivers err.
func done(err error) <-chan error {
	c := make(chan error, 1)
	c <- err
	return c
}

// scaleReplicaSetsToZero scales the Deployment's ReplicaSets to 0, as its
// controller would next: known (the alerting pod's, unconditionally, at
// once) and the listed others (any still running, e.g. mid-rollout)
// together. Each channel delivers the outcome of its part.
func scaleReplicaSetsToZero(ctx context.Context, env Env, ref ObjectRef, obj metav1.Object, sel labels.Selector, known string) (knownC, othersC <-chan error) {
	kc, oc := make(chan error, 1), make(chan error, 1)
	go func() {
		if known == "" {
			kc <- nil
			return
		}
		s := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: known, Namespace: ref.Namespace}}
		_, err := updateScale(ctx, env, ObjectRef{Kind: "ReplicaSet", Namespace: ref.Namespace, Name: known}, s)
		if err != nil && !apierrors.IsNotFound(err) {
			kc <- fmt.Errorf("scale replica set %s/%s to 0: %w", ref.Namespace, known, err)
			return
		}
		kc <- nil
	}()
	go func() {
		rsl, err := env.Client.AppsV1().ReplicaSets(ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			oc <- fmt.Errorf("list replica sets of %s: %w", ref, err)
			return
		}
		for _, rs := range rsl.Items {
			c := metav1.GetControllerOfNoCopy(&rs)
			if rs.Name == known || c == nil || c.UID != obj.GetUID() || rs.Spec.Replicas == nil || *rs.Spec.Replicas == 0 {
				continue
			}
			s := &autoscalingv1.Scale{ // the listed resourceVersion: a concurrent change is a conflict
				ObjectMeta: metav1.ObjectMeta{Name: rs.Name, Namespace: rs.Namespace, ResourceVersion: rs.ResourceVersion},
				Spec:       autoscalingv1.ScaleSpec{Replicas: *rs.Spec.Replicas},
			}
			if _, err := scaleTo(ctx, env, refOf("ReplicaSet", &rs), s, 0); err != nil {
				oc <- err
				return
			}
		}
		oc <- nil
	}()
	return kc, oc
}

// deletePods deletes pods not already terminating, in parallel, each
// preconditioned on its UID.
func deletePods(ctx context.Context, env Env, pods []corev1.Pod) (int, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		n    int
		errs []error
	)
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		wg.Go(func() {
			opts := env.deleteOpts()
			opts.Preconditions = &metav1.Preconditions{UID: &p.UID}
			err := env.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, opts)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				n++
			case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			default:
				errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
			}
		})
	}
	wg.Wait()
	return n, errors.Join(errs...)
}

// selectorOf returns the pod selector of a workload object.
func selectorOf(obj metav1.Object) (labels.Selector, error) {
	var ls *metav1.LabelSelector
	switch o := obj.(type) {
	case *appsv1.Deployment:
		ls = o.Spec.Selector
	case *appsv1.StatefulSet:
		ls = o.Spec.Selector
	case *appsv1.ReplicaSet:
		ls = o.Spec.Selector
	case *appsv1.DaemonSet:
		ls = o.Spec.Selector
	case *batchv1.Job:
		ls = o.Spec.Selector
	case *corev1.ReplicationController:
		ls = &metav1.LabelSelector{MatchLabels: o.Spec.Selector}
	default:
		return nil, fmt.Errorf("%T has no pod selector", obj)
	}
	s, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, fmt.Errorf("selector of %s: %w", obj.GetName(), err)
	}
	if s.Empty() {
		return nil, fmt.Errorf("%s has an empty selector", obj.GetName())
	}
	return s, nil
}
