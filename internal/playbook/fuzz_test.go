package playbook

import (
	"os"
	"strings"
	"testing"

	"quell.dev/quell/internal/respond"
)

// FuzzParsePolicy feeds arbitrary bytes to the playbook parser: it must
// return a policy or an error naming the file, never panic, and a policy
// it accepts must be usable (every step known, every action registered).
func FuzzParsePolicy(f *testing.F) {
	for _, name := range []string{"testdata/playbooks.yaml", "testdata/bad.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("playbooks: [{name: x, steps: [validate, {action: terminate-pod, approve: auto-after 1s}]}]"))
	f.Add([]byte("allowlist: [{selector: 'a in (b', reason: r}]"))
	f.Add([]byte("playbooks: [{name: x, match: {clusters: [edge-*, ''], namespaces: [prod]}, steps: [validate]}]"))
	f.Add([]byte("playbooks:\n  - name: x\n    steps:\n      - step: [1]\n"))
	reg := respond.DefaultRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(reg, "fuzz.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, pb := range p.Playbooks {
			for _, st := range pb.Steps {
				switch st.Kind {
				case StepValidate, StepEnrich, StepDecide:
				case StepAction:
					if _, ok := reg.Get(st.Action); !ok {
						t.Fatalf("accepted unknown action %q", st.Action)
					}
				default:
					t.Fatalf("accepted unknown step kind %q", st.Kind)
				}
			}
			_ = pb.match.matches(subject{}) // matching an empty alert must not panic
		}
	})
}
