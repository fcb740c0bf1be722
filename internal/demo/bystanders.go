package demo

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// bystander is a sample workload no scenario concerns.
type bystander struct {
	what string
	get  func(context.Context) (metav1.Object, error)
}

// createBystanders creates the sample workloads quell must leave alone: a
// bare pod and a CronJob in the demo namespace, and a Deployment in
// kube-system (a protected namespace).
func createBystanders(ctx context.Context, cs kubernetes.Interface) ([]bystander, error) {
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36", Command: []string{"sleep", "infinity"}}}}
	labels := map[string]string{"app": "metrics-agent"}
	if _, err := cs.CoreV1().Pods(Namespace).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "toolbox"}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create pod: %w", err)
	}
	jobSpec := spec
	jobSpec.RestartPolicy = corev1.RestartPolicyOnFailure
	if _, err := cs.BatchV1().CronJobs(Namespace).Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "report"},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: jobSpec}}}}},
		metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create cronjob: %w", err)
	}
	if _, err := cs.AppsV1().Deployments("kube-system").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "metrics-agent"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create deployment: %w", err)
	}
	bs := []bystander{
		{what: "pod demo/toolbox", get: func(ctx context.Context) (metav1.Object, error) {
			return cs.CoreV1().Pods(Namespace).Get(ctx, "toolbox", metav1.GetOptions{})
		}},
		{what: "CronJob demo/report", get: func(ctx context.Context) (metav1.Object, error) {
			return cs.BatchV1().CronJobs(Namespace).Get(ctx, "report", metav1.GetOptions{})
		}},
		{what: "Deployment kube-system/metrics-agent", get: func(ctx context.Context) (metav1.Object, error) {
			return cs.AppsV1().Deployments("kube-system").Get(ctx, "metrics-agent", metav1.GetOptions{})
		}},
	}
	return bs, nil
}

// checkBystanders tells whether the sample workloads are as created: not
// deleted, their spec never changed (generation 1; controllers update
// status, which does not count).
func (s *story) checkBystanders(ctx context.Context, cs kubernetes.Interface, bs []bystander) error {
	for _, b := range bs {
		o, err := b.get(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", b.what, err)
		}
		state := "untouched"
		if o.GetGeneration() > 1 || o.GetDeletionTimestamp() != nil {
			state = "CHANGED"
		}
		s.n.say(fmt.Sprintf("  %s: %s", b.what, state))
		if state != "untouched" {
			return fmt.Errorf("%s was changed", b.what)
		}
	}
	return nil
}
