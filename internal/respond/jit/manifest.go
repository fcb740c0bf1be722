package jit

import (
	"bytes"
	"fmt"
	"quell.dev/quell/internal/investigate"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Names in the deploy manifests.
const (
	DeployNamespace      = "quell-system"
	DeployServiceAccount = "quell"
	// DefaultClusterRole is the standing identity's role in both modes.
	DefaultClusterRole = "quell"
	// IssuerClusterRole is what jit mode adds.
	IssuerClusterRole = "quell-jit"
)

const manifestHeader = "# Generated from internal/respond/jit by\n" +
	"#   go test ./internal/respond/jit -run TestDeployManifests -update\n" +
	"# Do not edit: a test fails when this file and the code disagree.\n"

// InvestigateClusterRole is the read-only ClusterRole of investigate.yaml.
const InvestigateClusterRole = "quell-investigate"

// Manifests returns deploy/rbac's files by name: investigate.yaml (the
// read-only ClusterRole an investigation needs), default.yaml (the
// namespace, quell's ServiceAccount, and the DefaultModeRules ClusterRole
// bound to it) and jit.yaml (the IssuerRules ClusterRole bound to the same
// ServiceAccount, applied on top of default.yaml in jit mode).
func Manifests() (map[string][]byte, error) {
	labels := map[string]string{"app.kubernetes.io/name": "quell"}
	meta := func(name, ns string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	role := func(name, comment string, rules []rbacv1.PolicyRule) []any {
		return []any{
			comment,
			&rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
				ObjectMeta: meta(name, ""), Rules: rules},
			&rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
				ObjectMeta: meta(name, ""),
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: DeployServiceAccount, Namespace: DeployNamespace}},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}},
		}
	}
	def := append([]any{
		"# quell's standing identity, default mode (credentials: default): it acts\n" +
			"# with these rules. jit mode needs them too (quell may grant only what it\n" +
			"# holds) and adds jit.yaml.\n",
		&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: meta(DeployNamespace, "")},
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta(DeployServiceAccount, DeployNamespace)},
	}, role(DefaultClusterRole, "# Every action's rules (object names dropped), the server's reads and its\n# Kubernetes Event notifications.\n", DefaultModeRules())...)
	jit := role(IssuerClusterRole, "# jit mode (credentials: jit), applied with default.yaml: create, read back\n"+
		"# and delete each response's ServiceAccount, Role(s) and binding(s), and\n"+
		"# request their tokens. No escalate or bind: quell grants only what\n"+
		"# default.yaml lets it hold.\n", IssuerRules())
	inv := []any{
		"# quell investigate pod: what a report reads, read-only (get, list and\n" +
			"# watch). Bind it to whoever runs the command, e.g.\n" +
			"#   kubectl create clusterrolebinding quell-investigate-alice --clusterrole=quell-investigate --user=alice\n",
		&rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
			ObjectMeta: meta(InvestigateClusterRole, ""), Rules: Merge(investigate.Rules())},
	}
	out := map[string][]byte{}
	for name, docs := range map[string][]any{"default.yaml": def, "jit.yaml": jit, "investigate.yaml": inv} {
		b, err := render(docs)
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// render writes docs as one YAML stream: a string is a comment at the top
// of the next document, an object a document.
func render(docs []any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(manifestHeader)
	comment := ""
	for _, d := range docs {
		if c, ok := d.(string); ok {
			comment += c
			continue
		}
		y, err := yaml.Marshal(d)
		if err != nil {
			return nil, err
		}
		y = bytes.ReplaceAll(y, []byte("  creationTimestamp: null\n"), nil)
		y = bytes.ReplaceAll(y, []byte("status: {}\n"), nil)
		b.WriteString("---\n" + comment)
		b.Write(y)
		comment = ""
	}
	return b.Bytes(), nil
}
