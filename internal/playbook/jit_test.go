package playbook_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond/jit"
)

// TestJITCredentials runs a suspension with just-in-time credentials: the
// response acts with a lease (its grant recorded), contains the workload,
// then removes the lease and proves it gone; no quell-created
// ServiceAccount, Role or RoleBinding remains anywhere.
func TestJITCredentials(t *testing.T) {
	e := setupWith(t, playbook.Options{Mode: config.ModeEnforce, Credentials: config.CredentialsJIT})
	pods := e.deployment(t, "miner", 3)
	id := e.alert(t, e.ns, pods[0].Name, miner, "Critical")
	e.waitEntry(t, id, incident.EntryEnrichment, "just-in-time credentials granted")
	e.waitEntry(t, id, incident.EntryVerification, "contained")
	e.waitEntry(t, id, incident.EntryCleanup, "just-in-time credentials removed and verified gone: 3 deleted")
	if got := e.replicas(t, "miner"); got != 0 {
		t.Fatalf("replicas = %d, want 0", got)
	}
	sel := metav1.ListOptions{LabelSelector: jit.LabelJIT + "=true"}
	sas, err := e.cs.CoreV1().ServiceAccounts("").List(t.Context(), sel)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := e.cs.RbacV1().Roles("").List(t.Context(), sel)
	if err != nil {
		t.Fatal(err)
	}
	bindings, err := e.cs.RbacV1().RoleBindings("").List(t.Context(), sel)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sas.Items) + len(roles.Items) + len(bindings.Items); n != 0 {
		t.Fatalf("%d service accounts, %d roles, %d role bindings of quell's remain", len(sas.Items), len(roles.Items), len(bindings.Items))
	}
	if _, err := e.eng.Restore(t.Context(), id, "test"); err != nil {
		t.Fatal(err)
	}
	if got := e.replicas(t, "miner"); got != 3 {
		t.Fatalf("replicas after restore = %d, want 3", got)
	}
}
