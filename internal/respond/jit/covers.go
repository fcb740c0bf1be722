package jit

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Covers reports whether held grants everything want does: every verb on
// every group, resource and name of want is allowed by one rule of held,
// as the RBAC authorizer decides ("*" matches any; a rule without names
// matches every name).
func Covers(held []rbacv1.PolicyRule, want rbacv1.PolicyRule) bool {
	names := want.ResourceNames
	if len(names) == 0 {
		names = []string{""}
	}
	for _, g := range want.APIGroups {
		for _, res := range want.Resources {
			for _, v := range want.Verbs {
				for _, n := range names {
					if !slices.ContainsFunc(held, func(h rbacv1.PolicyRule) bool { return allows(h, g, res, v, n) }) {
						return false
					}
				}
			}
		}
	}
	return len(want.NonResourceURLs) == 0
}

func allows(h rbacv1.PolicyRule, group, resource, verb, name string) bool {
	match := func(set []string, v string) bool {
		return slices.Contains(set, v) || slices.Contains(set, rbacv1.ResourceAll)
	}
	if !match(h.APIGroups, group) || !match(h.Resources, resource) || !match(h.Verbs, verb) {
		return false
	}
	return len(h.ResourceNames) == 0 || (name != "" && slices.Contains(h.ResourceNames, name))
}
