package playbook_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/playbook"
)

// deletions records when each pod of the namespace is deleted, from a
// watch opened before the alerts are sent.
type deletions struct {
	mu   sync.Mutex
	at   map[string]time.Time
	stop func()
}

// watchDeletions records the deletions of the namespace's pods from now on.
// The watch starts from a list's resourceVersion and is re-opened from the
// last event it delivered when the API server closes it (as it does a
// watcher that falls behind a burst of events), so no deletion is missed.
func (e *env) watchDeletions(b *testing.B) *deletions {
	l, err := e.cs.CoreV1().Pods(e.ns).List(b.Context(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	pods := e.cs.CoreV1().Pods(e.ns)
	w, err := watchtools.NewRetryWatcherWithContext(b.Context(), l.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return pods.Watch(ctx, o) },
	})
	if err != nil {
		b.Fatal(err)
	}
	d := &deletions{at: map[string]time.Time{}, stop: w.Stop}
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Deleted {
				d.mu.Lock()
				d.at[p.Name] = time.Now()
				d.mu.Unlock()
			}
		}
	}()
	return d
}

// wait waits until every pod in names is deleted and returns the times
// from sent[name].
func (d *deletions) wait(b *testing.B, sent map[string]time.Time) []time.Duration {
	deadline := time.Now().Add(60 * time.Second)
	for {
		d.mu.Lock()
		done := 0
		for n := range sent {
			if _, ok := d.at[n]; ok {
				done++
			}
		}
		if done == len(sent) {
			out := make([]time.Duration, 0, len(sent))
			for n, t := range sent {
				out = append(out, d.at[n].Sub(t))
			}
			d.mu.Unlock()
			return out
		}
		d.mu.Unlock()
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d pods deleted within 60s", done, len(sent))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) barePods(b testing.TB, prefix string, n int) []string {
	names := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := e.cs.CoreV1().Pods(e.ns).Create(b.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: names[i]},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	return names
}

// send records and hands the engine one alert about pod, as the server
// does (owner resolution, store, sink), and notes when it was sent.
func (e *env) send(b testing.TB, pod, rule, prio string) {
	a := incident.Alert{Source: "bench", Rule: rule, Priority: prio, Time: time.Now(), Output: rule + " in " + pod,
		Target: incident.Target{Cluster: "bench", Kind: incident.TargetPod, Namespace: e.ns, Name: pod, Pod: pod}}
	a.Target = e.res.Target(b.Context(), a.Target)
	res, err := e.store.Ingest(b.Context(), []incident.Alert{a}, 10*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	e.eng.Committed([]incident.Alert{a}, res)
}

func report(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkConcurrentIncidents sends 50 alerts about 50 bare pods (50
// distinct incidents) at once, each from its own goroutine, and measures
// each alert's time to its pod's deletion seen by a watch.
func BenchmarkConcurrentIncidents(b *testing.B) {
	e := setupWith(b, unlimited())
	var lat []time.Duration
	for round := 0; b.Loop(); round++ {
		b.StopTimer()
		names := e.barePods(b, fmt.Sprintf("c%d", round), 50)
		d := e.watchDeletions(b)
		b.StartTimer()
		sent := map[string]time.Time{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, n := range names {
			wg.Go(func() {
				mu.Lock()
				sent[n] = time.Now()
				mu.Unlock()
				e.send(b, n, "Launch Suspicious Network Tool in Container", "Notice")
			})
		}
		wg.Wait()
		lat = append(lat, d.wait(b, sent)...)
		d.stop()
	}
	report(b, lat)
}

// BenchmarkSustainedIncidents sends alerts about distinct bare pods at a
// fixed rate (QUELL_BENCH_RATE, default 200/s) for b.N alerts and reports
// the latency to deletion and the longest the response queue grew.
func BenchmarkSustainedIncidents(b *testing.B) {
	e := setupWith(b, unlimited())
	rate := 200
	if n, err := strconv.Atoi(os.Getenv("QUELL_BENCH_RATE")); err == nil && n > 0 {
		rate = n
	}
	b.StopTimer()
	names := e.barePods(b, "s", b.N)
	d := e.watchDeletions(b)
	defer d.stop()
	b.StartTimer()
	sent := make(map[string]time.Time, b.N)
	maxQueue := 0
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, n := range names {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval))) // a schedule, not a ticker: no send is skipped
		mu.Lock()
		sent[n] = time.Now()
		mu.Unlock()
		wg.Go(func() { e.send(b, n, "Launch Suspicious Network Tool in Container", "Notice") })
		maxQueue = max(maxQueue, e.eng.QueueLen())
	}
	wg.Wait()
	offered := float64(b.N) / time.Since(start).Seconds()
	lat := d.wait(b, sent)
	b.ReportMetric(offered, "alerts/s")
	b.ReportMetric(float64(maxQueue), "max-queue")
	report(b, lat)
}

// unlimited is enforce mode without the rate limits, which a benchmark
// of thousands of incidents would otherwise measure.
func unlimited() playbook.Options {
	return playbook.Options{Mode: config.ModeEnforce, ActionsPerMinute: 1 << 30, NamespaceActionsPerMinute: 1 << 30, Workers: workers()}
}

// workers is QUELL_BENCH_WORKERS, or the engine's default.
func workers() int {
	n, _ := strconv.Atoi(os.Getenv("QUELL_BENCH_WORKERS"))
	return n
}
