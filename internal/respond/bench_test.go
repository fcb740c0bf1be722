package respond_test

import (
	"slices"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/respond"
)

// reportLatency reports the p50 and p99 of ds in milliseconds.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(p int) float64 {
		return float64(ds[min(len(ds)-1, len(ds)*p/100)].Microseconds()) / 1000
	}
	b.ReportMetric(at(50), "p50-ms")
	b.ReportMetric(at(99), "p99-ms")
}

// BenchmarkSuspendDeployment measures suspend-workload on a 3-replica
// Deployment until a watch has seen its last pod go (hold period 0), with
// the controllers deleting the pods and with DeletePods. Restoring and
// waiting for the pods to come back is not timed.
func BenchmarkSuspendDeployment(b *testing.B) {
	b.Run("controllers", func(b *testing.B) { benchSuspend(b, &respond.Suspend{}) })
	b.Run("delete-pods", func(b *testing.B) { benchSuspend(b, &respond.Suspend{DeletePods: true}) })
}

func benchSuspend(b *testing.B, a *respond.Suspend) {
	cs := admin(b)
	ns := namespace(b, cs)
	mkDeployment(b, cs, ns, "web", 3)
	var ds []time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		running := waitPods(b, cs, ns, "app=web", 3)
		tgt := target(b, cs, ns, running[0].Name)
		env := envFor(cs, nextIncident())
		env.VerifyHold = ptr.To(time.Duration(0))
		b.StartTimer()
		start := time.Now()
		rec, err := a.Apply(b.Context(), env, tgt)
		if err != nil {
			b.Fatal(err)
		}
		if err := respond.Verify(b.Context(), env, tgt, rec); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
		b.StopTimer()
		if _, err := a.Restore(b.Context(), env, rec); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	reportLatency(b, ds)
}

// BenchmarkTerminatePod measures terminate-pod on a bare pod until a watch
// has seen its UID go (hold period 0). Creating the pod is not timed.
func BenchmarkTerminatePod(b *testing.B) {
	cs := admin(b)
	ns := namespace(b, cs)
	a := &respond.Terminate{}
	var ds []time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		p := mkPod(b, cs, ns, "bare-"+itoa32(nextIncident()))
		tgt := target(b, cs, ns, p.Name)
		env := envFor(cs, nextIncident())
		env.VerifyHold = ptr.To(time.Duration(0))
		b.StartTimer()
		start := time.Now()
		rec, err := a.Apply(b.Context(), env, tgt)
		if err != nil {
			b.Fatal(err)
		}
		if err := respond.Verify(b.Context(), env, tgt, rec); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, ds)
}
