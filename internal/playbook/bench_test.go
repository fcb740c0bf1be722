package playbook_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkAlertToContained measures, per incident, the time from handing
// the engine a stored alert to the bench's own watch seeing the threat
// gone: the bare pod deleted (terminate), or the pod of a 1-replica
// Deployment deleted by its controllers after the scale to 0 (suspend). Validation, enrichment, evidence capture
// and the action are inside the measured time; the verification hold is
// not (the cluster is already contained when it starts).
func BenchmarkAlertToContained(b *testing.B) {
	for _, kind := range []string{"terminate", "suspend"} {
		b.Run(kind, func(b *testing.B) {
			e := setupWith(b, unlimited())
			var lat []time.Duration
			for i := 0; b.Loop(); i++ {
				name := fmt.Sprintf("%s-%d", kind, i)
				var pod string
				rule, prio := "Launch Suspicious Network Tool in Container", "Notice"
				if kind == "terminate" {
					if _, err := e.cs.CoreV1().Pods(e.ns).Create(b.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
						Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
						b.Fatal(err)
					}
					pod = name
				} else {
					pod = e.deployment(b, name, 1)[0].Name
					rule, prio = "Known Cryptominer Process Executed", "Critical"
				}
				start := time.Now()
				id := e.alert(b, e.ns, pod, rule, prio)
				if !e.waitGone(b, pod) {
					tl, _ := e.store.Timeline(b.Context(), id)
					for _, ent := range tl {
						b.Logf("  %s %s", ent.Type, ent.Summary)
					}
					b.Fatalf("pod %s not deleted within 30s", pod)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// waitGone reports whether pod was gone within 30s, polling every
// millisecond (the measurement's resolution).
func (e *env) waitGone(b testing.TB, pod string) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, err := e.cs.CoreV1().Pods(e.ns).Get(b.Context(), pod, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}
