package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/testenv"
)

// TestInvestigateCLI runs `quell investigate pod` as a user holding only
// deploy/rbac/investigate.yaml (and nothing before it is bound), and
// reads GET /v1/incidents/{id}/investigation from a real server: the
// report the enrich step stored, and one built on demand for an incident
// the engine did not act on.
func TestInvestigateCLI(t *testing.T) {
	c := testenv.Cluster(t)
	cs, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t, cs, "investigate-cli")
	pod := newDeployment(t, cs, ns, "miner", 2)
	dir := t.TempDir()
	kc, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	bobConfig := filepath.Join(dir, "bob.kubeconfig")
	if err := os.WriteFile(bobConfig, bytes.Replace(kc, []byte("current-context: admin"), []byte("current-context: bob"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	target := ns + "/" + pod

	if _, _, err := runQuell(t, nil, "investigate", "pod", target, "--kubeconfig", bobConfig, "--timeout", "3s"); err == nil {
		t.Error("investigate as bob without the ClusterRole succeeded")
	}
	raw, err := os.ReadFile("../../deploy/rbac/investigate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	for doc := range strings.SplitSeq(string(raw), "\n---\n") {
		if strings.Contains(doc, "kind: ClusterRole") {
			if err := yaml.Unmarshal([]byte(doc), &role); err != nil {
				t.Fatal(err)
			}
		}
	}
	if role.Name == "" {
		t.Fatal("no ClusterRole in deploy/rbac/investigate.yaml")
	}
	for _, r := range role.Rules {
		for _, v := range r.Verbs {
			if v != "get" && v != "list" && v != "watch" {
				t.Errorf("investigate.yaml grants %s on %v", v, r.Resources)
			}
		}
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(t.Context(), &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bob-investigates"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bob"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "bob may list cluster roles", func() bool {
		r, err := cs.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{User: "bob",
			ResourceAttributes: &authzv1.ResourceAttributes{Verb: "watch", Group: rbacv1.GroupName, Resource: "clusterrolebindings"}}}, metav1.CreateOptions{})
		return err == nil && r.Status.Allowed
	})

	out, stderr, err := runQuell(t, nil, "investigate", "pod", target, "--kubeconfig", bobConfig, "-o", "json")
	if err != nil {
		t.Fatalf("investigate -o json: %v\n%s", err, stderr)
	}
	var rep investigate.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("decode report: %v\n%s", err, out)
	}
	if rep.Pod != pod || rep.Workload.Kind != "Deployment" || rep.Workload.Name != "miner" || len(rep.Workload.Pods) != 2 {
		t.Errorf("report names %s, workload %s %s with %d pods", rep.Pod, rep.Workload.Kind, rep.Workload.Name, len(rep.Workload.Pods))
	}
	if !strings.HasPrefix(rep.Origin.Pod.Unknown, "unknown") {
		t.Errorf("origin without audit events = %+v, want unknown", rep.Origin.Pod)
	}
	if s := rep.Impact.Suggested; s == nil || !slices.Contains(s.Actions, "suspend-workload") {
		t.Errorf("suggested for a critical alert = %+v", s)
	}
	out, _, err = runQuell(t, nil, "investigate", "pod", target, "--kubeconfig", bobConfig)
	if err != nil {
		t.Fatalf("investigate: %v", err)
	}
	for _, want := range []string{"ORIGIN", "WORKLOAD", "Pod " + pod + " -> ReplicaSet", "CONFIGURATION", "ACCESS (service account " + ns + "/default)", "EXPOSURE", "DEPENDENCIES", "IMPACT: risk", "suggested response"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	for _, args := range [][]string{{"investigate"}, {"investigate", "pod"}, {"investigate", "pod", "no-slash"}, {"investigate", "pod", target, "-o", "xml"}, {"investigate", "pod", target, "--severity", "dire"}} {
		if _, _, err := runQuell(t, nil, args...); exitCode(err) != 2 {
			t.Errorf("quell %v: err %v, want a usage error", args, err)
		}
	}

	// The server's API: the stored report, and one built on demand.
	const token = "investigate-cli-token-0123456789"
	url := startServer(t, "--store", "sqlite://"+filepath.Join(dir, "q.db"), "--auth-token-file", writeToken(t, dir, token),
		"--kubeconfig", c.Kubeconfig, "--mode", "observe")
	if _, err := cs.CoreV1().Pods("kube-system").Create(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sys-" + ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stored := postAlert(t, url, token, ns, pod)
	live := postAlert(t, url, token, "kube-system", "sys-"+ns) // protected: the engine does not act, nor investigate
	var view struct {
		Source string             `json:"source"`
		Report investigate.Report `json:"report"`
	}
	waitFor(t, 20*time.Second, "the stored investigation", func() bool {
		return getJSON(t, url, token, fmt.Sprintf("/v1/incidents/%d/investigation", stored), &view) == http.StatusOK && view.Source == "timeline"
	})
	if view.Report.Pod != pod || view.Report.Impact.Suggested == nil || !slices.Contains(view.Report.Impact.Suggested.Actions, "suspend-workload") {
		t.Errorf("stored report: pod %s, suggested %+v", view.Report.Pod, view.Report.Impact.Suggested)
	}
	if code := getJSON(t, url, token, fmt.Sprintf("/v1/incidents/%d/investigation", live), &view); code != http.StatusOK || view.Source != "live" || view.Report.Namespace != "kube-system" {
		t.Errorf("on-demand report: %d %s %s/%s", code, view.Source, view.Report.Namespace, view.Report.Pod)
	}
	if code := getJSON(t, url, token, "/v1/incidents/999/investigation", &view); code != http.StatusNotFound {
		t.Errorf("unknown incident: %d, want 404", code)
	}
}

// postAlert posts a critical alert about ns/pod and returns its incident.
func postAlert(t *testing.T, url, token, ns, pod string) int64 {
	t.Helper()
	body := fmt.Sprintf(`{"alerts":[{"rule":"Known Cryptominer Process Executed","priority":"Critical","output":"xmrig in %s/%s","target":{"namespace":%q,"pod":%q}}]}`, ns, pod, ns, pod)
	req, _ := http.NewRequest("POST", url+"/v1/alerts", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Incidents []struct {
			ID int64 `json:"id"`
		} `json:"incidents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Incidents) != 1 {
		t.Fatalf("POST /v1/alerts: %d %v %+v", resp.StatusCode, err, out)
	}
	return out.Incidents[0].ID
}

func getJSON(t *testing.T, url, token, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}
