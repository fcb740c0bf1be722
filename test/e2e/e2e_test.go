// Package e2e plays quell's scenarios against every real component at
// once — the local control plane with its audit webhook, `quell server`
// (PostgreSQL or SQLite), the eBPF sensor and runc containers as root —
// and checks what users rely on: the cluster's final state, each
// incident's timeline and who did what, and that what quell must not
// touch stays untouched.
package e2e_test

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/apiclient"
	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/demo"
	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quellBin struct {
	once sync.Once
	path string
	err  error
}

// start starts a demo environment; as root, with the real sensor.
func start(t *testing.T, opts demo.Options) *demo.Env {
	t.Helper()
	b := testenv.Binaries(t)
	opts.Dir = filepath.Join(t.TempDir(), "env")
	opts.Build = devcluster.BuildOptions{BinDir: filepath.Dir(b.APIServer)}
	if os.Geteuid() == 0 {
		quellBin.once.Do(func() {
			quellBin.path = filepath.Join(os.TempDir(), "quell-e2e-"+strings.ReplaceAll(t.Name(), "/", "_"))
			out, err := exec.Command("go", "build", "-o", quellBin.path, "../../cmd/quell").CombinedOutput()
			if err != nil {
				quellBin.err = err
				t.Logf("%s", out)
			}
		})
		if quellBin.err != nil {
			t.Fatalf("build quell: %v", quellBin.err)
		}
		opts.Sensor = []string{quellBin.path}
	}
	env, err := demo.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return env
}

func admin(t *testing.T, env *demo.Env) kubernetes.Interface {
	t.Helper()
	cs, err := env.Cluster.Client()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// incidentFor returns the newest incident with rule, and its timeline.
func incidentFor(t *testing.T, api *apiclient.Client, rule string) *apiclient.IncidentWithTimeline {
	t.Helper()
	list, _, err := api.List(t.Context(), url.Values{"rule": {rule}})
	if err != nil || len(list) == 0 {
		t.Fatalf("no incident for %q: %v", rule, err)
	}
	full, err := api.Get(t.Context(), list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return full
}

// types lists the timeline's entry types, in order, without repeats in a row.
func types(tl []incident.Entry) []string {
	var out []string
	for _, e := range tl {
		if len(out) == 0 || out[len(out)-1] != string(e.Type) {
			out = append(out, string(e.Type))
		}
	}
	return out
}

// inOrder reports whether want appears in got in that order.
func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func entry(tl []incident.Entry, typ incident.EntryType, text string) (incident.Entry, bool) {
	for _, e := range tl {
		if e.Type == typ && strings.Contains(e.Summary, text) {
			return e, true
		}
	}
	return incident.Entry{}, false
}

// TestScenarios plays the three scenarios (network tool on a node, a
// risky pod by a developer, a miner in a Deployment) with a PostgreSQL
// store and checks the end state of each.
func TestScenarios(t *testing.T) {
	env := start(t, demo.Options{Store: testenv.Postgres(t)})
	if err := env.Play(t.Context()); err != nil {
		t.Fatal(err)
	}
	cs := admin(t, env)
	ctx := t.Context()

	t.Run("network tool on the node", func(t *testing.T) {
		inc := incidentFor(t, env.API, "Launch Suspicious Network Tool on Host")
		if inc.Target.Kind != incident.TargetNode || inc.Target.Name != demo.NodeName {
			t.Errorf("target = %+v", inc.Target)
		}
		if !inOrder(types(inc.Timeline), []string{"alert", "decision", "action_succeeded", "verification", "cleanup", "restore"}) {
			t.Errorf("timeline = %v", types(inc.Timeline))
		}
		if e, ok := entry(inc.Timeline, incident.EntryRestore, "cordon-node"); !ok || !strings.Contains(e.Summary, "(by demo)") {
			t.Errorf("restore entry %q: want who asked for it (the demo's token)", e.Summary)
		}
		n, err := cs.CoreV1().Nodes().Get(ctx, demo.NodeName, metav1.GetOptions{})
		if err != nil || n.Spec.Unschedulable {
			t.Errorf("node after restore: unschedulable %v, %v", n.Spec.Unschedulable, err)
		}
		if os.Geteuid() == 0 {
			if a, ok := entry(inc.Timeline, incident.EntryAlert, "Launch Suspicious Network Tool on Host"); !ok || a.Actor != "sensor" && !strings.Contains(string(a.Data), `"source":"sensor"`) {
				t.Errorf("the alert did not come from the sensor: %+v", a)
			}
		}
	})
	t.Run("risky pod by a developer", func(t *testing.T) {
		inc := incidentFor(t, env.API, "Create Privileged Pod")
		if !inOrder(types(inc.Timeline), []string{"alert", "enrichment", "investigation", "decision", "evidence", "action_succeeded", "verification", "cleanup"}) {
			t.Errorf("timeline = %v", types(inc.Timeline))
		}
		inv, ok := entry(inc.Timeline, incident.EntryInvestigation, "debug-shell")
		var rep investigate.Report
		if !ok || json.Unmarshal(inv.Data, &rep) != nil || rep.Origin.Pod.Created == nil || rep.Origin.Pod.Created.User != "alice" {
			t.Errorf("investigation origin = %+v", rep.Origin.Pod)
		}
		if rep.Config.PodSecurity.Level != "privileged" || len(rep.Config.HostPaths) != 1 || !rep.Config.HostPaths[0].Sensitive {
			t.Errorf("investigation configuration = %+v", rep.Config)
		}
		if _, err := cs.CoreV1().Pods(demo.Namespace).Get(ctx, "debug-shell", metav1.GetOptions{}); err == nil {
			t.Error("the risky pod still exists")
		}
		if inc.State != incident.StateContained {
			t.Errorf("state %s", inc.State)
		}
	})
	t.Run("miner in a Deployment", func(t *testing.T) {
		inc := incidentFor(t, env.API, "Known Cryptominer Process Executed")
		if inc.Target.WorkloadKind != "Deployment" || inc.Target.Name != "miner" {
			t.Errorf("target = %+v", inc.Target)
		}
		if !inOrder(types(inc.Timeline), []string{"alert", "enrichment", "investigation", "decision", "evidence", "action_succeeded", "verification", "cleanup", "restore"}) {
			t.Errorf("timeline = %v", types(inc.Timeline))
		}
		ev, ok := entry(inc.Timeline, incident.EntryEvidence, "capture-evidence")
		if !ok || !strings.Contains(string(ev.Data), `"sha256"`) {
			t.Error("no evidence with digests")
		}
		d, err := cs.AppsV1().Deployments(demo.Namespace).Get(ctx, "miner", metav1.GetOptions{})
		if err != nil || *d.Spec.Replicas != 3 {
			t.Fatalf("miner after restore: %v", err)
		}
		if _, ok := d.Annotations["quell.dev/restore"]; ok {
			t.Error("the restore point is still on the Deployment after the restore")
		}
	})
}

// TestNothingTouched: quell leaves alone a benign look-alike of a network
// tool, a miner alert in a protected namespace, and a suspension whose
// approval was vetoed.
func TestNothingTouched(t *testing.T) {
	dir := t.TempDir()
	pb := filepath.Join(dir, "playbooks.yaml")
	if err := os.WriteFile(pb, []byte(`playbooks:
  - name: miners-need-approval
    match: {rules: ["*Cryptominer*"], namespaces: [demo]}
    steps:
      - validate
      - enrich
      - action: capture-evidence
      - action: suspend-workload
        approve: required
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := start(t, demo.Options{Playbooks: []string{pb}})
	cs := admin(t, env)
	ctx := t.Context()
	if err := demo.Setup(ctx, cs); err != nil {
		t.Fatal(err)
	}
	miner, err := cs.AppsV1().Deployments(demo.Namespace).Create(ctx, demo.MinerDeployment(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sys := demo.MinerDeployment()
	sys.Namespace = "kube-system"
	if _, err := cs.AppsV1().Deployments("kube-system").Create(ctx, sys, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := waitPods(t, cs, demo.Namespace, 3)
	sysPods := waitPods(t, cs, "kube-system", 3)

	if os.Geteuid() == 0 {
		t.Run("benign look-alike on the node", func(t *testing.T) {
			stop, err := env.StartSensor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			// Other tests may launch tools on this host meanwhile: only
			// alerts naming these binaries count.
			dir := t.TempDir()
			benign, tool := filepath.Join(dir, "ncdu"), filepath.Join(dir, "nc") // a disk-usage viewer; the control: a network tool
			b, _ := os.ReadFile("/bin/true")
			for _, p := range []string{benign, tool} {
				if err := os.WriteFile(p, b, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := exec.Command(benign).Run(); err != nil {
				t.Fatal(err)
			}
			if err := exec.Command(tool).Run(); err != nil {
				t.Fatal(err)
			}
			// The control's alert arrives; by then the benign one would have.
			deadline := time.Now().Add(20 * time.Second)
			for !alerted(t, env, tool) {
				if time.Now().After(deadline) {
					t.Fatal("the control (nc) raised no alert: the check below would prove nothing")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if alerted(t, env, benign) {
				t.Error("the benign program raised an alert")
			}
		})
	}
	t.Run("protected namespace", func(t *testing.T) {
		postMiner(t, env, "kube-system", sysPods[0])
		waitEntry(t, env, "Known Cryptominer Process Executed", "kube-system", incident.EntryDecision, "no action: namespace kube-system is protected")
		d, err := cs.AppsV1().Deployments("kube-system").Get(ctx, "miner", metav1.GetOptions{})
		if err != nil || *d.Spec.Replicas != 3 || d.Generation != 1 {
			t.Errorf("kube-system/miner changed: %v", err)
		}
	})
	t.Run("approval vetoed", func(t *testing.T) {
		postMiner(t, env, demo.Namespace, pods[0])
		inc := waitEntry(t, env, "Known Cryptominer Process Executed", demo.Namespace, incident.EntryApproval, "awaits approval")
		if n, err := env.API.Veto(ctx, inc); err != nil || n != 1 {
			t.Fatalf("veto: %d %v", n, err)
		}
		waitEntry(t, env, "Known Cryptominer Process Executed", demo.Namespace, incident.EntryApproval, "vetoed by demo")
		time.Sleep(time.Second)
		d, err := cs.AppsV1().Deployments(demo.Namespace).Get(ctx, "miner", metav1.GetOptions{})
		if err != nil || *d.Spec.Replicas != 3 || d.Generation != miner.Generation {
			t.Errorf("the vetoed suspension changed the Deployment: %v", err)
		}
		full, err := env.API.Get(ctx, inc)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(full.Timeline, func(e incident.Entry) bool {
			return e.Type == incident.EntryActionSucceeded && strings.Contains(e.Summary, "suspend-workload")
		}) {
			t.Error("the suspension ran")
		}
	})
}

func waitPods(t *testing.T, cs kubernetes.Interface, ns string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=miner"})
		if err == nil && len(l.Items) == n {
			var names []string
			for _, p := range l.Items {
				names = append(names, p.Name)
			}
			return names
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d miner pods in %s, want %d (%v)", len(l.Items), ns, n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func postMiner(t *testing.T, env *demo.Env, ns, pod string) {
	t.Helper()
	err := env.API.PostFalco(t.Context(), map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339Nano), "rule": "Known Cryptominer Process Executed", "priority": "Critical",
		"source": "syscall", "hostname": "node-1", "output": "xmrig in " + ns + "/" + pod,
		"output_fields": map[string]any{"proc.name": "xmrig", "k8s.ns.name": ns, "k8s.pod.name": pod},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitEntry waits for an incident with rule in namespace ns whose
// timeline has an entry of typ containing text, and returns its ID; on a
// timeout it logs the incidents and runs onTimeout (more state to log).
func waitEntry(t *testing.T, env *demo.Env, rule, ns string, typ incident.EntryType, text string, onTimeout ...func()) int64 {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		list, _, _ := env.API.List(t.Context(), url.Values{"rule": {rule}, "namespace": {ns}})
		for _, inc := range list {
			if full, err := env.API.Get(t.Context(), inc.ID); err == nil {
				if _, ok := entry(full.Timeline, typ, text); ok {
					return inc.ID
				}
			}
		}
		if time.Now().After(deadline) {
			all, _, _ := env.API.List(t.Context(), url.Values{"limit": {"50"}})
			for _, inc := range all {
				t.Logf("incident #%d %s (%s)", inc.ID, inc.Title, inc.State)
				if full, err := env.API.Get(t.Context(), inc.ID); err == nil {
					for _, e := range full.Timeline {
						t.Logf("    %s %s", e.Type, e.Summary)
					}
				}
			}
			for _, f := range onTimeout {
				f()
			}
			t.Fatalf("no %s entry %q for %s in %s", typ, text, rule, ns)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alerted reports whether any incident holds an alert about a process
// run from exe.
func alerted(t *testing.T, env *demo.Env, exe string) bool {
	t.Helper()
	list, _, err := env.API.List(t.Context(), url.Values{"limit": {"500"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range list {
		full, err := env.API.Get(t.Context(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range full.Timeline {
			if e.Type == incident.EntryAlert && strings.Contains(string(e.Data), `"proc.exepath":"`+exe+`"`) {
				return true
			}
		}
	}
	return false
}

// TestMinerInContainer: a miner runs in a real runc container that the
// pod of a Deployment on the demo node reports (through its status, as
// the kubelet does); the sensor sees the exec, names the pod, and quell
// suspends the Deployment.
func TestMinerInContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("root is needed for the sensor and runc")
	}
	// No kubelet runs the node to confirm a graceful deletion of a pod
	// bound to it: quell deletes at once (response.grace_period 0s).
	env := start(t, demo.Options{Configure: func(c *config.Config) { c.Response.GracePeriod = 0 }})
	cs := admin(t, env)
	ctx := t.Context()
	if err := demo.Setup(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: demo.NodeName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := demo.MinerDeployment()
	d.Spec.Replicas = ptr.To[int32](1)
	if _, err := cs.AppsV1().Deployments(demo.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podName := waitPods(t, cs, demo.Namespace, 1)[0]
	// No scheduler runs here: bind the pod to the node as it would (a pod
	// the controllers make later stays unbound, and goes at once when
	// deleted, with no kubelet to wait for).
	if err := cs.CoreV1().Pods(demo.Namespace).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: podName},
		Target: corev1.ObjectReference{Kind: "Node", Name: demo.NodeName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := testenv.NewRuncContainer(t, []string{"xmrig"}, "/bin/xmrig", "-o", "stratum+tcp://pool.example:3333")
	pod, err := cs.CoreV1().Pods(demo.Namespace).Get(ctx, podName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "miner", Image: "xmrig/xmrig:6.21.0", ImageID: "docker.io/xmrig/xmrig@sha256:" + c.ID, ContainerID: "containerd://" + c.ID,
		Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
	}}}
	if _, err := cs.CoreV1().Pods(demo.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stop, err := env.StartSensor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c.Run(t)

	id := waitEntry(t, env, "Known Cryptominer Process Executed", demo.Namespace, incident.EntryVerification, "contained", func() {
		l, _ := cs.CoreV1().Pods(demo.Namespace).List(ctx, metav1.ListOptions{})
		for _, p := range l.Items {
			t.Logf("pod %s node %q phase %s deleting %v owners %v", p.Name, p.Spec.NodeName, p.Status.Phase, p.DeletionTimestamp, p.OwnerReferences)
		}
		if d, err := cs.AppsV1().Deployments(demo.Namespace).Get(ctx, "miner", metav1.GetOptions{}); err == nil {
			t.Logf("deployment replicas %d status %+v", *d.Spec.Replicas, d.Status)
		}
	})
	full, err := env.API.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if full.Target.WorkloadKind != "Deployment" || full.Target.Name != "miner" {
		t.Errorf("target = %+v", full.Target)
	}
	a, ok := entry(full.Timeline, incident.EntryAlert, "Known Cryptominer Process Executed")
	if !ok || !strings.Contains(string(a.Data), c.ID[:12]) || !strings.Contains(string(a.Data), `"k8s.pod.name":"`+podName+`"`) {
		t.Errorf("the alert does not name the container and pod: %s", a.Data)
	}
	dep, err := cs.AppsV1().Deployments(demo.Namespace).Get(ctx, "miner", metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 0 {
		t.Errorf("Deployment after the response: %v", err)
	}
	waitPods(t, cs, demo.Namespace, 0)
}
