package jit_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/respond/jit"
	"quell.dev/quell/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite deploy/rbac from the code")

const deployDir = "../../../deploy/rbac"

// TestDeployManifests keeps deploy/rbac what the code generates.
func TestDeployManifests(t *testing.T) {
	files, err := jit.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	testenv.Generated(t, deployDir, files, *update, "go test ./internal/respond/jit -run TestDeployManifests -update")
}

// clusterRoles reads the ClusterRoles of a manifest file by name.
func clusterRoles(t testing.TB, file string) map[string]rbacv1.ClusterRole {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, file))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]rbacv1.ClusterRole{}
	for doc := range strings.SplitSeq(string(b), "\n---\n") {
		var cr rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict(stripComments(doc), &cr); err != nil {
			continue // another kind: fields a ClusterRole lacks
		}
		if cr.Kind == "ClusterRole" {
			out[cr.Name] = cr
		}
	}
	return out
}

func stripComments(doc string) []byte {
	var b bytes.Buffer
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(line, "#") && line != "---" {
			b.WriteString(line + "\n")
		}
	}
	return b.Bytes()
}

// TestManifestsCoverActions checks the committed ClusterRoles, parsed
// from the YAML, against every action's rules for every target shape
// (with the names those rules carry), independently of how the manifests
// are generated.
func TestManifestsCoverActions(t *testing.T) {
	def := clusterRoles(t, "default.yaml")[jit.DefaultClusterRole]
	iss := clusterRoles(t, "jit.yaml")[jit.IssuerClusterRole]
	if len(def.Rules) == 0 || len(iss.Rules) == 0 {
		t.Fatalf("ClusterRoles %s (%d rules) and %s (%d rules) not found", jit.DefaultClusterRole, len(def.Rules), jit.IssuerClusterRole, len(iss.Rules))
	}
	for _, a := range jit.Actions() {
		for _, tg := range jit.SampleTargets() {
			for _, r := range a.Rules(tg) {
				if !jit.Covers(def.Rules, r) {
					t.Errorf("%s: %s does not cover %s's rule %+v", "default.yaml", jit.DefaultClusterRole, a.Name(), r)
				}
			}
		}
	}
	for _, r := range jit.ServerRules() {
		if !jit.Covers(def.Rules, r) {
			t.Errorf("default.yaml does not cover the server's rule %+v", r)
		}
	}
	for _, kind := range respond.CleanupKinds { // Cleanup lists them in either mode
		if !coversList(def.Rules, kind) {
			t.Errorf("default.yaml does not let Cleanup list %s", kind)
		}
	}
	for _, r := range iss.Rules {
		for _, v := range r.Verbs {
			if v == "escalate" || v == "bind" || v == "impersonate" || v == "*" {
				t.Errorf("jit.yaml grants %s on %v", v, r.Resources)
			}
		}
	}
	for _, kind := range jit.Kinds {
		for _, verb := range []string{"create", "delete", "get", "list"} {
			r := rbacv1.PolicyRule{APIGroups: []string{group(kind)}, Resources: []string{resource(kind)}, Verbs: []string{verb}}
			if !jit.Covers(iss.Rules, r) {
				t.Errorf("jit.yaml does not grant %s %s", verb, kind)
			}
		}
	}
}

func coversList(rules []rbacv1.PolicyRule, kind string) bool {
	return jit.Covers(rules, rbacv1.PolicyRule{APIGroups: []string{group(kind)}, Resources: []string{resource(kind)}, Verbs: []string{"list"}})
}

func group(kind string) string {
	switch kind {
	case "ServiceAccount":
		return ""
	case "NetworkPolicy":
		return "networking.k8s.io"
	}
	return rbacv1.GroupName
}

func resource(kind string) string {
	if kind == "NetworkPolicy" {
		return "networkpolicies"
	}
	return strings.ToLower(kind) + "s"
}

func TestCovers(t *testing.T) {
	held := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "delete"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, ResourceNames: []string{"web"}, Verbs: []string{"patch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"*"}, Verbs: []string{"get"}},
	}
	tests := []struct {
		name string
		want rbacv1.PolicyRule
		ok   bool
	}{
		{"named pod", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"p"}, Verbs: []string{"delete"}}, true},
		{"all pods", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "delete"}}, true},
		{"verb not held", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}, false},
		{"subresource not held", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}}, false},
		{"held name", rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, ResourceNames: []string{"web"}, Verbs: []string{"patch"}}, true},
		{"other name", rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, ResourceNames: []string{"db"}, Verbs: []string{"patch"}}, false},
		{"any name of a named grant", rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"patch"}}, false},
		{"wildcard resource", rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"get"}}, true},
		{"other group", rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"pods"}, Verbs: []string{"get"}}, false},
		{"non-resource", rbacv1.PolicyRule{NonResourceURLs: []string{"/healthz"}, Verbs: []string{"get"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jit.Covers(held, tt.want); got != tt.ok {
				t.Errorf("Covers(%+v) = %v, want %v", tt.want, got, tt.ok)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	got := jit.Merge([]rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"a"}, Verbs: []string{"get", "delete"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "deployments/scale"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "get"}},
	})
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"delete", "get", "list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"get"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Merge (-want +got):\n%s", diff)
	}
}
