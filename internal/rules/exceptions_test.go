package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestExceptionText checks the condition text built from exceptions against
// the exact string Falco's builder produces for the same input.
func TestExceptionText(t *testing.T) {
	src := `
- rule: r
  desc: d
  condition: spawned_process and container and network_tool_procs
  output: o
  priority: notice
  exceptions:
    - {name: proc_writer, fields: [proc.name, k8s.ns.name], values: [[nmap, security-scans], [tcpdump, "debug tools"]]}
    - {name: images, fields: [container.image.repository, proc.name], comps: [in, =],
       values: [[[docker.io/nicolaka/netshoot, registry.k8s.io/e2e-test-images/agnhost], dig]]}
    - {name: ns_only, fields: k8s.ns.name, values: [kube-system, monitoring]}
    - {name: declared_but_empty, fields: [proc.pname, proc.name], comps: [=, =]}
`
	rs, diags := Load(File{Name: "x.yaml", Data: []byte(src)})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	got, err := ruleCondition(rs.Rule("r"))
	if err != nil {
		t.Fatal(err)
	}
	want := `(spawned_process and container and network_tool_procs) and not (( proc.name = nmap and  k8s.ns.name = security-scans) or ( proc.name = tcpdump and  k8s.ns.name = "debug tools")) and not (( container.image.repository in (docker.io/nicolaka/netshoot, registry.k8s.io/e2e-test-images/agnhost) and  proc.name = dig)) and not (k8s.ns.name in (kube-system, monitoring))`
	if diff := cmp.Diff(want, got.text); diff != "" {
		t.Errorf("condition (-want +got):\n%s", diff)
	}
}
