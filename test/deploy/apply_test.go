package deploy_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
)

const fieldManager = "quell-deploy-test"

// stream is what in installs: for the default values the committed
// deploy/manifests (TestPlainManifests keeps it the chart's output).
func stream(t *testing.T, in install) []byte {
	t.Helper()
	if in.name != installs()[0].name {
		return render(t, in)
	}
	b, err := os.ReadFile(manifests)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// live reads back every object of a stream: kind/namespace/name →
// resourceVersion and generation.
func live(t *testing.T, s []byte) map[string][2]int64 {
	t.Helper()
	out, err := kubectl(t, s, "get", "-f", "-", "-o", "json")
	if err != nil {
		t.Fatalf("kubectl get: %v\n%s", err, out)
	}
	var list unstructured.UnstructuredList
	if err := list.UnmarshalJSON([]byte(out)); err != nil {
		t.Fatalf("kubectl get output: %v", err)
	}
	m := map[string][2]int64{}
	for _, u := range list.Items {
		var rv int64
		if err := json.Unmarshal([]byte(u.GetResourceVersion()), &rv); err != nil {
			t.Fatalf("%s: resourceVersion %q", u.GetName(), u.GetResourceVersion())
		}
		m[u.GetKind()+" "+u.GetNamespace()+"/"+u.GetName()] = [2]int64{rv, u.GetGeneration()}
	}
	return m
}

// TestApply installs both credential modes with a real server-side apply:
// every object is accepted and exists, the controllers make the server's
// pods and, for a node, the sensor's (so their pod specs pass validation
// and admission), a second apply changes nothing, and the identities get
// exactly their permissions from the API server's authorizer.
func TestApply(t *testing.T) {
	cs := admin(t)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "deploy-test-node"}}
	if _, err := cs.CoreV1().Nodes().Create(t.Context(), node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, in := range installs() {
		t.Run(in.name, func(t *testing.T) {
			s := stream(t, in)
			createNamespace(t, cs, in.namespace)
			if out, err := kubectl(t, s, "apply", "--server-side", "--field-manager", fieldManager, "-f", "-"); err != nil {
				t.Fatalf("kubectl apply --server-side: %v\n%s", err, out)
			}
			objs := parse(t, s)
			first := live(t, s)
			if len(first) != len(objs) {
				t.Errorf("%d objects exist, %d rendered", len(first), len(objs))
			}
			waitPods(t, cs, in.namespace, "app.kubernetes.io/component=server", 2)
			waitPods(t, cs, in.namespace, "app.kubernetes.io/component=sensor", 1)

			// Idempotent: nothing to change, and applying again writes nothing.
			if out, err := kubectl(t, s, "diff", "--server-side", "--field-manager", fieldManager, "-f", "-"); err != nil {
				t.Errorf("kubectl diff after apply: %v\n%s", err, out)
			}
			if out, err := kubectl(t, s, "apply", "--server-side", "--field-manager", fieldManager, "-f", "-"); err != nil {
				t.Fatalf("second apply: %v\n%s", err, out)
			}
			for key, v := range live(t, s) {
				was := first[key]
				switch {
				case v[1] != was[1]:
					t.Errorf("%s: generation %d after the second apply, was %d", key, v[1], was[1])
				case v[1] == 0 && v[0] != was[0]: // no status that controllers write
					t.Errorf("%s: written by the second apply (resourceVersion %d, was %d)", key, v[0], was[0])
				}
			}
			checkLiveRBAC(t, cs, in)
			if in.jit {
				t.Run("admission", func(t *testing.T) { checkJITAdmission(t, cs, in) })
			}
		})
	}
}

// waitPods waits until the controllers have made n pods matching selector.
func waitPods(t *testing.T, cs kubernetes.Interface, ns, selector string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil && len(pods.Items) == n {
			return
		}
		select {
		case <-ctx.Done():
			got := -1
			if pods != nil {
				got = len(pods.Items)
			}
			events, _ := cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
			var msgs []string
			for _, e := range events.Items {
				msgs = append(msgs, e.InvolvedObject.Kind+" "+e.InvolvedObject.Name+": "+e.Message)
			}
			t.Fatalf("%d pods %s in %s, want %d (%v); events:\n%s", got, selector, ns, n, err, strings.Join(msgs, "\n"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestBrokenValueRefused: a value helm renders but the API server cannot
// accept fails a server-side dry run, naming the field, and creates
// nothing.
func TestBrokenValueRefused(t *testing.T) {
	cs := admin(t)
	tests := []struct {
		name, ns string
		args     []string
		want     []string
	}{
		{"memory limit", "broken-memory", []string{"--set", "server.resources.limits.memory=lots"},
			[]string{"broken-memory/quell; apps/v1, Kind=Deployment", "quantities must match the regular expression"}},
		{"object name", "broken-name", []string{"--set", "fullnameOverride=Quell_Prod"},
			[]string{"Quell_Prod", "RFC 1123"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := helmTemplate(t, defaultRel, tt.ns, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			createNamespace(t, cs, tt.ns)
			out, err := kubectl(t, s, "apply", "--server-side", "--dry-run=server", "--field-manager", fieldManager, "-f", "-")
			if err == nil {
				t.Fatalf("dry run of %v accepted:\n%s", tt.args, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("dry run error lacks %q:\n%s", w, out)
				}
			}
			if d, err := cs.AppsV1().Deployments(tt.ns).List(t.Context(), metav1.ListOptions{}); err != nil || len(d.Items) > 0 {
				t.Errorf("after a dry run: %d Deployments, %v", len(d.Items), err)
			}
		})
	}
}

// TestPodSecurity: the server's pod meets the restricted Pod Security
// Standard, so it can run in a namespace that enforces it; the sensor's
// (hostPID, four capabilities) does not, and needs a privileged one
// (docs/deploy.md).
func TestPodSecurity(t *testing.T) {
	cs := admin(t)
	ns := "pss-restricted"
	_, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sa := range []string{"quell", "quell-sensor"} {
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	objs := parse(t, render(t, installs()[0]))
	server := as[appsv1.Deployment](t, objs.get(t, "Deployment", "quell")).Spec.Template
	sensor := as[appsv1.DaemonSet](t, objs.get(t, "DaemonSet", "quell-sensor")).Spec.Template
	dryRun := func(name string, tmpl corev1.PodTemplateSpec) error {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: tmpl.Labels}, Spec: tmpl.Spec}
		_, err := cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	if err := dryRun("server", server); err != nil {
		t.Errorf("server pod in a restricted namespace: %v", err)
	}
	err = dryRun("sensor", sensor)
	if err == nil || !strings.Contains(err.Error(), "violates PodSecurity \"restricted") || !strings.Contains(err.Error(), "hostPID") {
		t.Errorf("sensor pod in a restricted namespace: %v, want refused for hostPID", err)
	}
}
