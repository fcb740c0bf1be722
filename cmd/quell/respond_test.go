package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/testenv"
)

// TestRespondCLI drives `quell respond` against `quell server` in observe
// mode on the test control plane: a manual response acts whatever the
// server's mode, dry-run changes nothing, restore undoes it, a suspension
// held for approval runs once approved, protected namespaces stay
// untouched, and bad requests are usage errors.
func TestRespondCLI(t *testing.T) {
	c := testenv.Cluster(t)
	cs, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	const name = "miner"
	ns := testenv.Namespace(t, cs, "respond-cli")
	pod := newDeployment(t, cs, ns, name, 2)

	other := newDeployment(t, cs, ns, "miner2", 1)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "quell.yaml") // the second suspension of the hour in a namespace awaits approval
	if err := os.WriteFile(cfg, []byte("response:\n  suspensions_per_hour: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = "respond-cli-token-0123456789"
	url := startServer(t, "--store", "sqlite://"+filepath.Join(dir, "q.db"), "--auth-token-file", writeToken(t, dir, token),
		"--kubeconfig", c.Kubeconfig, "--mode", "observe", "--config", cfg)
	env := []string{"QUELL_CLIENT_SERVER=" + url, "QUELL_CLIENT_TOKEN=" + token}
	target := ns + "/" + pod

	before := deployment(t, cs, ns, name)
	out, stderr, err := runQuell(t, env, "respond", "--pod", target, "--action", respond.ActionSuspend, "--dry-run", "--reason", "rehearsal")
	if err != nil {
		t.Fatalf("respond --dry-run: %v\n%s", err, stderr)
	}
	for _, want := range []string{"action_succeeded", "suspend-workload Deployment/" + ns + "/" + name + " (dry run: nothing persisted)"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
	if after := deployment(t, cs, ns, name); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("dry run changed the Deployment: resourceVersion %s -> %s, annotations %v", before.ResourceVersion, after.ResourceVersion, after.Annotations)
	}

	out, stderr, err = runQuell(t, env, "respond", "--pod", target, "--action", respond.ActionSuspend)
	if err != nil {
		t.Fatalf("respond: %v\n%s", err, stderr)
	}
	var id int64
	var state string
	if _, err := fmt.Sscanf(out, "incident %d: %s", &id, &state); err != nil || state != "contained" {
		t.Fatalf("respond: incident %d state %q (%v), want contained:\n%s", id, state, err, out)
	}
	for _, want := range []string{"decision", "capture-evidence", "suspend-workload Deployment/" + ns + "/" + name + "\n", "verification", "contained: suspend-workload verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("respond output lacks %q:\n%s", want, out)
		}
	}
	if r := *deployment(t, cs, ns, name).Spec.Replicas; r != 0 {
		t.Errorf("after respond: %d replicas, want 0", r)
	}
	if _, _, err := runQuell(t, env, "incidents", "approve", fmt.Sprint(id)); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("approve with nothing pending: %v, want a 409", err)
	}

	out, stderr, err = runQuell(t, env, "respond", "restore", fmt.Sprint(id))
	if err != nil || !strings.Contains(out, fmt.Sprintf("incident %d: 1 actions restored", id)) {
		t.Fatalf("respond restore: %v %q %s", err, out, stderr)
	}
	waitFor(t, 10*time.Second, "2 replicas", func() bool { return *deployment(t, cs, ns, name).Spec.Replicas == 2 })

	out, stderr, err = runQuell(t, env, "respond", "--pod", ns+"/"+other, "--action", respond.ActionSuspend)
	if err != nil || !strings.Contains(out, "stopped: suspend-workload awaits approval") {
		t.Fatalf("second suspension: %v %s\n%s", err, stderr, out)
	}
	var held int64
	if _, err := fmt.Sscanf(out, "incident %d:", &held); err != nil {
		t.Fatalf("second suspension: %v\n%s", err, out)
	}
	if r := *deployment(t, cs, ns, "miner2").Spec.Replicas; r != 1 {
		t.Fatalf("before approval: %d replicas of miner2, want 1", r)
	}
	out, stderr, err = runQuell(t, env, "incidents", "approve", fmt.Sprint(held))
	if err != nil || out != fmt.Sprintf("incident %d: 1 pending actions approved\n", held) {
		t.Fatalf("approve: %v %q %s", err, out, stderr)
	}
	waitFor(t, 20*time.Second, "miner2 suspended once approved", func() bool {
		return *deployment(t, cs, ns, "miner2").Spec.Replicas == 0
	})
	if _, _, err := runQuell(t, env, "incidents", "veto", fmt.Sprint(held)); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("veto after approval: %v, want a 409", err)
	}

	out, stderr, err = runQuell(t, env, "respond", "--pod", "kube-system/x", "--action", respond.ActionTerminate, "-o", "json")
	if err != nil || !strings.Contains(out, "no action: namespace kube-system is protected") {
		t.Errorf("protected namespace: %v %s\n%s", err, stderr, out)
	}

	tests := []struct {
		args []string
		want string // in the error
	}{
		{[]string{"--action", "terminate-pod"}, "--pod NAMESPACE/NAME or --node NAME is required"},
		{[]string{"--pod", pod, "--action", "terminate-pod"}, `--pod "` + pod + `": want NAMESPACE/NAME`},
		{[]string{"--pod", "/x", "--action", "terminate-pod"}, `want NAMESPACE/NAME`},
		{[]string{"--pod", target}, "--action is required"},
		{[]string{"--pod", target, "--node", "n1", "--action", "cordon-node"}, "not both"},
		{[]string{"--pod", target, "--action", "explode"}, `400: bad request: action: unknown action "explode" (known: annotate, capture-evidence, cordon-node, isolate-pod, label, suspend-workload, terminate-pod)`},
		{[]string{"--node", "n1", "--action", "terminate-pod"}, "400: bad request: action: terminate-pod acts on pods or workloads; a node takes cordon-node"},
		{[]string{"--cluster", "nope", "--pod", target, "--action", "terminate-pod"}, `cluster: "nope" is not a cluster this server serves (known: default)`},
		{[]string{"restore", "abc"}, `"abc" is not an incident ID`},
		{[]string{"restore"}, "an incident ID is required"},
	}
	for _, tt := range tests {
		_, _, err := runQuell(t, env, append([]string{"respond"}, tt.args...)...)
		if exitCode(err) != 2 || !strings.Contains(fmt.Sprint(err), tt.want) {
			t.Errorf("respond %q: exit %d, err %v; want exit 2 and %q", tt.args, exitCode(err), err, tt.want)
		}
	}
	if r := *deployment(t, cs, ns, name).Spec.Replicas; r != 2 {
		t.Errorf("bad requests changed the Deployment: %d replicas", r)
	}
}

// TestRespondOutlastsWriteTimeout: a manual response may take longer than
// the server's write timeout (here the verification hold does); the
// command still gets its answer, and the response is not cut short.
func TestRespondOutlastsWriteTimeout(t *testing.T) {
	c := testenv.Cluster(t)
	cs, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t, cs, "respond-slow")
	pod := newDeployment(t, cs, ns, "miner", 1)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "quell.yaml")
	if err := os.WriteFile(cfg, []byte("server:\n  write_timeout: 1s\nresponse:\n  verify_hold: 2s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = "respond-slow-token-0123456789"
	url := startServer(t, "--store", "sqlite://"+filepath.Join(dir, "q.db"), "--auth-token-file", writeToken(t, dir, token),
		"--kubeconfig", c.Kubeconfig, "--config", cfg)
	env := []string{"QUELL_CLIENT_SERVER=" + url, "QUELL_CLIENT_TOKEN=" + token}
	out, stderr, err := runQuell(t, env, "respond", "--pod", ns+"/"+pod, "--action", respond.ActionSuspend)
	if err != nil || !strings.Contains(out, ": contained (") {
		t.Fatalf("respond: %v %s\n%s", err, stderr, out)
	}
}
