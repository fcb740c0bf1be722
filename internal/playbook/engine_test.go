package playbook_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/incident/sqlstore"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/kubecache"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond/jit"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var envs atomic.Int64

type env struct {
	cs    kubernetes.Interface
	store *sqlstore.Store
	eng   *playbook.Engine
	ns    string
	res   *owner.Resolver
	objs  *kubecache.Cache // the resolver's watched copy, unless opts named a resolver
}

// setup starts an engine in mode over a fresh namespace and store.
func setup(t testing.TB, mode string) *env {
	t.Helper()
	return setupWith(t, playbook.Options{Mode: mode})
}

// setupWith starts an engine with opts (store, client and log filled in)
// over a fresh namespace and store.
func setupWith(t testing.TB, opts playbook.Options) *env {
	t.Helper()
	e := newEnv(t, opts)
	e.start(t)
	return e
}

// newEnv is setupWith without starting the engine.
func newEnv(t testing.TB, opts playbook.Options) *env {
	t.Helper()
	c := testenv.Cluster(t)
	cs, err := kubernetes.NewForConfig(c.RESTConfig(devcluster.AdminUser))
	if err != nil {
		t.Fatal(err)
	}
	ns := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(ns) > 45 {
		ns = strings.TrimRight(ns[:45], "-")
	}
	ns = fmt.Sprintf("%s-%d", ns, envs.Add(1)) // a benchmark (or -count) runs a name more than once
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	opts.Store, opts.Client, opts.Log = store, cs, slog.New(slog.DiscardHandler)
	if opts.Credentials == config.CredentialsJIT && opts.Issuer == nil {
		opts.Issuer = jit.NewIssuer(cs, c.RESTConfig(devcluster.AdminUser), jit.Options{})
	}
	var objs *kubecache.Cache
	if opts.Resolver == nil {
		// As the server wires them: one cache behind owner chains and
		// investigations, the resolver shared with alert.
		objs = testenv.Objects(t, cs, investigate.Kinds...)
		opts.Resolver = owner.NewResolver(cs, objs)
		iv, err := investigate.New(investigate.Options{Objects: objs, Client: cs, Resolver: opts.Resolver, Audit: investigate.NewAuditIndex(0)})
		if err != nil {
			t.Fatal(err)
		}
		if opts.Investigator == nil {
			opts.Investigator = iv
		}
	}
	opts.VerifyHold = cmp.Or(opts.VerifyHold, 300*time.Millisecond)
	opts.ActionsPerMinute = cmp.Or(opts.ActionsPerMinute, 1000)
	opts.NamespaceActionsPerMinute = cmp.Or(opts.NamespaceActionsPerMinute, 1000)
	opts.SuspensionsPerHour = cmp.Or(opts.SuspensionsPerHour, 1000)
	return &env{cs: cs, store: store, eng: playbook.New(opts), ns: ns, res: opts.Resolver, objs: objs}
}

// start runs the engine until the test ends.
func (e *env) start(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.eng.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (e *env) deployment(t testing.TB, name string, replicas int32) []corev1.Pod {
	t.Helper()
	labels := map[string]string{"app": name}
	_, err := e.cs.AppsV1().Deployments(e.ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "xmrig/xmrig"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return e.pods(t, "app="+name, int(replicas))
}

// pods waits for exactly n pods matching selector.
func (e *env) pods(t testing.TB, selector string, n int) []corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, err := e.cs.CoreV1().Pods(e.ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			t.Fatal(err)
		}
		live := 0
		for _, p := range l.Items {
			if p.DeletionTimestamp == nil {
				live++
			}
		}
		if live == n {
			return l.Items
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pods match %s, want %d", live, selector, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alert stores an alert about pod and hands it to the engine.
func (e *env) alert(t testing.TB, ns, pod, rule, priority string) int64 {
	t.Helper()
	a := incident.Alert{Source: "test", Rule: rule, Priority: priority, Time: time.Now(), Output: rule + " in " + pod,
		Target: incident.Target{Cluster: "test", Kind: incident.TargetPod, Namespace: ns, Name: pod, Pod: pod}}
	a.Target = e.res.Target(t.Context(), a.Target) // as the server does
	res, err := e.store.Ingest(t.Context(), []incident.Alert{a}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.eng.Committed([]incident.Alert{a}, res)
	return res[0].IncidentID
}

// waitEntry waits for a timeline entry of typ whose summary contains text.
func (e *env) waitEntry(t *testing.T, id int64, typ incident.EntryType, text string) incident.Entry {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tl, err := e.store.Timeline(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range tl {
			if ent.Type == typ && strings.Contains(ent.Summary, text) {
				return ent
			}
		}
		if time.Now().After(deadline) {
			var sb strings.Builder
			for _, ent := range tl {
				fmt.Fprintf(&sb, "  %s %s\n", ent.Type, ent.Summary)
			}
			t.Fatalf("incident %d: no %s entry containing %q; timeline:\n%s", id, typ, text, sb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) state(t *testing.T, id int64) incident.State {
	t.Helper()
	inc, err := e.store.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return inc.State
}

func TestMinerSuspendsDeploymentAndRestores(t *testing.T) {
	e := setup(t, config.ModeEnforce)
	pods := e.deployment(t, "miner", 3)
	id := e.alert(t, e.ns, pods[0].Name, "Known Cryptominer Process Executed", "Critical")
	e.waitEntry(t, id, incident.EntryCleanup, "cleanup")
	if got := e.state(t, id); got != incident.StateContained {
		t.Fatalf("state = %s, want contained", got)
	}
	d, err := e.cs.AppsV1().Deployments(e.ns).Get(t.Context(), "miner", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 0 || d.Annotations["quell.dev/restore"] == "" {
		t.Errorf("deployment replicas %d, restore annotation %q", *d.Spec.Replicas, d.Annotations["quell.dev/restore"])
	}
	e.pods(t, "app=miner", 0)
	e.waitEntry(t, id, incident.EntryEvidence, "capture-evidence")
	e.waitEntry(t, id, incident.EntryDecision, "suspend the workload")
	e.waitEntry(t, id, incident.EntryEnrichment, "Deployment miner")

	recs, err := e.eng.Restore(t.Context(), id, "tester")
	if err != nil || len(recs) != 1 {
		t.Fatalf("restore: %v, %d records", err, len(recs))
	}
	e.pods(t, "app=miner", 3)
	e.waitEntry(t, id, incident.EntryRestore, "restored suspend-workload")
	if _, err := e.eng.Restore(t.Context(), id, "tester"); err != nil {
		t.Errorf("second restore: %v", err)
	}
	e.waitEntry(t, id, incident.EntryRestore, "already restored")

	// The restored pods alert again (as "New K8s Pod" does): the incident
	// is left to the person who restored it.
	now := e.pods(t, "app=miner", 3)
	if again := e.alert(t, e.ns, now[0].Name, "Known Cryptominer Process Executed", "Critical"); again != id {
		t.Fatalf("the alert opened incident %d, want %d", again, id)
	}
	e.waitEntry(t, id, incident.EntryDecision, "no action: a person restored this incident's actions")
	tl, err := e.store.Timeline(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	evidence := 0
	for _, ent := range tl {
		if ent.Type == incident.EntryEvidence {
			evidence++
		}
	}
	if evidence != 1 {
		t.Errorf("%d evidence captures, want the first alone", evidence)
	}
	if d := mustDeploy(t, e, "miner"); *d.Spec.Replicas != 3 {
		t.Errorf("replicas %d after the restore and a new alert, want 3", *d.Spec.Replicas)
	}
}

func TestBarePodIsTerminated(t *testing.T) {
	e := setup(t, config.ModeEnforce)
	_, err := e.cs.CoreV1().Pods(e.ns).Create(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shell", Labels: map[string]string{"app": "shell"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := e.alert(t, e.ns, "shell", "Launch Suspicious Network Tool in Container", "Notice")
	e.waitEntry(t, id, incident.EntryVerification, "contained")
	e.pods(t, "app=shell", 0)
	e.waitEntry(t, id, incident.EntryDecision, "has no controller")
}

func TestNetworkToolTerminatesThenEscalates(t *testing.T) {
	e := setup(t, config.ModeEnforce)
	pods := e.deployment(t, "web", 2)
	id := e.alert(t, e.ns, pods[0].Name, "Launch Suspicious Network Tool in Container", "Notice")
	e.waitEntry(t, id, incident.EntryActionSucceeded, "terminate-pod")
	// The Deployment recreates the pod; one of its pods alerts again.
	now := e.pods(t, "app=web", 2)
	var other string
	for _, p := range now {
		if p.Name != pods[0].Name {
			other = p.Name
		}
	}
	if id2 := e.alert(t, e.ns, other, "Launch Suspicious Network Tool in Container", "Notice"); id2 != id {
		t.Fatalf("second alert opened incident %d, want %d", id2, id)
	}
	e.waitEntry(t, id, incident.EntryDecision, "escalate to suspending")
	e.waitEntry(t, id, incident.EntryActionSucceeded, "suspend-workload")
	e.pods(t, "app=web", 0)
	// One investigation: the first pod's, which names the workload the
	// second pod belongs to as well.
	tl, err := e.store.Timeline(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var reports []string
	for _, ent := range tl {
		if ent.Type == incident.EntryInvestigation {
			reports = append(reports, ent.Summary)
		}
	}
	if len(reports) != 1 || !strings.Contains(reports[0], "investigation of pod "+e.ns+"/"+pods[0].Name+": risk") || !strings.Contains(reports[0], "pods of Deployment web") {
		t.Errorf("investigations = %q, want the first pod's alone", reports)
	}
}

func TestNoActionWhereQuellMustNotAct(t *testing.T) {
	e := setup(t, config.ModeEnforce)
	pods := e.deployment(t, "keep", 1)
	// A protected workload.
	patch := []byte(`{"metadata":{"labels":{"` + playbook.LabelProtected + `":"true"}}}`)
	if _, err := e.cs.AppsV1().Deployments(e.ns).Patch(t.Context(), "keep", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	id := e.alert(t, e.ns, pods[0].Name, "Known Cryptominer Process Executed", "Critical")
	e.waitEntry(t, id, incident.EntryDecision, "no action: Deployment "+e.ns+"/keep is labelled quell.dev/protected=true")
	// A protected pod.
	if _, err := e.cs.CoreV1().Pods(e.ns).Create(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "guarded",
		Labels: map[string]string{playbook.LabelProtected: "true"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	idp := e.alert(t, e.ns, "guarded", "Known Cryptominer Process Executed", "Critical")
	e.waitEntry(t, idp, incident.EntryDecision, "no action: pod "+e.ns+"/guarded is labelled quell.dev/protected=true")
	if _, err := e.cs.CoreV1().Pods(e.ns).Get(t.Context(), "guarded", metav1.GetOptions{}); err != nil {
		t.Errorf("protected pod: %v", err)
	}
	// A protected namespace.
	id2 := e.alert(t, "kube-system", "coredns-1", "Known Cryptominer Process Executed", "Critical")
	e.waitEntry(t, id2, incident.EntryDecision, "no action: namespace kube-system is protected")
	// An informational alert.
	id3 := e.alert(t, e.ns, pods[0].Name+"-x", "New K8s Pod", "Informational")
	e.waitEntry(t, id3, incident.EntryDecision, "no action")
	e.pods(t, "app=keep", 1)
	if *mustDeploy(t, e, "keep").Spec.Replicas != 1 {
		t.Error("protected deployment was changed")
	}
}

// stale is a cache whose copies lag the API server: they do not carry
// the protection label yet.
type stale struct{ objs owner.Reader }

func (s stale) Get(kind, ns, name string) (metav1.Object, bool) {
	o, ok := s.objs.Get(kind, ns, name)
	if !ok {
		return nil, false
	}
	cp := o.(runtime.Object).DeepCopyObject().(metav1.Object)
	l := maps.Clone(cp.GetLabels())
	delete(l, playbook.LabelProtected)
	cp.SetLabels(l)
	return cp, true
}

// TestProtectionCheckedOnLiveReads: when the cache has not yet seen the
// protection label, validation passes on it, and the label on the objects
// capture-evidence reads from the API server stops the response before it
// acts.
func TestProtectionCheckedOnLiveReads(t *testing.T) {
	c := testenv.Cluster(t)
	cs, err := kubernetes.NewForConfig(c.RESTConfig(devcluster.AdminUser))
	if err != nil {
		t.Fatal(err)
	}
	res := owner.NewResolver(cs, stale{testenv.Objects(t, cs, kubecache.Workloads...)})
	e := setupWith(t, playbook.Options{Mode: config.ModeEnforce, Resolver: res})
	pods := e.deployment(t, "keep", 1)
	patch := []byte(`{"metadata":{"labels":{"` + playbook.LabelProtected + `":"true"}}}`)
	if _, err := e.cs.AppsV1().Deployments(e.ns).Patch(t.Context(), "keep", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	id := e.alert(t, e.ns, pods[0].Name, "Known Cryptominer Process Executed", "Critical")
	e.waitEntry(t, id, incident.EntryEvidence, "capture-evidence")
	e.waitEntry(t, id, incident.EntryDecision, "no action: Deployment "+e.ns+"/keep is labelled quell.dev/protected=true")
	tl, err := e.store.Timeline(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range tl {
		if ent.Type == incident.EntryActionStarted && !strings.Contains(ent.Summary, "capture-evidence") {
			t.Errorf("an action ran: %s", ent.Summary)
		}
	}
	e.pods(t, "app=keep", 1)
	if *mustDeploy(t, e, "keep").Spec.Replicas != 1 {
		t.Error("protected deployment was changed")
	}
}

func mustDeploy(t *testing.T, e *env, name string) *appsv1.Deployment {
	t.Helper()
	d, err := e.cs.AppsV1().Deployments(e.ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestObserveAndDryRunChangeNothing(t *testing.T) {
	for _, mode := range []string{config.ModeObserve, config.ModeDryRun} {
		t.Run(mode, func(t *testing.T) {
			e := setup(t, mode)
			pods := e.deployment(t, "miner", 2)
			before := mustDeploy(t, e, "miner")
			id := e.alert(t, e.ns, pods[0].Name, "Known Cryptominer Process Executed", "Critical")
			if mode == config.ModeObserve {
				e.waitEntry(t, id, incident.EntryDecision, "observe mode, nothing changed; would run capture-evidence, suspend-workload")
			} else {
				e.waitEntry(t, id, incident.EntryActionSucceeded, "dry run")
			}
			// The controllers update status; the spec and metadata must not move.
			after := mustDeploy(t, e, "miner")
			if after.Generation != before.Generation || *after.Spec.Replicas != 2 || len(after.Annotations) != len(before.Annotations) {
				t.Errorf("deployment changed: generation %d -> %d, replicas %d, annotations %v", before.Generation, after.Generation, *after.Spec.Replicas, after.Annotations)
			}
			e.pods(t, "app=miner", 2)
			if st := e.state(t, id); st != incident.StateOpen {
				t.Errorf("%s mode moved the incident to %s", mode, st)
			}
		})
	}
}
