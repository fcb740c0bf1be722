package sqlstore

import (
	"fmt"
	"testing"
	"time"

	"quell.dev/quell/internal/incident"
)

// BenchmarkIngest measures sustained Ingest throughput with Falco-like
// alerts spread over 50 workloads, all distinct (no dedup shortcut), in
// batches as the HTTP layer's group commit would hand them over.
func BenchmarkIngest(b *testing.B) {
	for _, be := range backends {
		for _, size := range []int{100, 500, 1000} {
			b.Run(fmt.Sprintf("%s/batch=%d", be.name, size), func(b *testing.B) {
				s := mustOpen(b, be.dsn(b))
				defer s.Close()
				start := time.Now()
				n := 0
				batch := make([]incident.Alert, size)
				b.ResetTimer()
				for b.Loop() {
					b.StopTimer()
					for i := range batch {
						batch[i] = benchAlert(n, start)
						n++
					}
					b.StartTimer()
					if _, err := s.Ingest(b.Context(), batch, 10*time.Minute); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "alerts/s")
			})
		}
	}
}

func benchAlert(n int, start time.Time) incident.Alert {
	w := n % 50
	return incident.Alert{
		Source:   "falco",
		Rule:     "Terminal shell in container",
		Priority: "Notice",
		Time:     start.Add(time.Duration(n) * time.Microsecond),
		Output: fmt.Sprintf("A shell was spawned in a container with an attached terminal (evt_type=execve user=root "+
			"user_uid=0 process=bash proc_exepath=/bin/bash parent=runc command=bash -il terminal=34816 "+
			"exe_flags=EXE_WRITABLE container_id=%012x container_name=app k8s_ns=shop k8s_pod_name=web-%d-%d)", n, w, n%3),
		Tags:     []string{"maturity_stable", "container", "shell", "mitre_execution", "T1059"},
		Hostname: "worker-1",
		Fields: map[string]any{
			"evt.time": start.UnixNano() + int64(n), "proc.name": "bash", "proc.cmdline": "bash -il",
			"user.name": "root", "container.id": fmt.Sprintf("%012x", n), "k8s.ns.name": "shop",
			"k8s.pod.name": fmt.Sprintf("web-%d-%d", w, n%3),
		},
		Target: incident.Target{Cluster: "prod", Kind: incident.TargetWorkload, Namespace: "shop",
			WorkloadKind: "Deployment", Name: fmt.Sprintf("web-%d", w), Pod: fmt.Sprintf("web-%d-%d", w, n%3), Node: "worker-1"},
	}
}
