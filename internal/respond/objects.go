package respond

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// kindInfo is what quell knows of a kind it may act on.
type kindInfo struct {
	group, resource string
	clusterScoped   bool
}

var kinds = map[string]kindInfo{
	"Pod":                   {"", "pods", false},
	"Node":                  {"", "nodes", true},
	"ReplicationController": {"", "replicationcontrollers", false},
	"Deployment":            {"apps", "deployments", false},
	"StatefulSet":           {"apps", "statefulsets", false},
	"ReplicaSet":            {"apps", "replicasets", false},
	"DaemonSet":             {"apps", "daemonsets", false},
	"Job":                   {"batch", "jobs", false},
	"CronJob":               {"batch", "cronjobs", false},
}

// KnownKind reports whether GetObject reads kind.
func KnownKind(kind string) bool {
	_, ok := kinds[kind]
	return ok
}

// GetObject reads ref's object, for the kinds quell acts on (pods, nodes
// and the workload controllers); errors wrap the API error, so
// apierrors.IsNotFound works on them.
func GetObject(ctx context.Context, cs kubernetes.Interface, ref ObjectRef) (metav1.Object, error) {
	return getObject(ctx, cs, ref, metav1.GetOptions{})
}

// getRecent reads ref's object from the API server's watch cache
// (resourceVersion 0) instead of a quorum read of etcd: the object as it
// was at most moments before, which etcd's watch feeds. An object the
// watch cache does not hold yet (created moments before) is read from
// etcd.
func getRecent(ctx context.Context, cs kubernetes.Interface, ref ObjectRef) (metav1.Object, error) {
	obj, err := getObject(ctx, cs, ref, metav1.GetOptions{ResourceVersion: "0"})
	if apierrors.IsNotFound(err) {
		return GetObject(ctx, cs, ref)
	}
	return obj, err
}

func getObject(ctx context.Context, cs kubernetes.Interface, ref ObjectRef, opts metav1.GetOptions) (metav1.Object, error) {
	var (
		obj metav1.Object
		err error
	)
	switch ref.Kind {
	case "Pod":
		obj, err = cs.CoreV1().Pods(ref.Namespace).Get(ctx, ref.Name, opts)
	case "Node":
		obj, err = cs.CoreV1().Nodes().Get(ctx, ref.Name, opts)
	case "ReplicationController":
		obj, err = cs.CoreV1().ReplicationControllers(ref.Namespace).Get(ctx, ref.Name, opts)
	case "Deployment":
		obj, err = cs.AppsV1().Deployments(ref.Namespace).Get(ctx, ref.Name, opts)
	case "StatefulSet":
		obj, err = cs.AppsV1().StatefulSets(ref.Namespace).Get(ctx, ref.Name, opts)
	case "ReplicaSet":
		obj, err = cs.AppsV1().ReplicaSets(ref.Namespace).Get(ctx, ref.Name, opts)
	case "DaemonSet":
		obj, err = cs.AppsV1().DaemonSets(ref.Namespace).Get(ctx, ref.Name, opts)
	case "Job":
		obj, err = cs.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, opts)
	case "CronJob":
		obj, err = cs.BatchV1().CronJobs(ref.Namespace).Get(ctx, ref.Name, opts)
	default:
		return nil, fmt.Errorf("get %s: kind not handled", ref)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", ref, err)
	}
	return obj, nil
}

// patchObject applies a JSON merge patch to ref's object.
func patchObject(ctx context.Context, env Env, ref ObjectRef, patch []byte) (metav1.Object, error) {
	cs, opts, pt := env.Client, env.patchOpts(), types.MergePatchType
	var (
		obj metav1.Object
		err error
	)
	switch ref.Kind {
	case "Pod":
		obj, err = cs.CoreV1().Pods(ref.Namespace).Patch(ctx, ref.Name, pt, patch, opts)
	case "Node":
		obj, err = cs.CoreV1().Nodes().Patch(ctx, ref.Name, pt, patch, opts)
	case "ReplicationController":
		obj, err = cs.CoreV1().ReplicationControllers(ref.Namespace).Patch(ctx, ref.Name, pt, patch, opts)
	case "Deployment":
		obj, err = cs.AppsV1().Deployments(ref.Namespace).Patch(ctx, ref.Name, pt, patch, opts)
	case "StatefulSet":
		obj, err = cs.AppsV1().StatefulSets(ref.Namespace).Patch(ctx, ref.Name, pt, patch, opts)
	case "ReplicaSet":
		obj, err = cs.AppsV1().ReplicaSets(ref.Namespace).Patch(ctx, ref.Name, pt, patch, opts)
	case "DaemonSet":
		obj, err = cs.AppsV1().DaemonSets(ref.Namespace).Patch(ctx, ref.Name, pt, patch, opts)
	case "Job":
		obj, err = cs.BatchV1().Jobs(ref.Namespace).Patch(ctx, ref.Name, pt, patch, opts)
	case "CronJob":
		obj, err = cs.BatchV1().CronJobs(ref.Namespace).Patch(ctx, ref.Name, pt, patch, opts)
	default:
		return nil, fmt.Errorf("patch %s: kind not handled", ref)
	}
	if err != nil {
		return nil, fmt.Errorf("patch %s: %w", ref, err)
	}
	env.log().Debug("patched object", "object", ref.String(), "incident", env.Incident, "dry_run", env.DryRun)
	return obj, nil
}

// metaPatch builds a merge patch of metadata: a nil value removes the key.
// resourceVersion, when set, makes the patch fail on a concurrent change.
func metaPatch(labels, annotations map[string]*string, resourceVersion string, spec any) []byte {
	md := map[string]any{}
	if len(labels) > 0 {
		md["labels"] = labels
	}
	if len(annotations) > 0 {
		md["annotations"] = annotations
	}
	if resourceVersion != "" {
		md["resourceVersion"] = resourceVersion
	}
	p := map[string]any{"metadata": md}
	if spec != nil {
		p["spec"] = spec
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("respond: marshal patch: %v", err))
	}
	return b
}

func strp(s string) *string { return &s }

// readRestore decodes obj's restore annotation for action into v, and
// reports whether there was one.
func readRestore(obj metav1.Object, action string, v any) (bool, error) {
	raw, ok := obj.GetAnnotations()[restoreAnnotation(action)]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return false, fmt.Errorf("decode annotation %s: %w", restoreAnnotation(action), err)
	}
	return true, nil
}

// refOf names obj as a ref of kind.
func refOf(kind string, obj metav1.Object) ObjectRef {
	return ObjectRef{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: string(obj.GetUID())}
}

// gitOpsOwner names a GitOps tool managing obj, or "".
func gitOpsOwner(obj metav1.Object) string {
	l, a := obj.GetLabels(), obj.GetAnnotations()
	switch {
	case a["argocd.argoproj.io/tracking-id"] != "":
		return "argocd:" + a["argocd.argoproj.io/tracking-id"]
	case l["argocd.argoproj.io/instance"] != "":
		return "argocd:" + l["argocd.argoproj.io/instance"]
	case l["kustomize.toolkit.fluxcd.io/name"] != "":
		return "flux-kustomization:" + l["kustomize.toolkit.fluxcd.io/namespace"] + "/" + l["kustomize.toolkit.fluxcd.io/name"]
	case l["helm.toolkit.fluxcd.io/name"] != "":
		return "flux-helmrelease:" + l["helm.toolkit.fluxcd.io/namespace"] + "/" + l["helm.toolkit.fluxcd.io/name"]
	}
	return ""
}

// KindOf names the kind of a typed object GetObject returns ("" for
// others).
func KindOf(o metav1.Object) string {
	switch o.(type) {
	case *corev1.Pod:
		return "Pod"
	case *corev1.Node:
		return "Node"
	case *corev1.ReplicationController:
		return "ReplicationController"
	case *appsv1.Deployment:
		return "Deployment"
	case *appsv1.StatefulSet:
		return "StatefulSet"
	case *appsv1.ReplicaSet:
		return "ReplicaSet"
	case *appsv1.DaemonSet:
		return "DaemonSet"
	case *batchv1.Job:
		return "Job"
	case *batchv1.CronJob:
		return "CronJob"
	}
	return ""
}
