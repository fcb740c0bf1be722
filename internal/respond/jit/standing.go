package jit

import (
	"cmp"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/notify"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/podwatch"
	"quell.dev/quell/internal/respond"
)

// Actions are the actions quell may run: those of the default registry
// and the variants its options select (suspension deleting the pods,
// labels and annotations on the workload).
func Actions() []respond.Action {
	reg := respond.DefaultRegistry()
	var out []respond.Action
	for _, n := range reg.Names() {
		a, _ := reg.Get(n)
		out = append(out, a)
	}
	return append(out, &respond.Suspend{DeletePods: true}, &respond.Label{Workload: true}, &respond.Annotate{Workload: true})
}

// SampleTargets are targets of every shape an action meets: a bare pod, a
// pod of each controller kind quell handles, a pod on a node, and a node.
func SampleTargets() []respond.Target {
	chain := func(kinds ...string) owner.Chain {
		links := []owner.Ref{{Kind: "Pod", Name: "p", UID: "u"}}
		for _, k := range kinds {
			links = append(links, owner.Ref{Kind: k, Name: strings.ToLower(k)})
		}
		return owner.Chain{Namespace: "ns", Links: links}
	}
	pod := func(c owner.Chain) respond.Target { return respond.Target{Namespace: "ns", Pod: "p", Chain: c} }
	onNode := pod(chain())
	onNode.Node = "n"
	return []respond.Target{
		pod(chain()),
		pod(chain("ReplicaSet", "Deployment")),
		pod(chain("ReplicaSet")),
		pod(chain("StatefulSet")),
		pod(chain("DaemonSet")),
		pod(chain("ReplicationController")),
		pod(chain("Job")),
		pod(chain("Job", "CronJob")),
		onNode,
		{Node: "n"},
	}
}

// ActionRules is every rule actions may need for any of targets, object
// names dropped, merged per resource.
func ActionRules(actions []respond.Action, targets []respond.Target) []rbacv1.PolicyRule {
	var all []rbacv1.PolicyRule
	for _, a := range actions {
		for _, t := range targets {
			all = append(all, a.Rules(t)...)
		}
	}
	return Merge(all)
}

// ServerRules are what the server needs besides the actions: the pod
// watch (podwatch.Rules), owner resolution and the protection check
// (respond.GetObject) read pods, nodes and workloads; respond.Cleanup
// lists every kind it may delete; Kubernetes Event notifications
// (notify.KubeEventRules) create events. Deleting RBAC objects and
// ServiceAccounts is granted by IssuerRules only: the default mode never
// creates them.
func ServerRules() []rbacv1.PolicyRule {
	get := []string{"get"}
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: get},
		{APIGroups: []string{""}, Resources: []string{"nodes", "replicationcontrollers"}, Verbs: get},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets", "statefulsets", "daemonsets"}, Verbs: get},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: get},
	}
	rules = append(rules, podwatch.Rules()...)
	rules = append(rules, notify.KubeEventRules()...)
	rules = append(rules, investigate.Rules()...) // the cache behind owner chains, protection checks and investigations
	for _, kind := range respond.CleanupKinds {
		group, resource := kindResource(kind)
		verbs := []string{"list"}
		if kind == "NetworkPolicy" {
			verbs = append(verbs, "delete")
		}
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: verbs})
	}
	return Merge(rules)
}

// DefaultModeRules are the rules of quell's standing identity in the
// default mode, and the rules it must hold in jit mode to grant them:
// ActionRules of Actions over SampleTargets, and ServerRules.
func DefaultModeRules() []rbacv1.PolicyRule {
	return Merge(append(ActionRules(Actions(), SampleTargets()), ServerRules()...))
}

// IssuerRules are what jit mode adds to DefaultModeRules: creating,
// reading back and deleting the objects Acquire creates, and requesting
// their tokens. Names are random, so none of it can be limited by name.
func IssuerRules() []rbacv1.PolicyRule {
	lifecycle := []string{"create", "delete", "get", "list"}
	return Merge([]rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: lifecycle},
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, Verbs: []string{"create"}},
		{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"}, Verbs: lifecycle},
	})
}

func kindResource(kind string) (group, resource string) {
	switch kind {
	case "NetworkPolicy":
		return "networking.k8s.io", "networkpolicies"
	case "ServiceAccount":
		return "", "serviceaccounts"
	}
	return rbacv1.GroupName, strings.ToLower(kind) + "s"
}

// Merge drops object names from rules and merges them into one rule per
// API group and resource, with sorted verbs, sorted by group and resource.
func Merge(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	type key struct{ group, resource string }
	verbs := map[key][]string{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				k := key{g, res}
				verbs[k] = append(verbs[k], r.Verbs...)
			}
		}
	}
	out := make([]rbacv1.PolicyRule, 0, len(verbs))
	for k, v := range verbs {
		slices.Sort(v)
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{k.group}, Resources: []string{k.resource}, Verbs: slices.Compact(v)})
	}
	slices.SortFunc(out, func(a, b rbacv1.PolicyRule) int {
		return cmp.Or(cmp.Compare(a.APIGroups[0], b.APIGroups[0]), cmp.Compare(a.Resources[0], b.Resources[0]))
	})
	return out
}
