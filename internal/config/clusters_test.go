package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// kubeconfig writes a kubeconfig with contexts ctx-a and ctx-b, current
// (when not empty) current.
func kubeconfig(t *testing.T, current string) string {
	t.Helper()
	body := `apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "https://127.0.0.1:1"}}
- {name: b, cluster: {server: "https://127.0.0.1:2"}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: ctx-a, context: {cluster: a, user: u}}
- {name: ctx-b, context: {cluster: b, user: u}}
`
	if current != "" {
		body += "current-context: " + current + "\n"
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClustersForms(t *testing.T) {
	kc := kubeconfig(t, "ctx-a")
	tests := []struct {
		name        string
		src         Sources
		want        []Cluster
		wantDefault string
	}{
		{"one cluster", Sources{Overrides: []Override{{Key: "kubernetes.kubeconfig", Value: kc}, {Key: "kubernetes.cluster", Value: "prod"}}},
			[]Cluster{{Name: "prod", Kubeconfig: kc}}, "prod"},
		{"yaml list sharing a kubeconfig", Sources{File: writeFile(t, "kubernetes:\n  clusters:\n    - {name: a, kubeconfig: "+kc+", context: ctx-a}\n    - name: b\n      kubeconfig: "+kc+"\n      context: ctx-b\n  default_cluster: b\n")},
			[]Cluster{{Name: "a", Kubeconfig: kc, Context: "ctx-a"}, {Name: "b", Kubeconfig: kc, Context: "ctx-b"}}, "b"},
		{"env one line", Sources{Env: []string{"QUELL_KUBERNETES_CLUSTERS=a=" + kc + ", b=" + kc + "#ctx-b"}},
			[]Cluster{{Name: "a", Kubeconfig: kc}, {Name: "b", Kubeconfig: kc, Context: "ctx-b"}}, "a"},
		{"env replaces the file's list", Sources{File: writeFile(t, "kubernetes:\n  clusters:\n    - {name: x, kubeconfig: /nowhere}\n"), Env: []string{"QUELL_KUBERNETES_CLUSTERS=c=" + kc}},
			[]Cluster{{Name: "c", Kubeconfig: kc}}, "c"},
		{"in-cluster entry", Sources{File: writeFile(t, "kubernetes:\n  clusters:\n    - {name: hub}\n    - {name: edge, kubeconfig: "+kc+", context: ctx-b}\n")},
			[]Cluster{{Name: "hub"}, {Name: "edge", Kubeconfig: kc, Context: "ctx-b"}}, "hub"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cfg.Kubernetes.List()); diff != "" {
				t.Errorf("clusters (-want +got):\n%s", diff)
			}
			if got := cfg.Kubernetes.Default(); got != tt.wantDefault {
				t.Errorf("default cluster = %q, want %q", got, tt.wantDefault)
			}
		})
	}
}

func TestClustersProblems(t *testing.T) {
	kc := kubeconfig(t, "ctx-a")
	noCurrent := kubeconfig(t, "")
	missing := filepath.Join(t.TempDir(), "missing")
	// file writes "kubernetes:" and the lines; line 3 is the first entry.
	file := func(lines ...string) (Sources, string) {
		p := writeFile(t, "kubernetes:\n"+strings.Join(lines, "\n")+"\n")
		return Sources{File: p}, p
	}
	tests := []struct {
		name string
		src  func() (Sources, string)
		want []string // key|source|msg, with FILE for the config file
	}{
		{"bad and missing names", func() (Sources, string) {
			return file("  clusters:",
				"    - name: no spaces",
				"      kubeconfig: "+kc,
				"    - context: ctx-b",
				"      kubeconfig: "+kc)
		}, []string{
			`kubernetes.clusters[0].name|FILE:3:13|"no spaces" may hold only letters, digits, '-', '.' and '_'`,
			`kubernetes.clusters[1].name|FILE:5:7|"" must be 1 to 63 characters`,
		}},
		{"duplicate name", func() (Sources, string) {
			return file("  clusters:",
				"    - name: a",
				"      kubeconfig: "+kc,
				"    - name: a",
				"      context: ctx-b",
				"      kubeconfig: "+kc)
		}, []string{`kubernetes.clusters[1].name|FILE:5:13|"a" is already the name of kubernetes.clusters[0]`}},
		{"unreadable kubeconfig", func() (Sources, string) {
			return file("  clusters:",
				"    - name: a",
				"      kubeconfig: "+missing)
		}, []string{`kubernetes.clusters[0].kubeconfig|FILE:4:19|cannot read ` + missing + `: no such file or directory`}},
		{"missing context", func() (Sources, string) {
			return file("  clusters:",
				"    - name: a",
				"      context: ctx-c",
				"      kubeconfig: "+kc)
		}, []string{`kubernetes.clusters[0].context|FILE:4:16|no such context: kubeconfig ` + kc + ` has no context "ctx-c" (it has: ctx-a, ctx-b)`}},
		{"no current context", func() (Sources, string) {
			return file("  clusters:",
				"    - name: a",
				"      kubeconfig: "+noCurrent)
		}, []string{`kubernetes.clusters[0].kubeconfig|FILE:4:19|no such context: kubeconfig ` + noCurrent + ` has no current-context; name one of its contexts (ctx-a, ctx-b)`}},
		{"same cluster twice", func() (Sources, string) {
			return file("  clusters:",
				"    - name: a",
				"      kubeconfig: "+kc,
				"    - name: b",
				"      kubeconfig: "+kc)
		}, []string{`kubernetes.clusters[1]|FILE:5:7|reaches the same cluster as kubernetes.clusters[0] (same kubeconfig and context): it would be acted on twice`}},
		{"both forms", func() (Sources, string) {
			src, p := file("  kubeconfig: "+kc,
				"  clusters:",
				"    - name: a",
				"      kubeconfig: "+kc)
			src.Overrides = []Override{{Key: "kubernetes.cluster", Value: "prod", Source: "flag --cluster"}}
			return src, p
		}, []string{
			`kubernetes.kubeconfig|FILE:2:15|set either kubernetes.clusters or the one cluster's kubernetes.kubeconfig and kubernetes.cluster, not both`,
			`kubernetes.cluster|flag --cluster|set either kubernetes.clusters or the one cluster's kubernetes.kubeconfig and kubernetes.cluster, not both`,
		}},
		{"default names no cluster", func() (Sources, string) {
			return file("  default_cluster: b",
				"  clusters:",
				"    - name: a",
				"      kubeconfig: "+kc)
		}, []string{`kubernetes.default_cluster|FILE:2:20|"b" is not a configured cluster (configured: a)`}},
		{"default of the one cluster", func() (Sources, string) {
			return Sources{Env: []string{"QUELL_KUBERNETES_DEFAULT_CLUSTER=prod"}}, ""
		}, []string{`kubernetes.default_cluster|env QUELL_KUBERNETES_DEFAULT_CLUSTER|"prod" is not a configured cluster (configured: default)`}},
		{"unknown field and a scalar entry", func() (Sources, string) {
			return file("  clusters:",
				"    - name: a",
				"      contxt: ctx-a",
				"      kubeconfig: "+kc,
				"    - b")
		}, []string{
			`kubernetes.clusters[0].contxt|FILE:4:15|unknown setting of a cluster (want name, kubeconfig, context)`,
			`kubernetes.clusters[1]|FILE:6:7|must be a mapping, like the list's other entries`,
		}},
		{"one line without a kubeconfig", func() (Sources, string) {
			return Sources{Env: []string{"QUELL_KUBERNETES_CLUSTERS=a"}}, ""
		}, []string{`kubernetes.clusters|env QUELL_KUBERNETES_CLUSTERS|"a" is not NAME=KUBECONFIG or NAME=KUBECONFIG#CONTEXT`}},
		{"a list of mappings where single values go", func() (Sources, string) {
			return file("  kubeconfig:",
				"    - path: x",
				"    - path: y")
		}, []string{`kubernetes.kubeconfig|FILE:3:7|must be a single value or a list of single values`}},
		{"one line form's problems name its source", func() (Sources, string) {
			return Sources{Overrides: []Override{{Key: "kubernetes.clusters", Value: "a=" + missing + ",a=" + kc, Source: "flag --clusters"}}}, ""
		}, []string{
			`kubernetes.clusters[0].kubeconfig|flag --clusters|cannot read ` + missing + `: no such file or directory`,
			`kubernetes.clusters[1].name|flag --clusters|"a" is already the name of kubernetes.clusters[0]`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, path := tt.src()
			_, err := Load(src)
			if err == nil {
				t.Fatal("Load accepted the config")
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, strings.ReplaceAll(w, "FILE", path))
			}
			if diff := cmp.Diff(want, problems(err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFindCluster(t *testing.T) {
	k := Kubernetes{Clusters: []Cluster{{Name: "a", Kubeconfig: "/a"}, {Name: "b", Kubeconfig: "/b", Context: "x"}}, DefaultCluster: "b"}
	for _, tc := range []struct {
		name string
		want Cluster
		ok   bool
	}{{"", k.Clusters[1], true}, {"a", k.Clusters[0], true}, {"c", Cluster{}, false}} {
		got, ok := k.Find(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Find(%q) = %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	one := Kubernetes{Kubeconfig: "/k", Cluster: "prod"}
	if got, ok := one.Find(""); !ok || got != (Cluster{Name: "prod", Kubeconfig: "/k"}) {
		t.Errorf("Find of the one cluster = %+v %v", got, ok)
	}
}
