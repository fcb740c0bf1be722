package owner_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/kubecache"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const ns = "owners"

func setup(t *testing.T) kubernetes.Interface {
	t.Helper()
	c := testenv.Cluster(t)
	cs, err := kubernetes.NewForConfig(c.RESTConfig(devcluster.AdminUser))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	return cs
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}, RestartPolicy: corev1.RestartPolicyNever}
}

// firstPod waits for a pod with the label app=value made by a controller.
func firstPod(t *testing.T, cs kubernetes.Interface, app string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		l, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) > 0 {
			return l.Items[0].Name
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no pod with app=%s", app)
	return ""
}

func kinds(c owner.Chain) []string {
	var out []string
	for _, l := range c.Links {
		out = append(out, l.Kind+"/"+l.Name)
	}
	return out
}

func TestResolveChains(t *testing.T) {
	cs := setup(t)
	ctx := t.Context()
	labels := func(app string) map[string]string { return map[string]string{"app": app} }

	_, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels("web")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("web")}, Spec: corev1.PodSpec{Containers: podSpec().Containers}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels("db")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("db")}, Spec: corev1.PodSpec{Containers: podSpec().Containers}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cron, err := cs.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly"},
		Spec: batchv1.CronJobSpec{Schedule: "0 0 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("nightly")}, Spec: podSpec()}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A Job as the CronJob controller makes it, so the job controller makes its pod.
	_, err = cs.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly-1", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "batch/v1", Kind: "CronJob", Name: cron.Name, UID: cron.UID, Controller: ptr.To(true)}}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("nightly")}, Spec: podSpec()}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := cs.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels("agent")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("agent")}, Spec: corev1.PodSpec{Containers: podSpec().Containers}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mkPod := func(name string, refs []metav1.OwnerReference) {
		t.Helper()
		meta := metav1.ObjectMeta{Name: name, OwnerReferences: refs, Labels: labels(name)}
		if name == "agent-x" {
			meta.Labels = labels("agent") // matches the DaemonSet, which would release it otherwise
		}
		_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: meta, Spec: podSpec()}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	// No node runs the DaemonSet's pods here: make one as its controller would.
	mkPod("agent-x", []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID, Controller: ptr.To(true)}})
	mkPod("bare", nil)
	mkPod("rollout-x", []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "canary", UID: "u1", Controller: ptr.To(true)}})

	webPod, dbPod, jobPod := firstPod(t, cs, "web"), firstPod(t, cs, "db"), firstPod(t, cs, "nightly")
	// The cached resolver's own client reaches no API server: every chain
	// it resolves comes from the cache alone.
	objs := testenv.Objects(t, cs, kubecache.Workloads...)
	dead, err := kubernetes.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{webPod, dbPod, jobPod, "agent-x", "bare", "rollout-x"} {
		waitCached(t, objs, "Pod", p)
	}
	resolvers := map[string]*owner.Resolver{"live": owner.NewResolver(cs, nil), "cached": owner.NewResolver(dead, objs)}
	tests := []struct {
		pod         string
		want        []string // kinds/names after the pod
		unknown     bool
		wantTarget  incident.TargetKind
		wantWorload string
	}{
		{webPod, []string{"ReplicaSet/", "Deployment/web"}, false, incident.TargetWorkload, "Deployment/web"},
		{dbPod, []string{"StatefulSet/db"}, false, incident.TargetWorkload, "StatefulSet/db"},
		{jobPod, []string{"Job/nightly-1", "CronJob/nightly"}, false, incident.TargetWorkload, "CronJob/nightly"},
		{"agent-x", []string{"DaemonSet/agent"}, false, incident.TargetWorkload, "DaemonSet/agent"},
		{"bare", nil, false, incident.TargetPod, "/bare"},
		{"rollout-x", []string{"Rollout/canary"}, true, incident.TargetPod, "/rollout-x"},
	}
	for _, tt := range tests {
		for name, r := range resolvers {
			t.Run(name+"/"+tt.pod, func(t *testing.T) {
				chain, err := r.Resolve(ctx, ns, tt.pod)
				if err != nil {
					t.Fatal(err)
				}
				got := kinds(chain)[1:]
				// ReplicaSet names carry a hash: compare their kind only.
				for i, g := range got {
					if len(g) > len("ReplicaSet/") && g[:len("ReplicaSet/")] == "ReplicaSet/" {
						got[i] = "ReplicaSet/"
					}
				}
				if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("chain (-want +got):\n%s", diff)
				}
				if chain.Unknown != tt.unknown {
					t.Errorf("Unknown = %v, want %v", chain.Unknown, tt.unknown)
				}
				target := r.Target(ctx, incident.Target{Kind: incident.TargetPod, Namespace: ns, Name: tt.pod, Pod: tt.pod})
				if target.Kind != tt.wantTarget || target.WorkloadKind+"/"+target.Name != tt.wantWorload {
					t.Errorf("Target = %+v, want %s %s", target, tt.wantTarget, tt.wantWorload)
				}
			})
		}
	}
	if _, err := resolvers["cached"].Resolve(ctx, ns, "never-existed"); err == nil {
		t.Error("a pod neither cached nor readable resolved")
	}
	r := resolvers["live"]

	// A resolved pod that is gone is still answered from the cache.
	if err := cs.CoreV1().Pods(ns).Delete(ctx, webPod, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	chain, err := r.Resolve(ctx, ns, webPod)
	if err != nil || chain.Top().Name != "web" {
		t.Errorf("gone pod from cache: %v, %v", kinds(chain), err)
	}
	if _, err := owner.NewResolver(cs, nil).Resolve(ctx, ns, "never-existed"); err == nil {
		t.Error("unknown pod resolved")
	}
}

// waitCached waits until objs holds the object of kind named ns/name.
func waitCached(t *testing.T, objs *kubecache.Cache, kind, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ok := objs.Get(kind, ns, name); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s/%s never cached", kind, ns, name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
