package respond_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/respond"
)

// workloadCase makes one workload with running pods, and reads the state
// suspension governs.
type workloadCase struct {
	name  string
	kind  string
	pods  int
	make  func(t *testing.T, cs kubernetes.Interface, ns string)
	state func(t *testing.T, cs kubernetes.Interface, ns string) string // governed state, e.g. "replicas=3"
	// suspended and running are the wanted states.
	suspended, running string
}

// must returns v, panicking on err: for API calls in test set-up, where a
// failure is the environment's and the stack says which call.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func suspendFlag(p *bool) string {
	if p != nil && *p {
		return "suspend=true"
	}
	return "suspend=false"
}

func workloadCases() []workloadCase {
	return []workloadCase{
		{
			name: "deployment", kind: "Deployment", pods: 3,
			make: func(t *testing.T, cs kubernetes.Interface, ns string) { mkDeployment(t, cs, ns, "deployment", 3) },
			state: func(t *testing.T, cs kubernetes.Interface, ns string) string {
				d := must(cs.AppsV1().Deployments(ns).Get(t.Context(), "deployment", metav1.GetOptions{}))
				return "replicas=" + itoa(*d.Spec.Replicas)
			},
			suspended: "replicas=0", running: "replicas=3",
		},
		{
			name: "statefulset", kind: "StatefulSet", pods: 2,
			make: func(t *testing.T, cs kubernetes.Interface, ns string) {
				must(cs.AppsV1().StatefulSets(ns).Create(t.Context(), &appsv1.StatefulSet{
					ObjectMeta: metav1.ObjectMeta{Name: "statefulset"},
					Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), PodManagementPolicy: appsv1.ParallelPodManagement,
						Selector: &metav1.LabelSelector{MatchLabels: labelsFor("statefulset")}, Template: podTemplate("statefulset")},
				}, metav1.CreateOptions{}))
			},
			state: func(t *testing.T, cs kubernetes.Interface, ns string) string {
				s := must(cs.AppsV1().StatefulSets(ns).Get(t.Context(), "statefulset", metav1.GetOptions{}))
				return "replicas=" + itoa(*s.Spec.Replicas)
			},
			suspended: "replicas=0", running: "replicas=2",
		},
		{
			name: "replicaset", kind: "ReplicaSet", pods: 2,
			make: func(t *testing.T, cs kubernetes.Interface, ns string) {
				must(cs.AppsV1().ReplicaSets(ns).Create(t.Context(), &appsv1.ReplicaSet{
					ObjectMeta: metav1.ObjectMeta{Name: "replicaset"},
					Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](2),
						Selector: &metav1.LabelSelector{MatchLabels: labelsFor("replicaset")}, Template: podTemplate("replicaset")},
				}, metav1.CreateOptions{}))
			},
			state: func(t *testing.T, cs kubernetes.Interface, ns string) string {
				s := must(cs.AppsV1().ReplicaSets(ns).Get(t.Context(), "replicaset", metav1.GetOptions{}))
				return "replicas=" + itoa(*s.Spec.Replicas)
			},
			suspended: "replicas=0", running: "replicas=2",
		},
		{
			name: "replicationcontroller", kind: "ReplicationController", pods: 2,
			make: func(t *testing.T, cs kubernetes.Interface, ns string) {
				tmpl := podTemplate("replicationcontroller")
				must(cs.CoreV1().ReplicationControllers(ns).Create(t.Context(), &corev1.ReplicationController{
					ObjectMeta: metav1.ObjectMeta{Name: "replicationcontroller"},
					Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](2),
						Selector: labelsFor("replicationcontroller"), Template: &tmpl},
				}, metav1.CreateOptions{}))
			},
			state: func(t *testing.T, cs kubernetes.Interface, ns string) string {
				s := must(cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), "replicationcontroller", metav1.GetOptions{}))
				return "replicas=" + itoa(*s.Spec.Replicas)
			},
			suspended: "replicas=0", running: "replicas=2",
		},
		{
			name: "job", kind: "Job", pods: 2,
			make: func(t *testing.T, cs kubernetes.Interface, ns string) {
				tmpl := podTemplate("job")
				tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
				must(cs.BatchV1().Jobs(ns).Create(t.Context(), &batchv1.Job{
					ObjectMeta: metav1.ObjectMeta{Name: "job"},
					Spec:       batchv1.JobSpec{Parallelism: ptr.To[int32](2), Completions: ptr.To[int32](2), Template: tmpl},
				}, metav1.CreateOptions{}))
			},
			state: func(t *testing.T, cs kubernetes.Interface, ns string) string {
				j := must(cs.BatchV1().Jobs(ns).Get(t.Context(), "job", metav1.GetOptions{}))
				return suspendFlag(j.Spec.Suspend)
			},
			suspended: "suspend=true", running: "suspend=false",
		},
		{
			name: "cronjob", kind: "CronJob", pods: 1,
			make: func(t *testing.T, cs kubernetes.Interface, ns string) {
				tmpl := podTemplate("cronjob")
				tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
				cj := must(cs.BatchV1().CronJobs(ns).Create(t.Context(), &batchv1.CronJob{
					ObjectMeta: metav1.ObjectMeta{Name: "cronjob"},
					Spec: batchv1.CronJobSpec{Schedule: "0 0 1 1 *",
						JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}},
				}, metav1.CreateOptions{}))
				// An active Job as the CronJob controller makes it.
				must(cs.BatchV1().Jobs(ns).Create(t.Context(), &batchv1.Job{
					ObjectMeta: metav1.ObjectMeta{Name: "cronjob-1", OwnerReferences: []metav1.OwnerReference{{
						APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true)}}},
					Spec: batchv1.JobSpec{Template: tmpl},
				}, metav1.CreateOptions{}))
			},
			state: func(t *testing.T, cs kubernetes.Interface, ns string) string {
				cj := must(cs.BatchV1().CronJobs(ns).Get(t.Context(), "cronjob", metav1.GetOptions{}))
				j := must(cs.BatchV1().Jobs(ns).Get(t.Context(), "cronjob-1", metav1.GetOptions{}))
				return "cronjob " + suspendFlag(cj.Spec.Suspend) + ", job " + suspendFlag(j.Spec.Suspend)
			},
			suspended: "cronjob suspend=true, job suspend=true", running: "cronjob suspend=false, job suspend=false",
		},
		{
			name: "daemonset", kind: "DaemonSet", pods: 1,
			make: func(t *testing.T, cs kubernetes.Interface, ns string) {
				mkNode(t, cs, "node-"+ns, map[string]string{"quell-test": ns})
				tmpl := podTemplate("daemonset")
				tmpl.Spec.NodeSelector = map[string]string{"quell-test": ns} // only this test's node
				must(cs.AppsV1().DaemonSets(ns).Create(t.Context(), &appsv1.DaemonSet{
					ObjectMeta: metav1.ObjectMeta{Name: "daemonset"},
					Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labelsFor("daemonset")},
						Template: tmpl},
				}, metav1.CreateOptions{}))
			},
			state: func(t *testing.T, cs kubernetes.Interface, ns string) string {
				ds := must(cs.AppsV1().DaemonSets(ns).Get(t.Context(), "daemonset", metav1.GetOptions{}))
				b, _ := json.Marshal(ds.Spec.Template.Spec.NodeSelector)
				return string(b)
			},
			suspended: "", running: "", // checked in the test: depends on the namespace
		},
	}
}

func itoa(n int32) string { b, _ := json.Marshal(n); return string(b) }

func TestSuspendWorkloads(t *testing.T) {
	cs := admin(t)
	type run struct {
		workloadCase
		action *respond.Suspend
		name   string
	}
	var runs []run
	for _, tc := range workloadCases() {
		runs = append(runs, run{tc, &respond.Suspend{}, tc.name})
		switch tc.kind {
		case "Deployment", "StatefulSet", "ReplicaSet", "ReplicationController":
			runs = append(runs, run{tc, &respond.Suspend{DeletePods: true}, tc.name + "-delete-pods"})
		}
	}
	for _, tc := range runs {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, cs)
			tc.make(t, cs, ns)
			sel := "app=" + tc.workloadCase.name
			running := waitPods(t, cs, ns, sel, tc.pods)
			tgt := target(t, cs, ns, running[0].Name)
			if got := tgt.Chain.Top().Kind; got != tc.kind {
				t.Fatalf("top of chain = %s, want %s", got, tc.kind)
			}
			id := nextIncident()
			env := envFor(cs, id)
			wantSuspended, wantRunning := tc.suspended, tc.running
			if tc.kind == "DaemonSet" {
				wantRunning = `{"quell-test":"` + ns + `"}`
				wantSuspended = `{"quell-test":"` + ns + `","quell.dev/suspended":"` + itoa32(id) + `"}`
			}

			a := tc.action
			rec, err := a.Apply(t.Context(), env, tgt)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.Changed || !rec.Reversible || rec.Object.Kind != tc.kind {
				t.Errorf("record: changed=%v reversible=%v object=%v", rec.Changed, rec.Reversible, rec.Object)
			}
			if err := respond.Verify(t.Context(), env, tgt, rec); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if got := tc.state(t, cs, ns); got != wantSuspended {
				t.Errorf("suspended state = %q, want %q", got, wantSuspended)
			}
			if n := len(pods(t, cs, ns, sel)); n != 0 {
				t.Errorf("%d pods after verified suspension", n)
			}
			ann := restoreAnnotation(t, cs, rec.Object)
			if ann == "" {
				t.Errorf("no %s annotation on %s", respond.AnnotationRestore, rec.Object)
			}

			back, err := a.Restore(t.Context(), env, rec)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Changed {
				t.Error("restore: Changed=false")
			}
			if got := tc.state(t, cs, ns); got != wantRunning {
				t.Errorf("restored state = %q, want %q", got, wantRunning)
			}
			waitPods(t, cs, ns, sel, tc.pods)
			if ann := restoreAnnotation(t, cs, rec.Object); ann != "" {
				t.Errorf("annotation left after restore: %s", ann)
			}
			again, err := a.Restore(t.Context(), env, rec)
			if err != nil || again.Changed {
				t.Errorf("second restore: changed=%v err=%v", again.Changed, err)
			}
		})
	}
}

func itoa32(n int64) string { b, _ := json.Marshal(n); return string(b) }

// restoreAnnotation reads quell.dev/restore from ref's object.
func restoreAnnotation(t *testing.T, cs kubernetes.Interface, ref respond.ObjectRef) string {
	t.Helper()
	var obj metav1.Object
	var err error
	ctx, get := t.Context(), metav1.GetOptions{}
	switch ref.Kind {
	case "Deployment":
		obj, err = cs.AppsV1().Deployments(ref.Namespace).Get(ctx, ref.Name, get)
	case "StatefulSet":
		obj, err = cs.AppsV1().StatefulSets(ref.Namespace).Get(ctx, ref.Name, get)
	case "ReplicaSet":
		obj, err = cs.AppsV1().ReplicaSets(ref.Namespace).Get(ctx, ref.Name, get)
	case "ReplicationController":
		obj, err = cs.CoreV1().ReplicationControllers(ref.Namespace).Get(ctx, ref.Name, get)
	case "DaemonSet":
		obj, err = cs.AppsV1().DaemonSets(ref.Namespace).Get(ctx, ref.Name, get)
	case "Job":
		obj, err = cs.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, get)
	case "CronJob":
		obj, err = cs.BatchV1().CronJobs(ref.Namespace).Get(ctx, ref.Name, get)
	default:
		t.Fatalf("kind %s", ref.Kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return obj.GetAnnotations()[respond.AnnotationRestore]
}

func TestSuspendIdempotent(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	mkDeployment(t, cs, ns, "web", 3)
	running := waitPods(t, cs, ns, "app=web", 3)
	tgt := target(t, cs, ns, running[0].Name)
	env := envFor(cs, nextIncident())
	a := &respond.Suspend{}
	first, err := a.Apply(t.Context(), env, tgt)
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.Apply(t.Context(), env, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Changed || second.Changed {
		t.Errorf("Changed: first %v, second %v; want true, false", first.Changed, second.Changed)
	}
	// The second application saw 0 replicas but must keep the original 3.
	var st struct{ Replicas int32 }
	if err := json.Unmarshal(second.Restore, &st); err != nil || st.Replicas != 3 {
		t.Errorf("second record's restore data = %s (%v), want replicas 3", second.Restore, err)
	}
	if _, err := a.Restore(t.Context(), env, second); err != nil {
		t.Fatal(err)
	}
	waitPods(t, cs, ns, "app=web", 3)
}

// The database is lost: Restore gets only the action and the target, and
// works from the workloads' quell.dev/restore annotations.
func TestSuspendRestoreFromAnnotation(t *testing.T) {
	cs := admin(t)
	for _, tc := range workloadCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, cs)
			tc.make(t, cs, ns)
			sel := "app=" + tc.name
			running := waitPods(t, cs, ns, sel, tc.pods)
			tgt := target(t, cs, ns, running[0].Name)
			env := envFor(cs, nextIncident())
			a := &respond.Suspend{}
			before := tc.state(t, cs, ns)
			rec, err := a.Apply(t.Context(), env, tgt)
			if err != nil {
				t.Fatal(err)
			}
			waitPods(t, cs, ns, sel, 0)
			back, err := a.Restore(t.Context(), env, respond.Record{Action: respond.ActionSuspend, Target: tgt})
			if err != nil {
				t.Fatal(err)
			}
			if !back.Changed {
				t.Error("restore from annotation: Changed=false")
			}
			waitPods(t, cs, ns, sel, tc.pods)
			if got := tc.state(t, cs, ns); got != before {
				t.Errorf("state after restore = %q, want %q", got, before)
			}
			if ann := restoreAnnotation(t, cs, rec.Object); ann != "" {
				t.Errorf("annotation left after restore: %s", ann)
			}
		})
	}
}

func TestSuspendNotPossible(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	mkPod(t, cs, ns, "bare")
	mkPod(t, cs, ns, "rollout-x", func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "canary", UID: "u1", Controller: ptr.To(true)}}
	})
	for _, pod := range []string{"bare", "rollout-x"} {
		t.Run(pod, func(t *testing.T) {
			tgt := target(t, cs, ns, pod)
			_, err := (&respond.Suspend{}).Apply(t.Context(), envFor(cs, nextIncident()), tgt)
			if !errors.Is(err, respond.ErrNotSuspendable) {
				t.Errorf("err = %v, want ErrNotSuspendable", err)
			}
			if rules := (&respond.Suspend{}).Rules(tgt); rules != nil {
				t.Errorf("rules for a target that cannot be suspended: %v", rules)
			}
		})
	}
}

func TestSuspendGitOps(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		want        string
	}{
		{"argo-label", map[string]string{"argocd.argoproj.io/instance": "shop"}, nil, "argocd:shop"},
		{"argo-tracking", nil, map[string]string{"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:x/y"}, "argocd:shop:apps/Deployment:x/y"},
		{"flux-kustomize", map[string]string{"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}, nil, "flux-kustomization:flux-system/apps"},
		{"flux-helm", map[string]string{"helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "team"}, nil, "flux-helmrelease:team/web"},
		{"plain", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mkDeployment(t, cs, ns, tt.name, 1, func(d *appsv1.Deployment) {
				d.Labels, d.Annotations = tt.labels, tt.annotations
			})
			p := waitPods(t, cs, ns, "app="+tt.name, 1)
			rec, err := (&respond.Suspend{}).Apply(t.Context(), envFor(cs, nextIncident()), target(t, cs, ns, p[0].Name))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, rec.GitOps); diff != "" {
				t.Errorf("GitOps (-want +got):\n%s", diff)
			}
		})
	}
}
