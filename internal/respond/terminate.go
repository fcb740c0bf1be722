package respond

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Terminate deletes the target pod ("terminate-pod"). The delete is
// preconditioned on the pod's UID, so a pod recreated under the same name
// is never deleted by mistake; a pod already gone (or replaced) is success
// with Changed=false. Env.GracePeriod sets the grace period (0 forces).
// It is not reversible.
type Terminate struct{}

// Name implements Action.
func (*Terminate) Name() string { return ActionTerminate }

// Rules implements Action: get and delete the pod, list and watch pods of
// the namespace for Verify.
func (*Terminate) Rules(t Target) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		kindRule("Pod", "", t.Pod, "get", "delete"),
		rule("", "pods", nil, "list", "watch"),
	}
}

type podState struct {
	UID     string `json:"uid,omitempty"`
	Deleted bool   `json:"deleted"`
	Note    string `json:"note,omitempty"`
}

// Apply implements Action.
func (a *Terminate) Apply(ctx context.Context, env Env, t Target) (Record, error) {
	rec := newRecord(a.Name(), env, t)
	defer rec.finish()
	pods := env.Client.CoreV1().Pods(t.Namespace)
	uid := t.podUID()
	if uid == "" { // unresolved target: pin the pod seen now
		p, err := pods.Get(ctx, t.Pod, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			rec.Object = ObjectRef{Kind: "Pod", Namespace: t.Namespace, Name: t.Pod}
			rec.Before, rec.After = mustJSON(podState{Deleted: true}), mustJSON(podState{Deleted: true})
			return rec, nil
		}
		if err != nil {
			return rec, fmt.Errorf("get pod %s/%s: %w", t.Namespace, t.Pod, err)
		}
		uid = string(p.UID)
	}
	rec.Object = ObjectRef{Kind: "Pod", Namespace: t.Namespace, Name: t.Pod, UID: uid}
	rec.Before = mustJSON(podState{UID: uid})
	opts := env.deleteOpts()
	opts.Preconditions = &metav1.Preconditions{UID: ptrUID(uid)}
	err := pods.Delete(ctx, t.Pod, opts)
	switch {
	case err == nil:
		rec.Changed = true
		rec.After = mustJSON(podState{UID: uid, Deleted: true})
	case apierrors.IsNotFound(err):
		rec.After = mustJSON(podState{UID: uid, Deleted: true, Note: "already gone"})
	case apierrors.IsConflict(err): // UID precondition: the name now belongs to another pod
		rec.After = mustJSON(podState{UID: uid, Deleted: true, Note: "replaced by another pod of the same name"})
	default:
		return rec, fmt.Errorf("delete pod %s/%s: %w", t.Namespace, t.Pod, err)
	}
	env.log().Debug("terminated pod", "pod", t.Pod, "namespace", t.Namespace, "uid", uid,
		"changed", rec.Changed, "incident", env.Incident, "dry_run", env.DryRun)
	return rec, nil
}

func ptrUID(s string) *types.UID { u := types.UID(s); return &u }
