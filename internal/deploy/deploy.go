// Package deploy generates the parts of quell's Helm chart
// (deploy/helm/quell) that must agree with the code: the RBAC rules of
// each of quell's ServiceAccounts and the audit policy the API server is
// given.
//
// Contract:
//
//   - Grants lists every set of rules the chart grants, each from the Go
//     declarations of the code that makes the calls: the response actions,
//     the server's reads and notifications and the just-in-time credential
//     lifecycle (internal/respond/jit), leader election (LeaderElectionRules)
//     and the sensor's pod cache (internal/kubemeta). None holds escalate,
//     bind, impersonate or a wildcard.
//   - Admission is what RBAC cannot express in jit mode: the names
//     (jit.NamePrefix) quell's identity may create, delete, request tokens
//     for and bind, enforced by the chart's ValidatingAdmissionPolicy.
//   - ChartFiles renders them, with the audit policy of internal/devcluster,
//     as the chart's files/ (files/rbac/NAME.yaml: a YAML list of rules;
//     files/jit-admission.yaml; files/audit-policy.yaml). The chart's templates include these files;
//     a test keeps the committed files equal to ChartFiles.
package deploy

import (
	"bytes"
	"fmt"
	"path"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/kubemeta"
	"quell.dev/quell/internal/leader"
	"quell.dev/quell/internal/respond/jit"
)

// Who holds a Grant.
const (
	Server = "server" // the server's ServiceAccount
	Sensor = "sensor" // the sensor's ServiceAccount
)

// Grant is one set of rules the chart binds to one ServiceAccount.
type Grant struct {
	Name      string // files/rbac/Name.yaml in the chart
	Subject   string // Server or Sensor
	Namespace bool   // a Role in the release's namespace; else a ClusterRole
	JIT       bool   // granted only when response.credentials is jit
	Why       string // the file's comment
	Rules     []rbacv1.PolicyRule
}

// Grants are the chart's RBAC rules, in the order the chart binds them.
func Grants() []Grant {
	return []Grant{
		{Name: "server", Subject: Server, Rules: jit.DefaultModeRules(),
			Why: "The server's standing rules in both credential modes: every response\n" +
				"action's rules (object names dropped), owner resolution and the\n" +
				"protection check, the workload and investigation cache, the pod watch,\n" +
				"cleanup's listings and Kubernetes Event notifications. jit mode needs\n" +
				"them too: the API server lets quell grant only what it holds."},
		{Name: "server-jit", Subject: Server, JIT: true, Rules: jit.IssuerRules(),
			Why: "response.credentials: jit adds the credential lifecycle: create, read\n" +
				"back and delete each response's ServiceAccount, Role(s) and binding(s),\n" +
				"and request their tokens. No escalate or bind."},
		{Name: "server-leader-election", Subject: Server, Namespace: true, Rules: LeaderElectionRules(),
			Why: "In the release's namespace only: the Lease the replicas elect a leader\n" +
				"with (ha.enabled)."},
		{Name: "sensor", Subject: Sensor, Rules: jit.Merge(kubemeta.Rules()),
			Why: "The sensor reads the pods of its node (a spec.nodeName field selector)\n" +
				"and writes nothing."},
	}
}

// LeaderElectionRules are what leader election through a
// coordination.k8s.io Lease needs (client-go's LeaseLock reads, creates
// and renews it; it never lists, watches or deletes).
func LeaderElectionRules() []rbacv1.PolicyRule { return leader.Rules() }

// AuditPolicyFile is the chart's copy of devcluster.AuditPolicy.
const AuditPolicyFile = "files/audit-policy.yaml"

// RulesFile is the chart file holding a grant's rules.
func RulesFile(name string) string { return path.Join("files", "rbac", name+".yaml") }

const header = "# Generated from internal/deploy by\n" +
	"#   go test ./internal/deploy -run TestChartFiles -update\n" +
	"# Do not edit: a test fails when this file and the code disagree.\n"

// ChartFiles returns the generated chart files by path inside the chart.
func ChartFiles() (map[string][]byte, error) {
	out := map[string][]byte{AuditPolicyFile: []byte(header + devcluster.AuditPolicy)}
	for _, g := range Grants() {
		y, err := yaml.Marshal(g.Rules)
		if err != nil {
			return nil, fmt.Errorf("render %s rules: %w", g.Name, err)
		}
		var b bytes.Buffer
		b.WriteString(header + "#\n")
		for line := range bytes.Lines([]byte(g.Why + "\n")) {
			b.WriteString("# ")
			b.Write(line)
		}
		b.Write(y)
		out[RulesFile(g.Name)] = b.Bytes()
	}
	y, err := yaml.Marshal(Admission())
	if err != nil {
		return nil, fmt.Errorf("render jit admission: %w", err)
	}
	out[JITAdmissionFile] = append([]byte(header+"#\n# The names and requests the jit ValidatingAdmissionPolicy limits quell to.\n"), y...)
	return out, nil
}
