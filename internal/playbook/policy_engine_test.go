package playbook_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond"
)

const miner = "Known Cryptominer Process Executed"

// policy writes text to a playbook file and loads it.
func policy(t *testing.T, text string) (*playbook.Policy, string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "playbooks.yaml")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := playbook.LoadPolicy(respond.DefaultRegistry(), f)
	if err != nil {
		t.Fatal(err)
	}
	return p, f
}

func (e *env) replicas(t *testing.T, name string) int32 {
	t.Helper()
	d, err := e.cs.AppsV1().Deployments(e.ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

func (e *env) count(t *testing.T, id int64, typ incident.EntryType, text string) int {
	t.Helper()
	tl, err := e.store.Timeline(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ent := range tl {
		if ent.Type == typ && strings.Contains(ent.Summary, text) {
			n++
		}
	}
	return n
}

func TestAllowlistedImageIsNotActedOn(t *testing.T) {
	p, _ := policy(t, `
allowlist:
  - images: ["xmrig/*"]
    reason: the benchmark team runs this miner on purpose
`)
	e := setupWith(t, playbook.Options{Mode: config.ModeEnforce, Policy: p})
	pods := e.deployment(t, "bench", 2)
	id := e.alert(t, e.ns, pods[0].Name, miner, "Critical")
	e.waitEntry(t, id, incident.EntryDecision, "no action: allowlisted (")
	e.waitEntry(t, id, incident.EntryDecision, "the benchmark team runs this miner on purpose")
	if got := e.replicas(t, "bench"); got != 2 {
		t.Fatalf("replicas = %d, want 2 (untouched)", got)
	}
}

const approvalPlaybook = `
playbooks:
  - name: miners-with-approval
    match: {rules: ["*Cryptominer*"]}
    steps:
      - validate
      - enrich
      - action: capture-evidence
      - action: suspend-workload
        approve: %s
`

func TestApprovalRequiredThenApproved(t *testing.T) {
	p, _ := policy(t, strings.Replace(approvalPlaybook, "%s", "required", 1))
	e := setupWith(t, playbook.Options{Mode: config.ModeEnforce, Policy: p})
	pods := e.deployment(t, "miner", 3)
	id := e.alert(t, e.ns, pods[0].Name, miner, "Critical")
	e.waitEntry(t, id, incident.EntryApproval, "awaits approval: the playbook requires approval")
	time.Sleep(300 * time.Millisecond) // give a wrong engine time to act anyway
	if got := e.replicas(t, "miner"); got != 3 {
		t.Fatalf("replicas = %d before approval, want 3", got)
	}
	if n, err := e.eng.Approve(t.Context(), id, "carol", false); err != nil || n != 1 {
		t.Fatalf("approve: %d, %v; want 1 approval", n, err)
	}
	e.waitEntry(t, id, incident.EntryApproval, "approved by carol")
	e.waitEntry(t, id, incident.EntryCleanup, "cleanup")
	if got := e.replicas(t, "miner"); got != 0 {
		t.Fatalf("replicas = %d after approval, want 0", got)
	}
	if got := e.state(t, id); got != incident.StateContained {
		t.Fatalf("state = %s, want contained", got)
	}
	if _, err := e.eng.Approve(t.Context(), id, "carol", false); err != playbook.ErrNothingPending {
		t.Fatalf("second approve: %v, want ErrNothingPending", err)
	}
}

// vetoedMiner runs the approval playbook with approve (its request
// recorded as requested) on a 2-replica miner Deployment's first pod's
// alert, and has dave veto the suspension.
func vetoedMiner(t *testing.T, approve, requested string) (*env, []corev1.Pod, int64) {
	t.Helper()
	p, _ := policy(t, strings.Replace(approvalPlaybook, "%s", approve, 1))
	e := setupWith(t, playbook.Options{Mode: config.ModeEnforce, Policy: p})
	pods := e.deployment(t, "miner", 2)
	id := e.alert(t, e.ns, pods[0].Name, miner, "Critical")
	e.waitEntry(t, id, incident.EntryApproval, requested)
	if _, err := e.eng.Approve(t.Context(), id, "dave", true); err != nil {
		t.Fatal(err)
	}
	e.waitEntry(t, id, incident.EntryApproval, "vetoed by dave")
	return e, pods, id
}

func TestVetoedStepDoesNotRun(t *testing.T) {
	e, pods, id := vetoedMiner(t, "auto-after 1s", "unless vetoed")
	time.Sleep(1500 * time.Millisecond) // past the auto-after deadline
	e.alert(t, e.ns, pods[1].Name, miner, "Critical")
	e.waitEntry(t, id, incident.EntryDecision, "stopped: suspend-workload was vetoed by dave")
	if got := e.replicas(t, "miner"); got != 2 {
		t.Fatalf("replicas = %d, want 2: the step was vetoed", got)
	}
}

func TestAutoAfterActsWithoutVeto(t *testing.T) {
	p, _ := policy(t, strings.Replace(approvalPlaybook, "%s", "auto-after 500ms", 1))
	e := setupWith(t, playbook.Options{Mode: config.ModeEnforce, Policy: p})
	pods := e.deployment(t, "miner", 2)
	id := e.alert(t, e.ns, pods[0].Name, miner, "Critical")
	e.waitEntry(t, id, incident.EntryApproval, "unless vetoed")
	e.waitEntry(t, id, incident.EntryApproval, "approved: no veto within 500ms")
	e.waitEntry(t, id, incident.EntryCleanup, "cleanup")
	if got := e.replicas(t, "miner"); got != 0 {
		t.Fatalf("replicas = %d, want 0", got)
	}
}

func TestSuspensionLimitAsksForApproval(t *testing.T) {
	e := setupWith(t, playbook.Options{Mode: config.ModeEnforce, SuspensionsPerHour: 1})
	first := e.deployment(t, "first", 1)
	id1 := e.alert(t, e.ns, first[0].Name, miner, "Critical")
	e.waitEntry(t, id1, incident.EntryCleanup, "cleanup")
	second := e.deployment(t, "second", 1)
	id2 := e.alert(t, e.ns, second[0].Name, miner, "Critical")
	e.waitEntry(t, id2, incident.EntryApproval, "1 workloads of namespace "+e.ns+" were suspended in the last hour (limit 1)")
	if got := e.replicas(t, "second"); got != 1 {
		t.Fatalf("second replicas = %d, want 1 until approved", got)
	}
	if _, err := e.eng.Approve(t.Context(), id2, "erin", false); err != nil {
		t.Fatal(err)
	}
	e.waitEntry(t, id2, incident.EntryCleanup, "cleanup")
	if got := e.replicas(t, "second"); got != 0 {
		t.Fatalf("second replicas = %d after approval, want 0", got)
	}
}

func TestPlaybookModeAndOnError(t *testing.T) {
	p, _ := policy(t, `
playbooks:
  - name: observe-miners
    match: {rules: ["*Cryptominer*"], namespaces: ["*observe*"]}
    mode: observe
    steps: [validate, decide]
  - name: label-then-fail-then-go-on
    match: {rules: ["*Cryptominer*"]}
    steps:
      - validate
      - action: cordon-node
        on_error: continue
      - action: terminate-pod
`)
	e := setupWith(t, playbook.Options{Mode: config.ModeEnforce, Policy: p})
	pods := e.deployment(t, "miner", 1)
	id := e.alert(t, e.ns, pods[0].Name, miner, "Critical")
	e.waitEntry(t, id, incident.EntryActionFailed, "cordon-node failed")
	e.waitEntry(t, id, incident.EntryActionSucceeded, "terminate-pod")
	dec := e.waitEntry(t, id, incident.EntryDecision, "label-then-fail-then-go-on")
	if !strings.Contains(string(dec.Data), `"playbook":"label-then-fail-then-go-on"`) {
		t.Errorf("decision data %s does not name the playbook", dec.Data)
	}
}

func TestPlaybooksReloadOnlyWhenValid(t *testing.T) {
	p, file := policy(t, `
allowlist:
  - rules: ["*Cryptominer*"]
    reason: first version spares miners
`)
	e := setupWith(t, playbook.Options{Mode: config.ModeEnforce, Policy: p, PolicyFiles: []string{file}, ReloadInterval: 20 * time.Millisecond})
	pods := e.deployment(t, "miner", 1)
	id := e.alert(t, e.ns, pods[0].Name, miner, "Critical")
	e.waitEntry(t, id, incident.EntryDecision, "first version spares miners")

	// An invalid edit is refused: the running policy stays.
	if err := os.WriteFile(file, []byte("allowlist:\n  - rules: [\"*\"]\nplaybooks: [{name: x, steps: [explode]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	other := e.deployment(t, "other", 1)
	id2 := e.alert(t, e.ns, other[0].Name, miner, "Critical")
	e.waitEntry(t, id2, incident.EntryDecision, "first version spares miners")

	// A valid edit applies.
	if err := os.WriteFile(file, []byte("allowlist:\n  - rules: [\"nothing\"]\n    reason: second version\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	third := e.deployment(t, "third", 1)
	id3 := e.alert(t, e.ns, third[0].Name, miner, "Critical")
	e.waitEntry(t, id3, incident.EntryCleanup, "cleanup")
	if got := e.replicas(t, "third"); got != 0 {
		t.Fatalf("replicas = %d, want 0 under the reloaded policy", got)
	}
}

func TestManualResponse(t *testing.T) {
	e := setupWith(t, playbook.Options{Mode: config.ModeObserve}) // manual requests act whatever the mode
	pods := e.deployment(t, "web", 2)
	before := e.replicas(t, "web")

	dry, err := e.eng.Manual(t.Context(), respond.Request{Namespace: e.ns, Pod: pods[0].Name, Action: respond.ActionSuspend, DryRun: true}, "frank")
	if err != nil {
		t.Fatal(err)
	}
	e.waitEntry(t, dry, incident.EntryActionSucceeded, "dry run")
	if got := e.replicas(t, "web"); got != before {
		t.Fatalf("dry run changed replicas to %d", got)
	}

	id, err := e.eng.Manual(t.Context(), respond.Request{Namespace: e.ns, Pod: pods[0].Name, Action: respond.ActionSuspend, Reason: "ticket SEC-1"}, "frank")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := e.store.Timeline(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := "frank requested suspend-workload on pod " + e.ns + "/" + pods[0].Name + ": ticket SEC-1"
	if !slices.ContainsFunc(tl, func(ent incident.Entry) bool {
		return ent.Type == incident.EntryAlert && strings.Contains(string(ent.Data), want)
	}) {
		t.Errorf("no alert entry records %q", want)
	}
	e.waitEntry(t, id, incident.EntryEvidence, "capture-evidence")
	e.waitEntry(t, id, incident.EntryCleanup, "cleanup")
	if got := e.replicas(t, "web"); got != 0 {
		t.Fatalf("replicas = %d, want 0", got)
	}

	for _, bad := range []respond.Request{
		{Namespace: e.ns, Pod: "x", Action: "explode"},
		{Namespace: e.ns, Action: respond.ActionTerminate},
		{Node: "n1", Action: respond.ActionTerminate},
	} {
		if _, err := e.eng.Manual(t.Context(), bad, "frank"); err == nil || !strings.Contains(err.Error(), "bad request") {
			t.Errorf("Manual(%+v) = %v, want a bad request", bad, err)
		}
	}
	sys, err := e.eng.Manual(t.Context(), respond.Request{Namespace: "kube-system", Pod: "anything", Action: respond.ActionTerminate}, "frank")
	if err != nil {
		t.Fatal(err)
	}
	e.waitEntry(t, sys, incident.EntryDecision, "no action: namespace kube-system is protected")
}

// TestResumeAfterRestart plays what a restart finds: an alert recorded but
// never handled, and the action's idempotency key recorded without an
// outcome (quell stopped between the two). The new engine must apply the
// action (not skip it, not double it) and end contained.
func TestResumeAfterRestart(t *testing.T) {
	e := newEnv(t, playbook.Options{Mode: config.ModeEnforce})
	pods := e.deployment(t, "miner", 3)
	a := incident.Alert{Source: "test", Rule: miner, Priority: "Critical", Time: time.Now(), Output: "miner",
		Target: incident.Target{Cluster: "test", Kind: incident.TargetPod, Namespace: e.ns, Name: pods[0].Name, Pod: pods[0].Name}}
	a.Target = owner.NewResolver(e.cs, nil).Target(t.Context(), a.Target)
	res, err := e.store.Ingest(t.Context(), []incident.Alert{a}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	id := res[0].IncidentID
	chain, err := owner.NewResolver(e.cs, nil).Resolve(t.Context(), e.ns, pods[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	key := playbook.OnceKey(id, respond.ActionSuspend, respond.Target{Namespace: e.ns, Pod: pods[0].Name, Chain: chain}, false)
	if _, err := e.store.Once(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	e.waitEntry(t, id, incident.EntryCleanup, "cleanup")
	if got := e.state(t, id); got != incident.StateContained {
		t.Fatalf("state = %s, want contained", got)
	}
	if n := e.count(t, id, incident.EntryActionSucceeded, "suspend-workload"); n != 1 {
		t.Fatalf("%d suspend-workload successes recorded, want 1", n)
	}
	if got := e.replicas(t, "miner"); got != 0 {
		t.Fatalf("replicas = %d, want 0", got)
	}
	if _, err := e.eng.Restore(t.Context(), id, "test"); err != nil {
		t.Fatal(err)
	}
	if got := e.replicas(t, "miner"); got != 3 {
		t.Fatalf("replicas after restore = %d, want 3", got)
	}
}

// TestVetoBindsEveryPlaybook: a person's veto of suspend-workload on a
// workload stands for every playbook of the incident. A later alert of
// another rule on the same workload (here the built-in playbook's, which
// suspends a critical incident's workload) joins the incident and is not
// allowed to do what the person vetoed.
func TestVetoBindsEveryPlaybook(t *testing.T) {
	e, pods, id := vetoedMiner(t, "required", "awaits approval")
	if got := e.alert(t, e.ns, pods[1].Name, "Launch Suspicious Network Tool in Container", "Notice"); got != id {
		t.Fatalf("the second alert opened incident %d, want it to join %d", got, id)
	}
	e.waitEntry(t, id, incident.EntryDecision, "stopped: suspend-workload was vetoed by dave")
	if got := e.replicas(t, "miner"); got != 2 {
		t.Fatalf("replicas = %d, want 2: the person vetoed the suspension", got)
	}
	if n := e.count(t, id, incident.EntryActionSucceeded, respond.ActionSuspend); n != 0 {
		t.Errorf("%d suspensions recorded, want none", n)
	}
}
