// Package demo plays quell's story on a real local control plane for a
// newcomer: it starts the cluster, deploys sample workloads and narrates
// each step with timings to Out. Run returns when the story is over and, unless
// Exit is set, the context is cancelled (Ctrl-C); it always tears the cluster
// down before returning.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/devcluster"
)

// Options configure Run.
type Options struct {
	Dir   string // cluster state directory
	Build devcluster.BuildOptions
	Exit  bool // tear down at the end instead of waiting for ctx
	Out   io.Writer
	Log   *slog.Logger
}

// Users are the identities the demo cluster knows besides admin.
func Users() []devcluster.User {
	return []devcluster.User{{Name: "alice", Groups: []string{"developers"}}}
}

// Namespace holds the demo's sample workloads.
const Namespace = "demo"

// Run plays the demo.
func Run(ctx context.Context, opts Options) (err error) {
	n := &narrator{out: opts.Out, start: time.Now()}
	n.say("building or reusing the control-plane binaries (the first build takes minutes)")
	bins, err := devcluster.EnsureBinaries(ctx, opts.Build)
	if err != nil {
		return err
	}
	if err := devcluster.Down(opts.Dir); err != nil { // a previous run's leftovers
		return fmt.Errorf("clean demo dir: %w", err)
	}
	n.say("starting etcd, kube-apiserver and kube-controller-manager")
	cl, err := devcluster.Start(ctx, devcluster.Options{Dir: opts.Dir, Binaries: bins, Users: Users(), Log: opts.Log})
	if err != nil {
		return err
	}
	defer func() {
		n.say("tearing the control plane down")
		err = errors.Join(err, cl.Stop())
	}()
	n.say("control plane ready; kubeconfig: " + cl.Kubeconfig)
	cs, err := cl.Client()
	if err != nil {
		return err
	}
	if err := recreateLoop(ctx, n, cs); err != nil {
		return err
	}
	if opts.Exit {
		return nil
	}
	n.say("press Ctrl-C to stop; meanwhile try: kubectl --kubeconfig " + cl.Kubeconfig + " -n " + Namespace + " get deploy,pods")
	<-ctx.Done()
	return nil
}

// recreateLoop shows why killing a malicious pod by hand is futile: its
// Deployment recreates it from the same template.
func recreateLoop(ctx context.Context, n *narrator, cs kubernetes.Interface) error {
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	if _, err := cs.AppsV1().Deployments(Namespace).Create(ctx, MinerDeployment(), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create deployment: %w", err)
	}
	n.say("created Deployment demo/miner with 3 replicas (image xmrig/xmrig, a crypto-miner)")
	pods, err := waitPods(ctx, cs, 3, nil)
	if err != nil {
		return err
	}
	n.say(fmt.Sprintf("%d miner pods exist: %v", len(pods), names(pods)))
	victim := pods[0]
	deleted := time.Now()
	if err := cs.CoreV1().Pods(Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete pod: %w", err)
	}
	n.say("deleted pod " + victim.Name + " by hand, as a responder would")
	pods, err = waitPods(ctx, cs, 3, func(p corev1.Pod) bool { return p.Name != victim.Name })
	if err != nil {
		return err
	}
	n.say(fmt.Sprintf("the ReplicaSet recreated it within %s: %v", time.Since(deleted).Round(time.Millisecond), names(pods)))
	n.say("killing the pod is futile; quell suspends the workload instead (scale to 0, verified, reversible)")
	return nil
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

func names(pods []corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}

// narrator prints timestamped story lines.
type narrator struct {
	out   io.Writer
	start time.Time
}

func (n *narrator) say(msg string) {
	fmt.Fprintf(n.out, "[%7.3fs] %s\n", time.Since(n.start).Seconds(), msg)
}
