package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"quell.dev/quell/internal/deploy"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/kubemeta"
	"quell.dev/quell/internal/notify"
	"quell.dev/quell/internal/podwatch"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/respond/jit"
)

// perm is one permission: a verb on a group's resource (with its
// subresource), cluster-wide or in one namespace only.
type perm struct {
	Namespace             string // "": every namespace (or cluster-scoped)
	Group, Resource, Verb string
}

func (p perm) String() string {
	where := "cluster-wide"
	if p.Namespace != "" {
		where = "in " + p.Namespace
	}
	res := p.Resource
	if p.Group != "" {
		res = p.Group + "/" + res
	}
	return fmt.Sprintf("%s %s %s", p.Verb, res, where)
}

// expand turns rules into sorted, unique permissions in ns.
func expand(ns string, rules ...rbacv1.PolicyRule) []perm {
	var out []perm
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, perm{ns, g, res, v})
				}
			}
		}
	}
	return sortPerms(out)
}

func sortPerms(ps []perm) []perm {
	slices.SortFunc(ps, func(a, b perm) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(ps)
}

// needed is what each of in's ServiceAccounts needs, assembled from the
// declarations next to the calls: every action's rules for every target
// shape, the server's reads (owner chains, protection checks, cleanup),
// the investigation cache, the pod watch, Event notifications, the jit
// credential lifecycle, leader election, and the sensor's pod cache.
func needed(in install) map[string][]perm {
	var server []rbacv1.PolicyRule
	for _, a := range jit.Actions() {
		for _, tg := range jit.SampleTargets() {
			server = append(server, a.Rules(tg)...)
		}
	}
	server = append(server, jit.ServerRules()...)
	server = append(server, investigate.Rules()...)
	server = append(server, podwatch.Rules()...)
	server = append(server, notify.KubeEventRules()...)
	for _, kind := range respond.CleanupKinds {
		if kind == "NetworkPolicy" { // the one kind Cleanup deletes in either mode
			server = append(server, rbacv1.PolicyRule{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"list", "delete"}})
		}
	}
	if in.jit {
		server = append(server, jit.IssuerRules()...)
	}
	return map[string][]perm{
		in.fullname:             sortPerms(append(expand("", server...), expand(in.namespace, deploy.LeaderElectionRules()...)...)),
		in.fullname + "-sensor": expand("", kubemeta.Rules()...),
	}
}

// granted is what the rendered Roles, ClusterRoles and their bindings
// grant each ServiceAccount of in's namespace.
func granted(t *testing.T, in install, objs objects) map[string][]perm {
	t.Helper()
	clusterRoles, roles := map[string][]rbacv1.PolicyRule{}, map[string][]rbacv1.PolicyRule{}
	for _, u := range objs {
		switch u.GetKind() {
		case "ClusterRole":
			clusterRoles[u.GetName()] = as[rbacv1.ClusterRole](t, u).Rules
		case "Role":
			roles[u.GetName()] = as[rbacv1.Role](t, u).Rules
		}
	}
	out := map[string][]perm{}
	bind := func(binding, ns string, subjects []rbacv1.Subject, rules []rbacv1.PolicyRule) {
		for _, s := range subjects {
			if s.Kind != rbacv1.ServiceAccountKind || s.Namespace != in.namespace {
				t.Errorf("%s binds %s %s/%s, not one of the release's ServiceAccounts", binding, s.Kind, s.Namespace, s.Name)
				continue
			}
			out[s.Name] = sortPerms(append(out[s.Name], expand(ns, rules...)...))
		}
	}
	for _, u := range objs {
		switch u.GetKind() {
		case "ClusterRoleBinding":
			b := as[rbacv1.ClusterRoleBinding](t, u)
			rules, ok := clusterRoles[b.RoleRef.Name]
			if b.RoleRef.Kind != "ClusterRole" || !ok {
				t.Errorf("ClusterRoleBinding %s refers to %s %s, not rendered", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			}
			bind("ClusterRoleBinding "+b.Name, "", b.Subjects, rules)
		case "RoleBinding":
			b := as[rbacv1.RoleBinding](t, u)
			rules, ok := roles[b.RoleRef.Name]
			if b.RoleRef.Kind != "Role" || !ok {
				t.Errorf("RoleBinding %s refers to %s %s, not a rendered Role", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			}
			bind("RoleBinding "+b.Name, b.Namespace, b.Subjects, rules)
		}
	}
	return out
}

// difference is what a holds that b does not.
func difference(a, b []perm) []string {
	var out []string
	for _, p := range a {
		if !slices.Contains(b, p) {
			out = append(out, p.String())
		}
	}
	return out
}

// TestRBACMatchesCode: for both credential modes, the chart grants each
// ServiceAccount every permission the code declares it needs, and nothing
// more; and no rule could let quell grant itself more.
func TestRBACMatchesCode(t *testing.T) {
	for _, in := range installs() {
		t.Run(in.name, func(t *testing.T) {
			objs := parse(t, render(t, in))
			for _, u := range objs {
				if u.GetKind() != "ClusterRole" && u.GetKind() != "Role" {
					continue
				}
				for _, r := range as[rbacv1.ClusterRole](t, u).Rules {
					if len(r.NonResourceURLs) > 0 || slices.Contains(r.Resources, "*") || slices.Contains(r.APIGroups, "*") ||
						slices.ContainsFunc(r.Verbs, func(v string) bool { return v == "*" || v == "escalate" || v == "bind" || v == "impersonate" }) {
						t.Errorf("%s %s: rule %+v", u.GetKind(), u.GetName(), r)
					}
				}
			}
			need, got := needed(in), granted(t, in, objs)
			for sa := range got {
				if _, ok := need[sa]; !ok {
					t.Errorf("ServiceAccount %s is granted %d permissions and needs none", sa, len(got[sa]))
				}
			}
			for sa, want := range need {
				if missing := difference(want, got[sa]); len(missing) > 0 {
					t.Errorf("%s lacks what the code needs:\n  %s", sa, strings.Join(missing, "\n  "))
				}
				if extra := difference(got[sa], want); len(extra) > 0 {
					t.Errorf("%s is granted what the code does not need:\n  %s", sa, strings.Join(extra, "\n  "))
				}
			}
		})
	}
}
