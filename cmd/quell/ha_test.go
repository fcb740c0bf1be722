package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"quell.dev/quell/internal/apiclient"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/testenv"
)

// haConfig is the replicas' shared configuration: a short lease so the
// takeover after a crash is quick, and a verification hold long enough to
// kill the leader in the middle of a response.
const haConfig = `ha:
  enabled: true
  lease_namespace: %s
  lease_duration: 3s
  renew_deadline: 2s
  retry_period: 250ms
  poll_interval: 100ms
response:
  verify_hold: 5s
`

// replica is one `quell server` process of an HA pair.
type replica struct {
	p  *serverProcess
	cl *apiclient.Client
}

// metric reads one sample of the replica's /metrics: the sum of the
// series named name (with any labels).
func (r *replica) metric(t *testing.T, token, name string) float64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, r.p.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, _ := strings.Cut(line, " ")
		if base, _, _ := strings.Cut(series, "{"); base == name {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("metric %q: %v", line, err)
			}
			sum += v
		}
	}
	return sum
}

// TestHAFailover runs two `quell server` processes on one PostgreSQL
// store and one control plane. Both accept alerts and serve the API;
// exactly one, the holder of the Lease, acts: an alert sent to the other
// replica is handled by the leader, and a restore asked of the other
// replica is forwarded to the leader. Then the leader is killed (SIGKILL)
// while it verifies a suspension: the other replica takes the Lease over
// once it expires, resumes the response from the store and finishes it,
// and the Deployment was written once.
func TestHAFailover(t *testing.T) {
	dsn := testenv.Postgres(t)
	first := newCrashEnv(t, "ha-first", "")
	second := newCrashEnv(t, "ha-second", "")
	leaseNS := testenv.Namespace(t, first.cs, "ha-lease")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "quell.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(haConfig, leaseNS)), 0o600); err != nil {
		t.Fatal(err)
	}
	token := first.token
	args := []string{"--store", dsn, "--kubeconfig", testenv.Cluster(t).Kubeconfig, "--mode", "enforce",
		"--auth-token-file", writeToken(t, dir, token), "--config", cfg}
	first.dsn, second.dsn = dsn, dsn
	start := func(name string) *replica {
		p := startProcess(t, filepath.Join(dir, name+".log"), args...)
		cl, err := apiclient.New(p.url, token)
		if err != nil {
			t.Fatal(err)
		}
		return &replica{p: p, cl: cl}
	}
	a := start("a")
	waitFor(t, 15*time.Second, "replica a to lead", func() bool { return a.metric(t, token, "quell_leader") == 1 })
	b := start("b")
	time.Sleep(time.Second) // b campaigns and observes a
	if got := b.metric(t, token, "quell_leader"); got != 0 {
		t.Fatalf("replica b leads (quell_leader %v) while a holds the lease", got)
	}

	// An alert sent to the follower is handled by the leader.
	id1 := first.alert(t, b.cl)
	inc := waitState(t, a.cl, id1, incident.StateContained)
	if n := len(records(t, inc.Timeline, incident.EntryActionSucceeded, respond.ActionSuspend)); n != 1 {
		t.Fatalf("%d suspensions, want 1:\n%s", n, timelineText(inc))
	}
	if got := b.metric(t, token, "quell_actions_total"); got != 0 {
		t.Errorf("the follower counts %v actions, want 0: only the leader acts", got)
	}
	if got := a.metric(t, token, "quell_actions_total"); got == 0 {
		t.Error("the leader counts no action")
	}
	if got := a.metric(t, token, "quell_response_followed_total"); got == 0 {
		t.Error("the leader found no incident in the store: the alert the follower stored was not handled through the store poll")
	}
	first.suspendedOnce(t)
	// A restore asked of the follower is forwarded and done by the leader.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := b.cl.Restore(ctx, id1); err != nil {
		t.Fatalf("restore through the follower: %v", err)
	}
	if got := *deployment(t, first.cs, first.ns, "miner").Spec.Replicas; got != 3 {
		t.Errorf("after the restore through the follower: %d replicas, want 3", got)
	}
	if n := a.metric(t, token, "quell_restores_total"); n != 1 {
		t.Errorf("the leader counts %v restores, want 1", n)
	}
	if n := b.metric(t, token, "quell_restores_total") + b.metric(t, token, "quell_actions_total"); n != 0 {
		t.Errorf("the follower counts %v actions and restores after forwarding the restore, want 0", n)
	}

	// Kill the leader while it verifies a suspension.
	id2 := second.alert(t, a.cl)
	waitFor(t, 30*time.Second, "the second Deployment at 0 replicas", func() bool {
		return *deployment(t, second.cs, second.ns, "miner").Spec.Replicas == 0
	})
	a.p.kill(t)
	killed := time.Now()
	waitFor(t, 15*time.Second, "replica b to lead", func() bool { return b.metric(t, token, "quell_leader") == 1 })
	took := time.Since(killed)
	t.Logf("replica b leads %s after the leader was killed (lease duration 3s)", took.Round(time.Millisecond))
	if took > 3*time.Second+2*time.Second {
		t.Errorf("takeover took %s, want within the lease duration and a retry period or two", took)
	}
	inc = waitState(t, b.cl, id2, incident.StateContained)
	if n := len(records(t, inc.Timeline, incident.EntryActionSucceeded, respond.ActionSuspend)); n != 1 {
		t.Errorf("%d suspend-workload outcomes after the takeover, want 1:\n%s", n, timelineText(inc))
	}
	if n := count(inc.Timeline, incident.EntryActionStarted, respond.ActionSuspend); n != 1 {
		t.Errorf("%d suspend-workload starts, want 1:\n%s", n, timelineText(inc))
	}
	if n := count(inc.Timeline, incident.EntryVerification, "contained: suspend-workload verified"); n != 1 {
		t.Errorf("%d verifications, want 1:\n%s", n, timelineText(inc))
	}
	second.suspendedOnce(t)
	if pods, err := second.cs.CoreV1().Pods(second.ns).List(t.Context(), metav1.ListOptions{}); err != nil || len(activePods(pods.Items)) != 0 {
		t.Errorf("pods of the suspended Deployment: %v (%v), want none", podNames(pods), err)
	}
	// The new leader serves the first incident's restore too (recorded
	// before the failover): restoring again changes nothing.
	recs, err := b.cl.Restore(ctx, id1)
	if err != nil {
		t.Fatalf("restore again on the new leader: %v", err)
	}
	if len(recs) == 0 {
		t.Error("the second restore returned no record")
	}
}

func activePods(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func podNames(l *corev1.PodList) []string {
	if l == nil {
		return nil
	}
	var out []string
	for _, p := range l.Items {
		out = append(out, p.Name)
	}
	return out
}
