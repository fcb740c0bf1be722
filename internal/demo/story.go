package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/apiclient"
	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/incident"
)

// story plays the scenarios against the running cluster and server.
type story struct {
	n   *narrator
	api *apiclient.Client
	cl  *devcluster.Cluster
	srv *serverFiles
	dir string // the demo's state directory
	// sensor runs `quell` (then "sensor" and its flags); nil: replay the
	// sensor's alerts instead.
	sensor []string
}

func (s *story) play(ctx context.Context) error {
	admin, err := kubernetes.NewForConfig(s.cl.RESTConfig(devcluster.AdminUser))
	if err != nil {
		return err
	}
	alice, err := kubernetes.NewForConfig(s.cl.RESTConfig("alice"))
	if err != nil {
		return err
	}
	if err := Setup(ctx, admin); err != nil {
		return err
	}
	if err := waitAllowed(ctx, alice); err != nil {
		return err
	}
	bystanders, err := createBystanders(ctx, admin)
	if err != nil {
		return err
	}
	s.n.say("sample workloads: Deployment demo/miner (3 replicas, below), pod demo/toolbox, CronJob demo/report, Deployment kube-system/metrics-agent")
	s.n.say("scenario 1: a network tool is launched on a node")
	if err := s.hostTool(ctx, admin, s.sensor); err != nil {
		return err
	}
	s.n.say("scenario 2: a developer creates a risky pod")
	if err := s.riskyPod(ctx, alice); err != nil {
		return err
	}
	s.n.say("scenario 3: a crypto-miner runs in a workload's pod")
	if err := s.miner(ctx, admin); err != nil {
		return err
	}
	return s.checkBystanders(ctx, admin, bystanders)
}

// Setup creates the demo namespace and lets alice edit it.
func Setup(ctx context.Context, cs kubernetes.Interface) error {
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	_, err := cs.RbacV1().RoleBindings(Namespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-edit"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "alice", APIGroup: rbacv1.GroupName}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("bind alice: %w", err)
	}
	return nil
}

// waitAllowed waits until the API server lets alice create pods in the
// demo namespace: the "edit" role is filled in by the controller manager's
// aggregation controller and the binding reaches the authorizer's cache
// shortly after they are written.
func waitAllowed(ctx context.Context, alice kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: Namespace, Verb: "create", Resource: "pods"}}}
	for {
		got, err := alice.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err == nil && got.Status.Allowed {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("alice is not allowed to create pods in %s: %w", Namespace, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// riskyPod: alice creates a privileged pod mounting the host's root; the
// audit webhook brings the event to quell, whose rules open an incident.
func (s *story) riskyPod(ctx context.Context, alice kubernetes.Interface) error {
	start := time.Now()
	_, err := alice.CoreV1().Pods(Namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "debug-shell"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "shell", Image: "alpine:3.20", Command: []string{"sleep", "infinity"},
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
				VolumeMounts:    []corev1.VolumeMount{{Name: "host", MountPath: "/host"}}}},
			Volumes: []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("alice creates pod: %w", err)
	}
	s.n.say("alice created pod demo/debug-shell: privileged, hostPath /")
	inc, err := s.waitIncident(ctx, "Create Privileged Pod", 30*time.Second)
	if err != nil {
		return err
	}
	s.n.say(fmt.Sprintf("incident #%d opened %s after the API call: %s", inc.ID, time.Since(start).Round(time.Millisecond), inc.Title))
	full, err := s.api.Get(ctx, inc.ID)
	if err != nil {
		return err
	}
	s.n.say(fmt.Sprintf("  severity %s; rules: %s", full.Severity, strings.Join(full.Rules, ", ")))
	for _, e := range full.Timeline {
		if e.Type == incident.EntryAlert && e.Summary == "New K8s Pod" {
			s.n.say("  who: " + userOf(e.Data) + " (from the audit event)")
		}
	}
	return s.narrateResponse(ctx, inc.ID, start)
}

// miner: a 3-replica Deployment runs a miner; a runtime alert (as Falco or
// quell's sensor sends it) names one pod; quell ties it to the Deployment.
func (s *story) miner(ctx context.Context, admin kubernetes.Interface) error {
	if _, err := admin.AppsV1().Deployments(Namespace).Create(ctx, MinerDeployment(), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create deployment: %w", err)
	}
	s.n.say("created Deployment demo/miner with 3 replicas (image xmrig/xmrig)")
	pods, err := waitPods(ctx, admin, 3, nil)
	if err != nil {
		return err
	}
	victim := pods[0]
	start := time.Now()
	alert := map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339Nano), "rule": "Known Cryptominer Process Executed", "priority": "Critical",
		"source": "syscall", "hostname": "node-1",
		"output": "Known cryptominer process executed (proc.name=xmrig proc.cmdline=xmrig -o stratum+tcp://pool.example:3333 k8s.ns.name=demo k8s.pod.name=" + victim.Name + ")",
		"output_fields": map[string]any{"proc.name": "xmrig", "proc.cmdline": "xmrig -o stratum+tcp://pool.example:3333",
			"k8s.ns.name": Namespace, "k8s.pod.name": victim.Name, "container.id": "4f2a9c1b7d3e"},
		"tags": []string{"mitre_impact", "T1496"},
	}
	if err := s.api.PostFalco(ctx, alert); err != nil {
		return fmt.Errorf("post miner alert: %w", err)
	}
	inc, err := s.waitIncident(ctx, "Known Cryptominer Process Executed", 10*time.Second)
	if err != nil {
		return err
	}
	s.n.say(fmt.Sprintf("runtime alert for pod %s -> incident #%d in %s: %s", victim.Name, inc.ID, time.Since(start).Round(time.Millisecond), inc.Title))
	s.n.say(fmt.Sprintf("  severity %s; the target is the Deployment (owner chain Pod -> ReplicaSet -> Deployment), not one pod", inc.Severity))

	if err := s.narrateResponse(ctx, inc.ID, start); err != nil {
		return err
	}
	d, err := admin.AppsV1().Deployments(Namespace).Get(ctx, "miner", metav1.GetOptions{})
	if err != nil {
		return err
	}
	left, _ := admin.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=miner"})
	s.n.say(fmt.Sprintf("  Deployment demo/miner: %d replicas, %d pods; restore point in annotation quell.dev/restore", *d.Spec.Replicas, len(left.Items)))
	s.n.say("(deleting the pod by hand would have been futile: the ReplicaSet recreates it from the same template)")

	restored := time.Now()
	if _, err := s.api.Restore(ctx, inc.ID); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	pods, err = waitPods(ctx, admin, 3, nil)
	if err != nil {
		return err
	}
	s.n.say(fmt.Sprintf("restored incident #%d: the Deployment is back to %d pods in %s (POST /v1/incidents/%d/restore)", inc.ID, len(pods), time.Since(restored).Round(time.Millisecond), inc.ID))
	return nil
}

// narrateResponse waits for the response to an incident to end and tells
// its timeline: decision, actions, verification, cleanup.
func (s *story) narrateResponse(ctx context.Context, id int64, start time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		full, err := s.api.Get(ctx, id)
		if err == nil && (full.State == incident.StateContained || full.State == incident.StateFailed) && hasCleanup(full.Timeline) {
			for _, e := range full.Timeline {
				switch e.Type {
				case incident.EntryEnrichment, incident.EntryInvestigation, incident.EntryDecision, incident.EntryEvidence, incident.EntryActionSucceeded,
					incident.EntryActionFailed, incident.EntryVerification, incident.EntryCleanup:
					s.n.say(fmt.Sprintf("  %-16s %s", e.Type, e.Summary))
				}
			}
			s.n.say(fmt.Sprintf("  incident #%d is %s, %s after the alert (verification included)", id, full.State, time.Since(start).Round(time.Millisecond)))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("response to incident %d did not finish: %w", id, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func hasCleanup(tl []incident.Entry) bool {
	for _, e := range tl {
		if e.Type == incident.EntryCleanup || e.Type == incident.EntryVerification && strings.HasPrefix(e.Summary, "not contained") {
			return true
		}
	}
	return false
}

// waitIncident polls the API until an incident with rule exists.
func (s *story) waitIncident(ctx context.Context, rule string, within time.Duration) (*incident.Incident, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		list, _, err := s.api.List(ctx, url.Values{"rule": {rule}})
		if err == nil && len(list) > 0 {
			return &list[0], nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no incident for %q within %s (last error: %v)", rule, within, err)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// userOf reads ka.user.name from an alert entry's data.
func userOf(data []byte) string {
	var a struct {
		Fields map[string]any `json:"fields"`
	}
	if json.Unmarshal(data, &a) != nil {
		return "unknown"
	}
	if u, ok := a.Fields["ka.user.name"].(string); ok && u != "" {
		return u
	}
	return "unknown"
}

// MinerDeployment is the demo's 3-replica crypto-miner Deployment.
func MinerDeployment() *appsv1.Deployment {
	labels := map[string]string{"app": "miner"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "miner", Namespace: Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "miner", Image: "xmrig/xmrig:6.21.0",
					Args: []string{"-o", "stratum+tcp://pool.example:3333"},
				}}},
			},
		},
	}
}

// waitPods waits until exactly want pods of the miner Deployment exist, all
// passing keep.
func waitPods(ctx context.Context, cs kubernetes.Interface, want int, keep func(corev1.Pod) bool) ([]corev1.Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		list, err := cs.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=miner"})
		if err == nil {
			ok := len(list.Items) == want
			for _, p := range list.Items {
				if p.DeletionTimestamp != nil || (keep != nil && !keep(p)) {
					ok = false
				}
			}
			if ok {
				return list.Items, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for %d miner pods: %w", want, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
