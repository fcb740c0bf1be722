package playbook_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
)

func template(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{Name: "c", Image: "xmrig/xmrig"}}}}
}

// TestMinerSuspendsEveryKind runs the built-in playbook on a miner alert
// in a pod of a StatefulSet, of a CronJob's Job and of a DaemonSet: each
// workload is suspended, no pod of it runs, the incident is contained, and
// a restore brings the pods back.
func TestMinerSuspendsEveryKind(t *testing.T) {
	for _, tc := range []struct {
		kind string
		make func(t *testing.T, e *env)
		pods int
	}{
		{"StatefulSet", func(t *testing.T, e *env) {
			_, err := e.cs.AppsV1().StatefulSets(e.ns).Create(t.Context(), &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "sts"},
				Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), PodManagementPolicy: appsv1.ParallelPodManagement,
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}}, Template: template("w")}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
		}, 2},
		{"CronJob", func(t *testing.T, e *env) {
			tmpl := template("w")
			tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
			cj, err := e.cs.BatchV1().CronJobs(e.ns).Create(t.Context(), &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "cron"},
				Spec: batchv1.CronJobSpec{Schedule: "0 0 1 1 *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// The active Job, as the CronJob controller makes it.
			if _, err := e.cs.BatchV1().Jobs(e.ns).Create(t.Context(), &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "cron-1",
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true)}}},
				Spec: batchv1.JobSpec{Template: tmpl}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, 1},
		{"DaemonSet", func(t *testing.T, e *env) {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + e.ns, Labels: map[string]string{"quell-test": e.ns}}}
			n, err := e.cs.CoreV1().Nodes().Create(t.Context(), node, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.cs.CoreV1().Nodes().Delete(t.Context(), n.Name, metav1.DeleteOptions{}) })
			n.Spec.Taints = nil // no kubelet clears the not-ready taint
			if _, err := e.cs.CoreV1().Nodes().Update(t.Context(), n, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			tmpl := template("w")
			tmpl.Spec.NodeSelector = map[string]string{"quell-test": e.ns}
			if _, err := e.cs.AppsV1().DaemonSets(e.ns).Create(t.Context(), &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "ds"},
				Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}}, Template: tmpl}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, 1},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			e := setup(t, config.ModeEnforce)
			tc.make(t, e)
			pods := e.pods(t, "app=w", tc.pods)
			id := e.alert(t, e.ns, pods[0].Name, miner, "Critical")
			e.waitEntry(t, id, incident.EntryActionSucceeded, "suspend-workload "+tc.kind+"/")
			e.waitEntry(t, id, incident.EntryCleanup, "cleanup")
			if got := e.state(t, id); got != incident.StateContained {
				t.Fatalf("state = %s, want contained", got)
			}
			e.pods(t, "app=w", 0)
			if _, err := e.eng.Restore(t.Context(), id, "test"); err != nil {
				t.Fatal(err)
			}
			e.waitEntry(t, id, incident.EntryRestore, "restored suspend-workload "+tc.kind+"/")
			if tc.kind == "CronJob" {
				cj, err := e.cs.BatchV1().CronJobs(e.ns).Get(t.Context(), "cron", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
					t.Fatal("CronJob still suspended after restore")
				}
			}
			e.pods(t, "app=w", tc.pods)
		})
	}
}
