// Package podwatch is the pod-watch source: it watches pods through the
// Kubernetes API and raises "New K8s Pod" for every pod created after it
// started, plus the risky-configuration rules (privileged, host namespaces,
// sensitive host paths), for clusters whose audit log quell cannot receive
// (managed control planes). The creator is unknown to a watch and is
// reported as such; owner, images and risk are known.
//
// Alerts carry the same rule names as the k8s_audit rules so they correlate
// with them. Start(ctx) runs until ctx is done; alerts go to the Ingest
// function, which must not block for long.
package podwatch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"quell.dev/quell/internal/incident"
)

// Ingest receives the alerts of one pod.
type Ingest func(ctx context.Context, alerts []incident.Alert) error

// Watcher watches pods.
type Watcher struct {
	cs      kubernetes.Interface
	cluster string
	ingest  Ingest
	log     *slog.Logger
}

// Rules are the RBAC rules a Watcher needs: list and watch of pods in
// every namespace (its informer).
func Rules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}}}
}

// New returns a Watcher.
func New(cs kubernetes.Interface, cluster string, ingest Ingest, log *slog.Logger) *Watcher {
	return &Watcher{cs: cs, cluster: cluster, ingest: ingest, log: log}
}

// Start watches until ctx is done. Pods that exist when it starts are not
// new and raise nothing.
func (w *Watcher) Start(ctx context.Context) error {
	started := time.Now()
	factory := informers.NewSharedInformerFactory(w.cs, 0)
	inf := factory.Core().V1().Pods().Informer()
	queue := make(chan *corev1.Pod, 1024)
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok || pod.CreationTimestamp.Time.Before(started.Add(-time.Second)) {
			return
		}
		select {
		case queue <- pod:
		default:
			w.log.Warn("pod watch queue full; pod not reported", "namespace", pod.Namespace, "pod", pod.Name)
		}
	}})
	if err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for {
		select {
		case <-ctx.Done():
			return nil
		case pod := <-queue:
			if err := w.ingest(ctx, Alerts(w.cluster, pod)); err != nil && ctx.Err() == nil {
				w.log.Warn("pod watch alert not stored", "namespace", pod.Namespace, "pod", pod.Name, "err", err)
			}
		}
	}
}

// sensitivePaths are host paths whose mount gives a pod power over the node.
var sensitivePaths = []string{"/proc", "/var/run/docker.sock", "/var/run/crio/crio.sock", "/run/containerd/containerd.sock",
	"/dev", "/etc", "/root", "/var/run", "/var/lib/kubelet", "/var/lib/kubelet/pki", "/etc/kubernetes", "/etc/kubernetes/manifests"}

// Alerts returns the alerts a new pod raises.
func Alerts(cluster string, pod *corev1.Pod) []incident.Alert {
	t := incident.Target{Cluster: cluster, Kind: incident.TargetPod, Namespace: pod.Namespace, Name: pod.Name, Pod: pod.Name, Node: pod.Spec.NodeName}
	var images []string
	privileged := false
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		images = append(images, c.Image)
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			privileged = true
		}
	}
	ownerKind, ownerName := "<NA>", "<NA>"
	for _, o := range pod.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			ownerKind, ownerName = o.Kind, o.Name
		}
	}
	fields := map[string]any{
		"k8s.ns.name": pod.Namespace, "k8s.pod.name": pod.Name, "k8s.pod.uid": string(pod.UID),
		"ka.req.pod.containers.image": images, "owner.kind": ownerKind, "owner.name": ownerName,
		"ka.user.name": "<unknown: pod watch>", "sa.name": pod.Spec.ServiceAccountName,
	}
	when := pod.CreationTimestamp.Time
	base := fmt.Sprintf("pod=%s ns=%s images=(%s) owner_kind=%s owner=%s user=<unknown: pod watch>",
		pod.Name, pod.Namespace, strings.Join(images, ","), ownerKind, ownerName)
	mk := func(rule, priority, what string, tags ...string) incident.Alert {
		return incident.Alert{Source: "podwatch", Rule: rule, Priority: priority, Time: when,
			Output: what + " (" + base + ")", Tags: append([]string{"k8s", "podwatch"}, tags...), Fields: fields, Target: t}
	}
	out := []incident.Alert{mk("New K8s Pod", "Informational", "Pod created", "T1610")}
	if privileged {
		out = append(out, mk("Create Privileged Pod", "Warning", "Pod started with privileged container", "mitre_privilege_escalation", "T1611"))
	}
	if pod.Spec.HostNetwork {
		out = append(out, mk("Create HostNetwork Pod", "Warning", "Pod started using host network", "mitre_lateral_movement"))
	}
	if pod.Spec.HostPID {
		out = append(out, mk("Create HostPid Pod", "Warning", "Pod started using host pid namespace", "mitre_privilege_escalation"))
	}
	if pod.Spec.HostIPC {
		out = append(out, mk("Create HostIPC Pod", "Warning", "Pod started using host ipc namespace", "mitre_privilege_escalation"))
	}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil && sensitive(v.HostPath.Path) {
			out = append(out, mk("Create Sensitive Mount Pod", "Warning", "Pod started with sensitive mount "+v.HostPath.Path, "mitre_privilege_escalation", "T1611"))
			break
		}
	}
	switch pod.Namespace {
	case "kube-system", "kube-public":
		if ownerKind == "<NA>" {
			out = append(out, mk("Pod Created in Kube Namespace", "Warning", "Pod created in kube namespace", "mitre_privilege_escalation"))
		}
	}
	return out
}

func sensitive(p string) bool {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return true // the host's root
	}
	for _, s := range sensitivePaths {
		if p == s || strings.HasPrefix(p, s+"/") {
			return true
		}
	}
	return false
}
