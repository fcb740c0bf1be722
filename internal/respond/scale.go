package respond

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// getScale reads the scale subresource of a scalable workload.
func getScale(ctx context.Context, env Env, ref ObjectRef) (*autoscalingv1.Scale, error) {
	cs, opts := env.Client, metav1.GetOptions{}
	var (
		s   *autoscalingv1.Scale
		err error
	)
	switch ref.Kind {
	case "Deployment":
		s, err = cs.AppsV1().Deployments(ref.Namespace).GetScale(ctx, ref.Name, opts)
	case "StatefulSet":
		s, err = cs.AppsV1().StatefulSets(ref.Namespace).GetScale(ctx, ref.Name, opts)
	case "ReplicaSet":
		s, err = cs.AppsV1().ReplicaSets(ref.Namespace).GetScale(ctx, ref.Name, opts)
	case "ReplicationController":
		s, err = cs.CoreV1().ReplicationControllers(ref.Namespace).GetScale(ctx, ref.Name, opts)
	default:
		return nil, fmt.Errorf("get scale of %s: kind has no scale subresource", ref)
	}
	if err != nil {
		return nil, fmt.Errorf("get scale of %s: %w", ref, err)
	}
	return s, nil
}

func updateScale(ctx context.Context, env Env, ref ObjectRef, s *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
	cs, opts := env.Client, env.updateOpts()
	var (
		out *autoscalingv1.Scale
		err error
	)
	switch ref.Kind {
	case "Deployment":
		out, err = cs.AppsV1().Deployments(ref.Namespace).UpdateScale(ctx, ref.Name, s, opts)
	case "StatefulSet":
		out, err = cs.AppsV1().StatefulSets(ref.Namespace).UpdateScale(ctx, ref.Name, s, opts)
	case "ReplicaSet":
		out, err = cs.AppsV1().ReplicaSets(ref.Namespace).UpdateScale(ctx, ref.Name, s, opts)
	case "ReplicationController":
		out, err = cs.CoreV1().ReplicationControllers(ref.Namespace).UpdateScale(ctx, ref.Name, s, opts)
	default:
		return nil, fmt.Errorf("scale %s: kind has no scale subresource", ref)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scaleTo sets ref's replicas to n through the scale subresource, starting
// from s and re-reading on a conflict. It reports whether it wrote.
func scaleTo(ctx context.Context, env Env, ref ObjectRef, s *autoscalingv1.Scale, n int32) (bool, error) {
	wrote := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if s == nil {
			var err error
			if s, err = getScale(ctx, env, ref); err != nil {
				return err
			}
		}
		if s.Spec.Replicas == n {
			return nil
		}
		s.Spec.Replicas = n
		_, err := updateScale(ctx, env, ref, s)
		s = nil
		if err == nil {
			wrote = true
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("scale %s to %d: %w", ref, n, err)
	}
	env.log().Debug("scaled workload", "object", ref.String(), "replicas", n, "changed", wrote,
		"incident", env.Incident, "dry_run", env.DryRun)
	return wrote, nil
}
