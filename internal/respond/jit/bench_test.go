package jit_test

import (
	"slices"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/respond/jit"
)

// reportLatency reports the p50 and p99 of ds in milliseconds, with unit
// prefix name.
func reportLatency(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(p int) float64 {
		return float64(ds[min(len(ds)-1, len(ds)*p/100)].Microseconds()) / 1000
	}
	b.ReportMetric(at(50), name+"p50-ms")
	b.ReportMetric(at(99), name+"p99-ms")
}

// BenchmarkAcquireRelease measures what jit credentials add to a response:
// Acquire (ServiceAccount, Role, RoleBinding, token, wait until in force)
// and Release (delete and read back), for the rules of evidence, terminate
// and suspend on a Deployment's pod, and with a node (ClusterRole and
// ClusterRoleBinding too); as the admin (for whom the API server skips the
// escalation check) and as an identity holding only deploy/rbac's
// ClusterRoles.
func BenchmarkAcquireRelease(b *testing.B) {
	cs := admin(b)
	ns := namespace(b, cs)
	mkDeployment(b, cs, ns, "web", 1)
	pod := waitPods(b, cs, ns, "app=web", 1)[0]
	tg := target(b, cs, ns, pod)
	var rules []rbacv1.PolicyRule
	for _, a := range []respond.Action{&respond.Evidence{}, &respond.Terminate{}, &respond.Suspend{}} {
		rules = append(rules, a.Rules(tg)...)
	}
	node := "jit-" + ns
	mkNode(b, cs, node)
	withNode := append(slices.Clone(rules), (&respond.Cordon{}).Rules(respond.Target{Node: node})...)
	b.Run("namespaced", func(b *testing.B) { benchLease(b, newIssuer(b, jit.Options{}), ns, rules) })
	b.Run("with-node", func(b *testing.B) { benchLease(b, newIssuer(b, jit.Options{}), ns, withNode) })
	b.Run("namespaced-deploy-rbac", func(b *testing.B) {
		cfg := standingIdentity(b, cs, namespace(b, cs), map[string]string{
			"default.yaml": jit.DefaultClusterRole, "jit.yaml": jit.IssuerClusterRole})
		benchLease(b, jit.NewIssuer(must(kubernetes.NewForConfig(cfg)), cfg, jit.Options{}), ns, rules)
	})
}

func benchLease(b *testing.B, is *jit.Issuer, ns string, rules []rbacv1.PolicyRule) {
	var total, acquire, release, waited []time.Duration
	for b.Loop() {
		start := time.Now()
		lease, err := is.Acquire(b.Context(), nextIncident(), ns, rules, 0)
		if err != nil {
			b.Fatal(err)
		}
		acquired := time.Now()
		if _, err := lease.Release(b.Context()); err != nil {
			b.Fatal(err)
		}
		end := time.Now()
		total = append(total, end.Sub(start))
		acquire = append(acquire, acquired.Sub(start))
		release = append(release, end.Sub(acquired))
		waited = append(waited, lease.Waited())
	}
	b.StopTimer()
	reportLatency(b, "", total)
	reportLatency(b, "acquire-", acquire)
	reportLatency(b, "release-", release)
	reportLatency(b, "in-force-wait-", waited)
}
