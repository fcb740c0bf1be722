package notify

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/incident"
)

// KubeEvent records a Kubernetes Event on the incident's object (the pod,
// the workload, or the node), so `kubectl describe` shows it.
type KubeEvent struct {
	Client kubernetes.Interface
	// Cluster, when set, is the cluster Client reaches: only its
	// incidents are notified (each cluster has its own KubeEvent).
	Cluster string
}

var (
	_ Notifier = (*KubeEvent)(nil)
	_ Filter   = (*KubeEvent)(nil)
)

// KubeEventRules are the RBAC rules KubeEvent needs: creating core/v1
// Events in the namespace of the incident's object (default for a node).
func KubeEventRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}}}
}

// Name implements Notifier: kube-event, or kube-event/CLUSTER.
func (k *KubeEvent) Name() string {
	if k.Cluster == "" {
		return "kube-event"
	}
	return "kube-event/" + k.Cluster
}

// Wants implements Filter: the incidents of Cluster, or all without one.
func (k *KubeEvent) Wants(m Message) bool {
	return k.Cluster == "" || m.Incident.Target.Cluster == k.Cluster
}

// Notify implements Notifier.
func (k *KubeEvent) Notify(ctx context.Context, m Message) error {
	ref, ok := involved(m.Incident.Target)
	if !ok {
		return nil // nothing in the cluster to attach to
	}
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	now := metav1.NewTime(time.Now())
	typ := corev1.EventTypeWarning
	if m.Kind == Contained {
		typ = corev1.EventTypeNormal
	}
	msg := fmt.Sprintf("quell incident %d (%s, %s): %s", m.Incident.ID, m.Incident.Severity, m.Kind, m.Incident.Title)
	if m.Detail != "" {
		msg += ": " + m.Detail
	}
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: strings.ToLower(ref.Name) + ".quell-",
			Namespace:    ns,
			Labels:       map[string]string{"quell.dev/incident": fmt.Sprint(m.Incident.ID)},
		},
		InvolvedObject: ref,
		Reason:         "QuellIncident" + reasonSuffix[m.Kind],
		Message:        truncate(msg, 1000),
		Type:           typ,
		Source:         corev1.EventSource{Component: "quell"},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
	}
	if _, err := k.Client.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create event on %s %s/%s: %w", ref.Kind, ref.Namespace, ref.Name, err)
	}
	return nil
}

var reasonSuffix = map[Kind]string{Opened: "Opened", Contained: "Contained", Failed: "Failed", ApprovalPending: "ApprovalPending"}

var workloadAPI = map[string]string{
	"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
	"Job": "batch/v1", "CronJob": "batch/v1", "ReplicationController": "v1",
}

func involved(t incident.Target) (corev1.ObjectReference, bool) {
	switch t.Kind {
	case incident.TargetPod:
		return corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: t.Namespace, Name: t.Name}, true
	case incident.TargetWorkload:
		return corev1.ObjectReference{Kind: t.WorkloadKind, APIVersion: workloadAPI[t.WorkloadKind], Namespace: t.Namespace, Name: t.Name}, true
	case incident.TargetNode:
		return corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: t.Name}, true
	}
	return corev1.ObjectReference{}, false
}
