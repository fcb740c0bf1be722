package deploy

import (
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"quell.dev/quell/internal/respond/jit"
)

// JITAdmission is what the chart's ValidatingAdmissionPolicy (jit mode)
// holds quell's standing identity to. RBAC cannot limit by name what
// IssuerRules lets it create, delete and request tokens for (the names
// are random), so without the policy it could request a token for any
// ServiceAccount, or bind a role it holds to anyone. The policy lets it do
// so only for names starting with NamePrefix (jit.NamePrefix), and bind
// only ServiceAccounts of that prefix.
type JITAdmission struct {
	NamePrefix string `json:"namePrefix"`
	// ResourceRules are the requests the policy checks: the create and
	// delete verbs of jit.IssuerRules.
	ResourceRules []admissionregistrationv1.NamedRuleWithOperations `json:"resourceRules"`
}

// JITAdmissionFile is the chart file holding JITAdmission.
const JITAdmissionFile = "files/jit-admission.yaml"

// Admission returns the policy's parameters, from jit.IssuerRules.
func Admission() JITAdmission {
	ops := map[string]admissionregistrationv1.OperationType{"create": admissionregistrationv1.Create, "delete": admissionregistrationv1.Delete}
	type key struct {
		group string
		ops   string
	}
	byKey := map[key][]string{}
	var keys []key
	for _, r := range jit.IssuerRules() {
		var o []string
		for _, v := range r.Verbs {
			if op, ok := ops[v]; ok {
				o = append(o, string(op))
			}
		}
		if len(o) == 0 {
			continue
		}
		slices.Sort(o)
		for _, g := range r.APIGroups {
			k := key{g, strings.Join(o, ",")}
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], r.Resources...)
		}
	}
	a := JITAdmission{NamePrefix: jit.NamePrefix}
	for _, k := range keys {
		var o []admissionregistrationv1.OperationType
		for op := range strings.SplitSeq(k.ops, ",") {
			o = append(o, admissionregistrationv1.OperationType(op))
		}
		res := byKey[k]
		slices.Sort(res)
		a.ResourceRules = append(a.ResourceRules, admissionregistrationv1.NamedRuleWithOperations{
			RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: o,
				Rule: admissionregistrationv1.Rule{APIGroups: []string{k.group}, APIVersions: []string{"*"}, Resources: slices.Compact(res)}}})
	}
	return a
}
