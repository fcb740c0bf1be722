package investigate

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// binding is a RoleBinding or ClusterRoleBinding with its role's rules.
type binding struct {
	name     string // "RoleBinding ns/name" or "ClusterRoleBinding name"
	role     string // "Role ns/name" or "ClusterRole name"
	subjects []rbacv1.Subject
	rules    []rbacv1.PolicyRule
}

// bindingsFor returns the bindings in force in namespace ns: its
// RoleBindings and every ClusterRoleBinding, each with its role's rules;
// a binding whose role does not exist grants nothing and is left out.
func (iv *Investigator) bindingsFor(ns string) []binding {
	var out []binding
	roleRules := func(ref rbacv1.RoleRef, ns string) ([]rbacv1.PolicyRule, string, bool) {
		switch ref.Kind {
		case "ClusterRole":
			o, ok := iv.objs.Get("ClusterRole", "", ref.Name)
			if !ok {
				return nil, "", false
			}
			return o.(*rbacv1.ClusterRole).Rules, "ClusterRole " + ref.Name, true
		case "Role":
			o, ok := iv.objs.Get("Role", ns, ref.Name)
			if !ok {
				return nil, "", false
			}
			return o.(*rbacv1.Role).Rules, "Role " + ns + "/" + ref.Name, true
		}
		return nil, "", false
	}
	rbs, _ := iv.objs.List("RoleBinding", ns)
	for _, o := range rbs {
		rb := o.(*rbacv1.RoleBinding)
		if rules, role, ok := roleRules(rb.RoleRef, ns); ok {
			out = append(out, binding{name: "RoleBinding " + ns + "/" + rb.Name, role: role, subjects: rb.Subjects, rules: rules})
		}
	}
	crbs, _ := iv.objs.List("ClusterRoleBinding", "")
	for _, o := range crbs {
		crb := o.(*rbacv1.ClusterRoleBinding)
		if rules, role, ok := roleRules(crb.RoleRef, ""); ok {
			out = append(out, binding{name: "ClusterRoleBinding " + crb.Name, role: role, subjects: crb.Subjects, rules: rules})
		}
	}
	return out
}

// accessOf computes the Access section for service account sa of ns.
func (iv *Investigator) accessOf(ns, sa string, bindings []binding) Access {
	a := Access{ServiceAccount: ns + "/" + sa, Grants: []Grant{}, CanCreatePods: []SubjectGrant{}, CanExecPods: []SubjectGrant{}}
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	user := "system:serviceaccount:" + ns + ":" + sa
	for _, b := range bindings {
		for _, s := range b.subjects {
			var via string
			switch {
			case s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == ns:
				via = "ServiceAccount " + ns + "/" + sa
			case s.Kind == rbacv1.UserKind && s.Name == user:
				via = "User " + user
			case s.Kind == rbacv1.GroupKind && slices.Contains(groups, s.Name):
				via = "Group " + s.Name
			default:
				continue
			}
			a.Grants = append(a.Grants, Grant{Binding: b.name, Role: b.role, Via: via, Rules: b.rules})
			for _, d := range dangers(b.rules) {
				a.Dangerous = append(a.Dangerous, d+" ("+b.name+" -> "+b.role+")")
			}
			break
		}
		for _, s := range b.subjects {
			sg := SubjectGrant{Subject: subjectText(s), Binding: b.name, Role: b.role}
			if grants(b.rules, "", "pods", "", "create") {
				a.CanCreatePods = append(a.CanCreatePods, sg)
			}
			if grants(b.rules, "", "pods", "exec", "create") {
				a.CanExecPods = append(a.CanExecPods, sg)
			}
		}
	}
	slices.Sort(a.Dangerous)
	a.Dangerous = slices.Compact(a.Dangerous)
	return a
}

func subjectText(s rbacv1.Subject) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		return "ServiceAccount " + s.Namespace + "/" + s.Name
	}
	return s.Kind + " " + s.Name
}

// dangers names what in rules lets a holder take over more than its pod.
func dangers(rules []rbacv1.PolicyRule) []string {
	var out []string
	check := func(what string, ok bool) {
		if ok {
			out = append(out, what)
		}
	}
	for _, r := range rules {
		if slices.Contains(r.Verbs, "*") || slices.Contains(r.Resources, "*") || slices.Contains(r.APIGroups, "*") {
			out = append(out, "wildcard rule: "+ruleText(r))
		}
	}
	check("reads secrets", grants(rules, "", "secrets", "", "get") || grants(rules, "", "secrets", "", "list") || grants(rules, "", "secrets", "", "watch"))
	check("execs into pods", grants(rules, "", "pods", "exec", "create"))
	check("creates pods", grants(rules, "", "pods", "", "create"))
	for _, w := range []struct{ group, resource string }{
		{"apps", "deployments"}, {"apps", "daemonsets"}, {"apps", "statefulsets"}, {"apps", "replicasets"},
		{"batch", "jobs"}, {"batch", "cronjobs"}, {"", "replicationcontrollers"},
	} {
		if grants(rules, w.group, w.resource, "", "create") {
			out = append(out, "creates workloads")
			break
		}
	}
	check("binds or escalates roles", grants(rules, rbacv1.GroupName, "roles", "", "bind") || grants(rules, rbacv1.GroupName, "clusterroles", "", "bind") ||
		grants(rules, rbacv1.GroupName, "roles", "", "escalate") || grants(rules, rbacv1.GroupName, "clusterroles", "", "escalate"))
	check("impersonates", grants(rules, "", "users", "", "impersonate") || grants(rules, "", "groups", "", "impersonate") || grants(rules, "", "serviceaccounts", "", "impersonate"))
	check("mints service account tokens", grants(rules, "", "serviceaccounts", "token", "create"))
	check("proxies to nodes", grants(rules, "", "nodes", "proxy", "get") || grants(rules, "", "nodes", "proxy", "create"))
	return out
}

func ruleText(r rbacv1.PolicyRule) string {
	if len(r.NonResourceURLs) > 0 {
		return strings.Join(r.Verbs, ",") + " " + strings.Join(r.NonResourceURLs, ",")
	}
	return strings.Join(r.Verbs, ",") + " " + strings.Join(r.Resources, ",") + " in groups [" + strings.Join(r.APIGroups, ",") + "]"
}

// grants reports whether rules allow verb on group/resource[/sub] for
// any object: a rule limited to resource names does not count (RBAC
// never matches such a rule for create, nor for a request naming no
// object).
func grants(rules []rbacv1.PolicyRule, group, resource, sub, verb string) bool {
	full := resource
	if sub != "" {
		full += "/" + sub
	}
	for _, r := range rules {
		if len(r.ResourceNames) > 0 {
			continue
		}
		if !matches(r.APIGroups, group) || !matches(r.Verbs, verb) {
			continue
		}
		for _, res := range r.Resources {
			if res == "*" || res == full || (sub != "" && res == "*/"+sub) {
				return true
			}
		}
	}
	return false
}

func matches(list []string, v string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, v)
}
