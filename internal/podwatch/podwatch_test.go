package podwatch_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/podwatch"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestNewPodsRaiseAlerts(t *testing.T) {
	c := testenv.Cluster(t)
	cs, err := kubernetes.NewForConfig(c.RESTConfig(devcluster.AdminUser))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	mkPod := func(p *corev1.Pod) {
		t.Helper()
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	plain := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.25"}}}
	mkPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "before"}, Spec: plain})
	time.Sleep(1100 * time.Millisecond) // creation timestamps have 1s resolution

	var mu sync.Mutex
	got := map[string][]string{} // pod -> rules
	w := podwatch.New(cs, "test", func(_ context.Context, alerts []incident.Alert) error {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range alerts {
			got[a.Target.Pod] = append(got[a.Target.Pod], a.Rule)
		}
		return nil
	}, slog.New(slog.DiscardHandler))
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Start(wctx) }()
	defer func() { cancel(); <-done }()

	mkPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Spec: plain})
	mkPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "risky"}, Spec: corev1.PodSpec{
		HostPID: true,
		Containers: []corev1.Container{{Name: "c", Image: "alpine", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
			VolumeMounts: []corev1.VolumeMount{{Name: "sock", MountPath: "/sock"}}}},
		Volumes: []corev1.Volume{{Name: "sock", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run/docker.sock"}}}},
	}})
	want := map[string][]string{
		"plain": {"New K8s Pod"},
		"risky": {"Create HostPid Pod", "Create Privileged Pod", "Create Sensitive Mount Pod", "New K8s Pod"},
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		snapshot := map[string][]string{}
		for k, v := range got {
			s := slices.Clone(v)
			slices.Sort(s)
			snapshot[k] = s
		}
		mu.Unlock()
		diff := cmp.Diff(want, snapshot)
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts by pod (-want +got):\n%s", diff)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAlertsCarryOwnerAndUnknownCreator(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "kube-system", OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-abc", Controller: ptr.To(true)}}},
		Spec:       corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
	alerts := podwatch.Alerts("prod", pod)
	var rules []string
	for _, a := range alerts {
		rules = append(rules, a.Rule)
	}
	// A controller-made pod in kube-system is not "Pod Created in Kube Namespace".
	if diff := cmp.Diff([]string{"New K8s Pod", "Create HostNetwork Pod"}, rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	a := alerts[0]
	if a.Target.Kind != incident.TargetPod || a.Target.Namespace != "kube-system" || a.Fields["owner.kind"] != "ReplicaSet" ||
		a.Fields["ka.user.name"] != "<unknown: pod watch>" {
		t.Errorf("alert = %+v", a)
	}
}
