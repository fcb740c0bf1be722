package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/apiclient"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/incident/sqlstore"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/testenv"
)

const stratumRule = "Detect crypto miners using the Stratum protocol"

// crashEnv is one crash test: a namespace with a Deployment, a store and
// the arguments that start `quell server` on them, in enforce mode.
type crashEnv struct {
	cs      kubernetes.Interface
	ns, pod string
	dsn     string
	log     string
	args    []string
	token   string
}

func newCrashEnv(t *testing.T, prefix, config string) *crashEnv {
	t.Helper()
	c := testenv.Cluster(t)
	cs, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t, cs, prefix)
	pod := newDeployment(t, cs, ns, "miner", 3)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "quell.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = "crash-test-token-0123456789"
	e := &crashEnv{cs: cs, ns: ns, pod: pod, dsn: "sqlite://" + filepath.Join(dir, "q.db"), log: filepath.Join(dir, "server.log"), token: token}
	e.args = []string{"--store", e.dsn, "--kubeconfig", c.Kubeconfig, "--mode", "enforce",
		"--auth-token-file", writeToken(t, dir, token), "--config", cfg}
	return e
}

func (e *crashEnv) start(t *testing.T) (*serverProcess, *apiclient.Client) {
	t.Helper()
	p := startProcess(t, e.log, e.args...)
	cl, err := apiclient.New(p.url, e.token)
	if err != nil {
		t.Fatal(err)
	}
	return p, cl
}

// alert posts a crypto-miner alert about the Deployment's pod, as Falco
// sends it, and returns the incident it opened.
func (e *crashEnv) alert(t *testing.T, cl *apiclient.Client) int64 {
	t.Helper()
	alert := map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339Nano), "rule": stratumRule, "priority": "Critical", "source": "syscall",
		"hostname": "node-1", "output": "Outbound connection to a Stratum mining pool (proc=xmrig pod=" + e.pod + ")",
		"output_fields": map[string]any{"k8s.ns.name": e.ns, "k8s.pod.name": e.pod, "proc.name": "xmrig",
			"proc.cmdline": "xmrig -o stratum+tcp://pool.example:3333", "fd.sip": "203.0.113.7", "fd.sport": 3333},
	}
	if err := cl.PostFalco(t.Context(), alert); err != nil {
		t.Fatalf("post alert: %v", err)
	}
	var id int64
	waitFor(t, 10*time.Second, "the alert's incident", func() bool {
		list, _, err := cl.List(t.Context(), url.Values{"namespace": {e.ns}})
		if err == nil && len(list) == 1 {
			id = list[0].ID
		}
		return id != 0
	})
	return id
}

// timeline reads the incident's timeline straight from the store, with no
// server running.
func (e *crashEnv) timeline(t *testing.T, id int64) []incident.Entry {
	t.Helper()
	store, err := sqlstore.Open(t.Context(), e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tl, err := store.Timeline(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// waitState waits until the incident is in state and returns it with its
// timeline.
func waitState(t *testing.T, cl *apiclient.Client, id int64, state incident.State) *apiclient.IncidentWithTimeline {
	t.Helper()
	var inc *apiclient.IncidentWithTimeline
	deadline := time.Now().Add(45 * time.Second)
	for {
		var err error
		inc, err = cl.Get(t.Context(), id)
		if err == nil && inc.State == state {
			return inc
		}
		if time.Now().After(deadline) {
			t.Fatalf("incident %d not %s after 45s (%v):\n%s", id, state, err, timelineText(inc))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func timelineText(inc *apiclient.IncidentWithTimeline) string {
	if inc == nil {
		return "(no incident)"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "state %s\n", inc.State)
	for _, e := range inc.Timeline {
		fmt.Fprintf(&sb, "  %s %s %s\n", e.Time.Format("15:04:05.000"), e.Type, e.Summary)
	}
	return sb.String()
}

// records decodes the records of a timeline's entries of typ for action.
func records(t *testing.T, tl []incident.Entry, typ incident.EntryType, action string) []respond.Record {
	t.Helper()
	var out []respond.Record
	for _, e := range tl {
		if e.Type != typ {
			continue
		}
		var rec respond.Record
		if err := json.Unmarshal(e.Data, &rec); err != nil {
			t.Fatalf("entry %d: %v", e.ID, err)
		}
		if rec.Action == action {
			out = append(out, rec)
		}
	}
	return out
}

func count(tl []incident.Entry, typ incident.EntryType, text string) int {
	n := 0
	for _, e := range tl {
		if e.Type == typ && strings.Contains(e.Summary, text) {
			n++
		}
	}
	return n
}

// restoreReplicas reads the replicas recorded in the Deployment's restore
// annotation.
func (e *crashEnv) restoreReplicas(t *testing.T) int32 {
	t.Helper()
	raw, ok := deployment(t, e.cs, e.ns, "miner").Annotations[respond.AnnotationRestore]
	if !ok {
		t.Fatalf("the Deployment has no %s annotation", respond.AnnotationRestore)
	}
	var st struct {
		Replicas *int32 `json:"replicas"`
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil || st.Replicas == nil {
		t.Fatalf("annotation %s = %s: %v", respond.AnnotationRestore, raw, err)
	}
	return *st.Replicas
}

// TestKillDuringResponseAndRestart kills quell (SIGKILL) once the
// Deployment is scaled to 0, while containment is being verified, and
// restarts it on the same store: the restarted engine resumes the
// incident and finishes it without acting twice.
//
// Two cases are possible, by when the kill lands: after the action's
// outcome was recorded (usual: it is written right after the scale, and
// the verification hold lasts 5s), or between the scale and that record.
// In the first the restart must not apply the action again; in the second
// it applies it again, which finds the Deployment at 0 and records
// changed=false with the restore point kept from the annotation, and the
// evidence captured before the action is lost with the process. Either way
// there is exactly one suspend-workload outcome, the Deployment was written
// once (its restore point, then the scale), and its restore point says 3.
func TestKillDuringResponseAndRestart(t *testing.T) {
	e := newCrashEnv(t, "crash-mid-response", "response:\n  verify_hold: 5s\n")
	p, cl := e.start(t)
	id := e.alert(t, cl)
	waitFor(t, 30*time.Second, "the Deployment at 0 replicas", func() bool {
		return *deployment(t, e.cs, e.ns, "miner").Spec.Replicas == 0
	})
	p.kill(t)

	before := e.timeline(t, id)
	recordedBefore := records(t, before, incident.EntryActionSucceeded, respond.ActionSuspend)
	if len(recordedBefore) > 1 || count(before, incident.EntryVerification, "") != 0 {
		t.Fatalf("before the restart: %d suspend outcomes, %d verifications; want at most 1 and none",
			len(recordedBefore), count(before, incident.EntryVerification, ""))
	}
	t.Logf("killed with the outcome recorded: %v", len(recordedBefore) == 1)

	_, cl = e.start(t)
	inc := waitState(t, cl, id, incident.StateContained)
	tl := inc.Timeline
	suspends := records(t, tl, incident.EntryActionSucceeded, respond.ActionSuspend)
	if len(suspends) != 1 {
		t.Fatalf("%d suspend-workload outcomes, want 1:\n%s", len(suspends), timelineText(inc))
	}
	recorded := len(recordedBefore) == 1
	if suspends[0].Changed != recorded {
		t.Errorf("the outcome says changed=%v, want %v (recorded before the kill: %v)", suspends[0].Changed, recorded, recorded)
	}
	// The evidence, captured in memory before the action, is recorded with
	// its outcome. Killed before that, the restart captures it again, which
	// fails once the scale has deleted the pod.
	evidence := count(tl, incident.EntryEvidence, "capture-evidence")
	evidenceFailed := count(tl, incident.EntryActionFailed, "capture-evidence failed")
	if recorded && (evidence != 1 || evidenceFailed != 0) || evidence+evidenceFailed != 1 {
		t.Errorf("%d evidence entries and %d failed captures, want one of them (1 evidence when recorded before the kill)", evidence, evidenceFailed)
	}
	for _, c := range []struct {
		typ  incident.EntryType
		text string
		want int
	}{
		{incident.EntryActionFailed, "", evidenceFailed},
		{incident.EntryActionStarted, respond.ActionSuspend, 1},
		{incident.EntryVerification, "contained: suspend-workload verified", 1},
		{incident.EntryVerification, "not contained", 0},
	} {
		if n := count(tl, c.typ, c.text); n != c.want {
			t.Errorf("%d %s entries with %q, want %d:\n%s", n, c.typ, c.text, c.want, timelineText(inc))
		}
	}
	e.suspendedOnce(t)
	var restore struct {
		Replicas *int32 `json:"replicas"`
	}
	if err := json.Unmarshal(suspends[0].Restore, &restore); err != nil || restore.Replicas == nil || *restore.Replicas != 3 {
		t.Errorf("the outcome's restore data %s (%v): want replicas 3", suspends[0].Restore, err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := cl.Restore(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := *deployment(t, e.cs, e.ns, "miner").Spec.Replicas; got != 3 {
		t.Errorf("after restore: %d replicas, want 3", got)
	}
	waitPods(t, e.cs, e.ns, "miner", 3)
}

const pausePlaybook = `playbooks:
  - name: miners-after-a-pause
    match: {rules: ["Detect crypto miners*"]}
    steps:
      - validate
      - enrich
      - action: capture-evidence
      - action: suspend-workload
        approve: auto-after 4s
`

// TestKillWhileAwaitingApprovalAndRestart kills quell (SIGKILL) after it
// acknowledged the alert and asked for approval, before any action, and
// restarts it: the auto-after deadline recorded before the kill still
// holds, and the response runs once, after it.
func TestKillWhileAwaitingApprovalAndRestart(t *testing.T) {
	pb := filepath.Join(t.TempDir(), "playbooks.yaml")
	if err := os.WriteFile(pb, []byte(pausePlaybook), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newCrashEnv(t, "crash-awaiting-approval", "response:\n  playbooks: ["+pb+"]\n")
	p, cl := e.start(t)
	id := e.alert(t, cl)
	var deadline time.Time
	waitFor(t, 20*time.Second, "the approval request", func() bool {
		inc, err := cl.Get(t.Context(), id)
		if err != nil {
			return false
		}
		for _, ent := range inc.Timeline {
			var rec struct {
				Status   string     `json:"status"`
				Deadline *time.Time `json:"deadline"`
			}
			if ent.Type == incident.EntryApproval && json.Unmarshal(ent.Data, &rec) == nil && rec.Status == "requested" && rec.Deadline != nil {
				deadline = *rec.Deadline
				return true
			}
		}
		return false
	})
	p.kill(t)
	if time.Now().After(deadline) {
		t.Fatalf("killed at %s, after the deadline %s: the machine is too slow for this test", time.Now().UTC(), deadline)
	}
	if got := *deployment(t, e.cs, e.ns, "miner").Spec.Replicas; got != 3 {
		t.Fatalf("%d replicas before the deadline, want 3", got)
	}

	p, cl = e.start(t)
	inc := waitState(t, cl, id, incident.StateContained)
	tl := inc.Timeline
	suspends := records(t, tl, incident.EntryActionSucceeded, respond.ActionSuspend)
	if len(suspends) != 1 || !suspends[0].Changed {
		t.Fatalf("suspend-workload outcomes %+v, want one with changed=true:\n%s", suspends, timelineText(inc))
	}
	for _, ent := range tl {
		if ent.Type == incident.EntryActionStarted && strings.HasPrefix(ent.Summary, respond.ActionSuspend) && ent.Time.Before(deadline) {
			t.Errorf("suspend-workload started at %s, before the deadline %s", ent.Time, deadline)
		}
	}
	for _, c := range []struct {
		typ  incident.EntryType
		text string
		want int
	}{
		{incident.EntryApproval, "awaits approval", 1},
		{incident.EntryApproval, "approved: no veto within 4s", 1},
		{incident.EntryActionStarted, respond.ActionSuspend, 1},
		{incident.EntryEvidence, "capture-evidence", 1},
		{incident.EntryVerification, "contained: suspend-workload verified", 1},
		{incident.EntryActionFailed, "", 0},
	} {
		if n := count(tl, c.typ, c.text); n != c.want {
			t.Errorf("%d %s entries with %q, want %d:\n%s", n, c.typ, c.text, c.want, timelineText(inc))
		}
	}
	e.suspendedOnce(t)
	env := []string{"QUELL_CLIENT_SERVER=" + p.url, "QUELL_CLIENT_TOKEN=" + e.token}
	if _, _, err := runQuell(t, env, "incidents", "veto", fmt.Sprint(id)); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("veto after the fact: %v, want a 409", err)
	}
}

// suspendedOnce checks that the miner Deployment was suspended by exactly
// one write and that its restore point records 3 replicas. A Deployment's
// generation counts changes of its spec and of its annotations: created
// (1), then one write with the restore point and replicas 0 (2); a second
// suspension would make it 3.
func (e *crashEnv) suspendedOnce(t *testing.T) {
	t.Helper()
	d := deployment(t, e.cs, e.ns, "miner")
	if *d.Spec.Replicas != 0 || d.Generation != 2 {
		t.Errorf("Deployment: %d replicas, generation %d; want 0 and 2 (one write: restore point and scale)", *d.Spec.Replicas, d.Generation)
	}
	if got := e.restoreReplicas(t); got != 3 {
		t.Errorf("restore annotation records %d replicas, want 3", got)
	}
}
