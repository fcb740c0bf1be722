package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/server"
)

// TestResolveDoesNotStallOtherClusters makes cluster a's resolution hang
// until its deadline, as an unreachable API server does, and checks that
// a batch for cluster b, posted while a's batch waits, is stored at once
// (resolved), that a's batch is stored when its bound ends with the
// target left a pod, and that one batch naming both clusters resolves
// b's targets and waits for a's bound only.
func TestResolveDoesNotStallOtherClusters(t *testing.T) {
	entered := make(chan struct{}, 16)
	const bound = 2 * time.Second
	resolveTo := func(t incident.Target) incident.Target {
		t.Kind, t.WorkloadKind, t.Name = incident.TargetWorkload, "Deployment", "owner-of-"+t.Pod
		return t
	}
	h := startOptions(t, "", func(o *server.Options) {
		o.ResolveTimeout = bound
		o.Clusters = []server.Cluster{
			{Name: "a", Resolve: func(ctx context.Context, t incident.Target) incident.Target {
				entered <- struct{}{}
				<-ctx.Done()
				return t
			}},
			{Name: "b", Resolve: func(_ context.Context, t incident.Target) incident.Target { return resolveTo(t) }},
		}
	})
	doneA := make(chan int, 1)
	go func() {
		code, _ := h.do(t, "POST", "/v1/falco?cluster=a", token, mustJSON(t, falcoAlert("in a", nil)))
		doneA <- code
	}()
	<-entered // a's batch is stuck resolving
	start := time.Now()
	if code, resp := h.do(t, "POST", "/v1/falco?cluster=b", token, mustJSON(t, falcoAlert("in b", nil))); code != http.StatusAccepted {
		t.Fatalf("POST for b = %d %v", code, resp)
	}
	tookB := time.Since(start)
	select {
	case code := <-doneA:
		t.Fatalf("a's batch answered %d before b's was stored: b waited for a", code)
	default:
	}
	t.Logf("b's batch stored in %s while a's resolution hung", tookB)
	if code := <-doneA; code != http.StatusAccepted {
		t.Fatalf("POST for a = %d, want 202 once its resolution is bounded", code)
	}
	t.Logf("a's batch stored %s after b's began (bound %s)", time.Since(start), bound)

	kinds := func(cluster string) []string {
		list, err := h.store.List(t.Context(), incident.Filter{Cluster: cluster})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, inc := range list {
			out = append(out, string(inc.Target.Kind))
		}
		return out
	}
	if diff := cmp.Diff([]string{"pod"}, kinds("a")); diff != "" {
		t.Errorf("a's incidents (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"workload"}, kinds("b")); diff != "" {
		t.Errorf("b's incidents (-want +got):\n%s", diff)
	}
	if m := h.metrics(t); !strings.Contains(m, `quell_resolve_timeouts_total{cluster="a"} 1`) {
		t.Error(`metrics lack quell_resolve_timeouts_total{cluster="a"} 1`)
	}

	// One batch for both clusters (a Falcosidekick serving both).
	mixed := mustJSON(t, []any{
		falcoAlert("mixed a", map[string]any{"k8s.cluster.name": "a", "k8s.pod.name": "web-2"}),
		falcoAlert("mixed b", map[string]any{"k8s.cluster.name": "b", "k8s.pod.name": "web-2"}),
	})
	if code, resp := h.do(t, "POST", "/v1/falco", token, mixed); code != http.StatusAccepted {
		t.Fatalf("mixed batch = %d %v", code, resp)
	}
	if diff := cmp.Diff([]string{"pod", "pod"}, kinds("a")); diff != "" {
		t.Errorf("a's incidents after the mixed batch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"workload", "workload"}, kinds("b")); diff != "" {
		t.Errorf("b's incidents after the mixed batch (-want +got):\n%s", diff)
	}
}
