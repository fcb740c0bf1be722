package respond

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// rule grants verbs on group/resource, limited to names when given.
func rule(group, resource string, names []string, verbs ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, ResourceNames: names, Verbs: verbs}
}

func named(n string) []string {
	if n == "" {
		return nil
	}
	return []string{n}
}

// kindRule grants verbs on the object of kind named name (sub is an
// optional subresource such as "scale").
func kindRule(kind, sub, name string, verbs ...string) rbacv1.PolicyRule {
	k := kinds[kind]
	res := k.resource
	if sub != "" {
		res += "/" + sub
	}
	return rule(k.group, res, named(name), verbs...)
}

// SplitRules separates rules on cluster-scoped resources (which a Role
// cannot grant and need a ClusterRole) from namespaced ones.
func SplitRules(rules []rbacv1.PolicyRule) (namespaced, cluster []rbacv1.PolicyRule) {
	for _, r := range rules {
		if isClusterScoped(r) {
			cluster = append(cluster, r)
		} else {
			namespaced = append(namespaced, r)
		}
	}
	return namespaced, cluster
}

func isClusterScoped(r rbacv1.PolicyRule) bool {
	for _, res := range r.Resources {
		base, _, _ := strings.Cut(res, "/")
		for _, k := range kinds {
			if k.resource == base && k.clusterScoped {
				return true
			}
		}
	}
	return false
}
