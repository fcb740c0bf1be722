package playbook_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"quell.dev/quell/internal/bench/contained"
	"quell.dev/quell/internal/incident"
)

// BenchmarkAlertToContained measures, per incident, the time from handing
// the engine a stored alert (once the engine's watched copy holds the pod
// and its owners, as it does for any pod that has run long enough to
// alert) to a watch opened before it seeing the
// workload's last pod deleted: the bare pod (terminate), or the pod of a
// 1-replica Deployment after the scale to 0 (suspend; a replacement pod
// would have to go too). Validation, enrichment, evidence capture and the
// action are inside the measured time; the verification hold is not (the
// cluster is already contained when it starts), but every incident must
// be verified contained before the next alert is sent.
func BenchmarkAlertToContained(b *testing.B) {
	for _, kind := range []string{"terminate", "suspend"} {
		b.Run(kind, func(b *testing.B) {
			e := setupWith(b, unlimited())
			var lat []time.Duration
			for i := 0; b.Loop(); i++ {
				name := fmt.Sprintf("%s-%d", kind, i)
				var pod, sel string
				rule, prio := "Launch Suspicious Network Tool in Container", "Notice"
				if kind == "terminate" {
					if _, err := e.cs.CoreV1().Pods(e.ns).Create(b.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
						Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
						b.Fatal(err)
					}
					pod, sel = name, "metadata.name="+name
				} else {
					pod, sel = e.deployment(b, name, 1)[0].Name, "app="+name
					rule, prio = "Known Cryptominer Process Executed", "Critical"
				}
				e.watched(b, pod)
				w, err := contained.Start(b.Context(), e.cs, e.ns, sel)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				id := e.alert(b, e.ns, pod, rule, prio)
				at, err := w.Wait(b.Context(), 30*time.Second)
				w.Stop()
				if err != nil {
					e.fatalTimeline(b, id, err)
				}
				lat = append(lat, at.Sub(start))
				b.StopTimer()
				e.waitContained(b, id)
				b.StartTimer()
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// watched waits, for at most 10s, until the watched copy behind the
// engine holds pod and each of its owners.
func (e *env) watched(b testing.TB, pod string) {
	deadline := time.Now().Add(10 * time.Second)
	kind, name := "Pod", pod
	for kind != "" {
		obj, ok := e.objs.Get(kind, e.ns, name)
		if !ok {
			if time.Now().After(deadline) {
				b.Fatalf("%s %s/%s not in the watched copy within 10s", kind, e.ns, name)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		kind, name = "", ""
		if c := metav1.GetControllerOfNoCopy(obj); c != nil {
			kind, name = c.Kind, c.Name
		}
	}
}

// waitContained waits, for at most 30s, for incident id to be verified
// contained, and fails on any other final state.
func (e *env) waitContained(b testing.TB, id int64) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		inc, err := e.store.Get(b.Context(), id)
		if err != nil {
			b.Fatal(err)
		}
		switch inc.State {
		case incident.StateContained:
			return
		case incident.StateFailed, incident.StateResolved, incident.StateFalsePositive:
			e.fatalTimeline(b, id, fmt.Errorf("incident %d is %s, want contained", id, inc.State))
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.fatalTimeline(b, id, fmt.Errorf("incident %d not contained within 30s", id))
}

// fatalTimeline fails with err after logging incident id's timeline.
func (e *env) fatalTimeline(b testing.TB, id int64, err error) {
	tl, _ := e.store.Timeline(b.Context(), id)
	for _, ent := range tl {
		b.Logf("  %s %s", ent.Type, ent.Summary)
	}
	b.Fatal(err)
}
