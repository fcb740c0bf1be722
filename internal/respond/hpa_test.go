package respond_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/respond"
)

// The HPA controller does not scale a workload up from zero replicas: after
// suspension it reports ScalingActive=False (ScalingDisabled) and leaves
// the Deployment at 0, so suspend-workload records the HPA and leaves it.
func TestSuspendWithHPA(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	mkDeployment(t, cs, ns, "web", 2)
	running := waitPods(t, cs, ns, "app=web", 2)
	must(cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(t.Context(), &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 4,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}},
		},
	}, metav1.CreateOptions{}))

	tgt := target(t, cs, ns, running[0].Name)
	env := envFor(cs, nextIncident())
	a := &respond.Suspend{}
	rec, err := a.Apply(t.Context(), env, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]respond.HPAState{{Name: "web", MinReplicas: ptr.To[int32](2), MaxReplicas: 4}}, rec.HPAs); diff != "" {
		t.Errorf("recorded HPAs (-want +got):\n%s", diff)
	}

	// Wait (the HPA controller syncs every 15s) until it has seen the
	// suspended target.
	disabled := false
	for deadline := time.Now().Add(60 * time.Second); !disabled && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		h := must(cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(t.Context(), "web", metav1.GetOptions{}))
		for _, c := range h.Status.Conditions {
			if c.Type == autoscalingv2.ScalingActive && c.Status == corev1.ConditionFalse && c.Reason == "ScalingDisabled" {
				disabled = true
				t.Logf("HPA: %s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
			}
		}
	}
	if !disabled {
		t.Fatal("the HPA controller never reported ScalingDisabled for the suspended Deployment")
	}
	d := must(cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{}))
	if *d.Spec.Replicas != 0 {
		t.Fatalf("HPA scaled the suspended Deployment to %d", *d.Spec.Replicas)
	}
	if err := respond.Verify(t.Context(), env, tgt, rec); err != nil {
		t.Fatalf("verify after the HPA synced: %v", err)
	}
	if _, err := a.Restore(t.Context(), env, rec); err != nil {
		t.Fatal(err)
	}
	waitPods(t, cs, ns, "app=web", 2)
}
