package bench

import (
	"context"
	"fmt"
	"net/url"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/bench/contained"
	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/demo"
	"quell.dev/quell/internal/incident"
)

// ResponseConfig lifts the server's action limits, which would otherwise
// hold back incidents arriving back to back.
func ResponseConfig(c *config.Config) {
	c.Response.ActionsPerMinute, c.Response.NamespaceActionsPerMinute, c.Response.SuspensionsPerHour = 1<<20, 1<<20, 1<<20
}

// Response measures, through the whole server of env (Falco alert over
// HTTPS, store, engine with validation, investigation and evidence, the
// action), the time from posting an alert to a watch opened before it
// seeing the workload's last pod deleted: n bare pods terminated, and n
// 1-replica Deployments suspended. Each incident must be verified
// contained by the server before the next alert is posted.
func Response(ctx context.Context, env *demo.Env, n int) ([]Result, error) {
	cs, err := env.Cluster.Client()
	if err != nil {
		return nil, err
	}
	const ns = "bench"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}
	var out []Result
	for _, kind := range []string{"terminate", "suspend"} {
		var lat []time.Duration
		for i := range n {
			name := fmt.Sprintf("%s-%d", kind, i)
			rule, prio, pod := "Launch Suspicious Network Tool in Container", "Notice", name
			if kind == "terminate" {
				if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{}); err != nil {
					return nil, err
				}
			} else {
				rule, prio = "Known Cryptominer Process Executed", "Critical"
				labels := map[string]string{"app": name}
				if _, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
						Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}}}, metav1.CreateOptions{}); err != nil {
					return nil, err
				}
				if pod, err = firstPod(ctx, cs, ns, "app="+name); err != nil {
					return nil, err
				}
			}
			time.Sleep(settle)
			sel := "metadata.name=" + pod
			if kind == "suspend" {
				sel = "app=" + name
			}
			w, err := contained.Start(ctx, cs, ns, sel)
			if err != nil {
				return nil, err
			}
			start := time.Now()
			if err := env.API.PostFalco(ctx, map[string]any{"time": start.UTC().Format(time.RFC3339Nano), "rule": rule, "priority": prio,
				"source": "syscall", "hostname": "node-1", "output": rule + " in " + ns + "/" + pod,
				"output_fields": map[string]any{"k8s.ns.name": ns, "k8s.pod.name": pod, "container.id": "3ad7b26ded6d"}}); err != nil {
				w.Stop()
				return nil, err
			}
			at, err := w.Wait(ctx, 30*time.Second)
			w.Stop()
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", kind, name, err)
			}
			lat = append(lat, at.Sub(start))
			if err := waitContained(ctx, env, ns, pod); err != nil {
				return nil, fmt.Errorf("%s %s: %w", kind, name, err)
			}
		}
		p50, p99 := percentiles(lat)
		what := "a bare pod deleted"
		if kind == "suspend" {
			what = "a 1-replica Deployment at 0, its pod deleted"
		}
		out = append(out, Result{Figure: "response: alert -> contained, " + kind, Value: "p50 " + ms(p50) + ", p99 " + ms(p99),
			Detail: fmt.Sprintf("%d incidents, each verified contained before the next; Falco alert over HTTPS to a watch seeing the pod gone (%s)", n, what)})
	}
	return out, nil
}

// settle is how long a pod exists before its alert is posted, so that the
// server's watched copy holds it and its owners as it does for any pod
// that has run long enough to alert (its container scheduled, started,
// and running the process the alert is about); an alert about a pod
// created milliseconds before would have its owners read from the API
// server.
const settle = 100 * time.Millisecond

func firstPod(ctx context.Context, cs kubernetes.Interface, ns, selector string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return "", err
		}
		if len(l.Items) > 0 {
			return l.Items[0].Name, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "", fmt.Errorf("no pod matches %s", selector)
}

// waitContained waits, for at most 30 s, for the server to have verified
// the incident of pod contained, and fails on any other final state.
func waitContained(ctx context.Context, env *demo.Env, ns, pod string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		incs, _, err := env.API.List(ctx, url.Values{"namespace": {ns}, "limit": {"20"}})
		if err != nil {
			return err
		}
		for _, inc := range incs {
			if inc.Target.Pod != pod {
				continue
			}
			switch inc.State {
			case incident.StateContained:
				return nil
			case incident.StateFailed, incident.StateResolved, incident.StateFalsePositive:
				return fmt.Errorf("incident %d is %s, want contained", inc.ID, inc.State)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the incident of %s/%s was not contained within 30s", ns, pod)
}
