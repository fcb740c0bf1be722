package sensor_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"quell.dev/quell/internal/kubemeta"
	"quell.dev/quell/internal/sensor"
	"quell.dev/quell/internal/testenv"
)

// TestContainerNetworkTool runs nc in a real runc container.
func TestContainerNetworkTool(t *testing.T) {
	out := newChanOutput()
	startSensor(t, sensor.Options{Engine: loadEngine(t, ""), Output: out})
	c := testenv.NewRuncContainer(t, nil, "/bin/nc", "-h")
	c.Run(t)
	a := out.wait(t, "Launch Suspicious Network Tool in Container for "+c.ID, func(a *sensor.Alert) bool {
		return a.Rule == "Launch Suspicious Network Tool in Container" && a.Target.Container == c.ID
	})
	if got := field[string](a, "container.id"); got != c.ID[:12] {
		t.Errorf("container.id = %q, want %q", got, c.ID[:12])
	}
	if got := field[string](a, "proc.name"); got != "nc" {
		t.Errorf("proc.name = %q", got)
	}
	if got := field[string](a, "user.name"); got != "root" {
		t.Errorf("user.name = %q", got)
	}
	t.Logf("alert: %s", a.Output)
}

// TestContainerPod runs nc in a container whose pod appears only after
// the exec, as when the kubelet reports the container's status: the alert
// waits for the pod and carries its namespace and name.
func TestContainerPod(t *testing.T) {
	requireRoot(t)
	cluster := testenv.Cluster(t)
	cs, err := cluster.Client()
	if err != nil {
		t.Fatal(err)
	}
	node := fmt.Sprintf("quell-sensor-node-%d", os.Getpid())
	pods := kubemeta.NewPodCache(cs, node)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pods.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	out := newChanOutput()
	startSensor(t, sensor.Options{Engine: loadEngine(t, ""), Output: out, Pods: pods, Node: node, PodWait: 2 * time.Minute})

	c := testenv.NewRuncContainer(t, nil, "/bin/nc", "-h")
	c.Run(t)

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "netshoot-", Namespace: "default", Labels: map[string]string{"app": "netshoot"}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "tools", Image: "registry.example/netshoot:v1"}}},
	}
	pod, err = cs.CoreV1().Pods("default").Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.CoreV1().Pods("default").Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	})
	// Report the container as the kubelet does, through the status
	// subresource.
	now := metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "tools", Image: "registry.example/netshoot:v1", ImageID: "registry.example/netshoot@sha256:" + c.ID,
			ContainerID: "containerd://" + c.ID, Ready: true, Started: new(bool),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}},
	}
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(t.Context(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	a := out.wait(t, "network tool alert with pod for "+c.ID, func(a *sensor.Alert) bool {
		return a.Rule == "Launch Suspicious Network Tool in Container" && a.Target.Container == c.ID
	})
	if field[string](a, "k8s.ns.name") != "default" || field[string](a, "k8s.pod.name") != pod.Name {
		t.Errorf("k8s fields: ns %q pod %q, want default %q", field[string](a, "k8s.ns.name"), field[string](a, "k8s.pod.name"), pod.Name)
	}
	if a.Target.Namespace != "default" || a.Target.Pod != pod.Name || a.Target.Node != node {
		t.Errorf("target %+v", a.Target)
	}
	if field[string](a, "container.name") != "tools" || field[string](a, "container.image.repository") != "registry.example/netshoot" {
		t.Errorf("container name %q image %q", field[string](a, "container.name"), field[string](a, "container.image.repository"))
	}
	if field[string](a, "k8s.pod.label[app]") != "netshoot" {
		t.Errorf("labels: %v", a.Fields)
	}
	t.Logf("alert: %s", a.Output)
}
