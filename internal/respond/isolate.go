package respond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Isolate quarantines the target pod ("isolate-pod"): it creates the
// NetworkPolicy quell-quarantine-<incident> in the pod's namespace,
// selecting pods labelled quell.dev/quarantine=<incident> and denying all
// ingress and all egress except what the options allow, then adds that
// label to the pod. The policy is labelled quell.dev/lifetime=until-restore:
// Cleanup keeps it, Restore deletes it once no pod carries the label.
type Isolate struct {
	// AllowDNS allows egress to kube-system on port 53 (UDP and TCP).
	AllowDNS bool
	// AllowCIDRs allows egress to these networks.
	AllowCIDRs []NamedCIDR
}

// NamedCIDR is a network egress to which stays allowed.
type NamedCIDR struct {
	Name string `json:"name"`
	CIDR string `json:"cidr"`
}

// isolateState is isolate-pod's restore data.
type isolateState struct {
	metaState
	Policy string `json:"policy"`
}

// Name implements Action.
func (*Isolate) Name() string { return ActionIsolate }

// Creates implements Creator: the quarantine NetworkPolicy.
func (*Isolate) Creates() []string { return []string{"NetworkPolicy"} }

var _ Creator = (*Isolate)(nil)

// PolicyName is the quarantine NetworkPolicy's name for incident.
func PolicyName(incident int64) string { return "quell-quarantine-" + strconv.FormatInt(incident, 10) }

// Rules implements Action. The policy's name depends on the incident, so
// create (which cannot be limited by name) and delete of NetworkPolicies
// are granted in the namespace.
func (*Isolate) Rules(t Target) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		kindRule("Pod", "", t.Pod, "get", "patch"),
		rule("", "pods", nil, "list"),
		rule("networking.k8s.io", "networkpolicies", nil, "get", "create", "delete"),
	}
}

func (a *Isolate) policy(env Env, ns string) *networkingv1.NetworkPolicy {
	id := env.incidentLabel()
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: PolicyName(env.Incident), Namespace: ns,
			Labels: map[string]string{LabelIncident: id, LabelLifetime: LifetimeUntilRestore}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{LabelQuarantine: id}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{},
			Egress:      []networkingv1.NetworkPolicyEgressRule{},
		},
	}
	if a.AllowDNS {
		udp, tcp, port := corev1.ProtocolUDP, corev1.ProtocolTCP, intstr.FromInt32(53)
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{
			To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: "kube-system"}}}},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &port}, {Protocol: &tcp, Port: &port}},
		})
	}
	for _, c := range a.AllowCIDRs {
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{
			To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: c.CIDR}}},
		})
	}
	return np
}

// Apply implements Action.
func (a *Isolate) Apply(ctx context.Context, env Env, t Target) (Record, error) {
	rec := newRecord(a.Name(), env, t)
	rec.Reversible = true
	defer rec.finish()
	// The policy first: the label must never select pods before it holds.
	nps := env.Client.NetworkingV1().NetworkPolicies(t.Namespace)
	created := false
	_, err := nps.Create(ctx, a.policy(env, t.Namespace), env.createOpts())
	switch {
	case err == nil:
		created = true
	case apierrors.IsAlreadyExists(err):
	default:
		return rec, fmt.Errorf("isolate pod %s/%s: create network policy: %w", t.Namespace, t.Pod, err)
	}
	ref := ObjectRef{Kind: "Pod", Namespace: t.Namespace, Name: t.Pod}
	labels := map[string]string{LabelQuarantine: env.incidentLabel()}
	wrap := func(st metaState) any { return isolateState{metaState: st, Policy: PolicyName(st.Incident)} }
	if _, err := setMeta(ctx, env, a.Name(), ref, labels, nil, wrap, &rec); err != nil {
		if created { // leave no policy behind that no restore will ever remove
			if derr := nps.Delete(ctx, PolicyName(env.Incident), env.deleteOpts()); derr != nil && !apierrors.IsNotFound(derr) {
				err = errors.Join(err, fmt.Errorf("delete network policy: %w", derr))
			}
		}
		return rec, fmt.Errorf("isolate pod %s/%s: %w", t.Namespace, t.Pod, err)
	}
	rec.Changed = rec.Changed || created
	rec.Notes = append(rec.Notes, "network policy "+PolicyName(env.Incident))
	env.log().Info("isolated pod", "pod", t.Pod, "namespace", t.Namespace, "policy", PolicyName(env.Incident),
		"changed", rec.Changed, "incident", env.Incident, "dry_run", env.DryRun)
	return rec, nil
}

// Restore implements Restorer: the pod's labels go back, then the policy
// is deleted when no pod of the namespace is quarantined by it any more.
func (a *Isolate) Restore(ctx context.Context, env Env, rec Record) (Record, error) {
	out := newRecord(a.Name(), env, rec.Target)
	out.Reversible = true
	defer out.finish()
	ref := rec.Object
	if ref.Name == "" {
		ref = ObjectRef{Kind: "Pod", Namespace: rec.Target.Namespace, Name: rec.Target.Pod}
	}
	out.Object = ref
	// The annotation holds an isolateState; fall back to it for the policy.
	var st isolateState
	if len(rec.Restore) > 0 {
		if err := json.Unmarshal(rec.Restore, &st); err != nil {
			return out, fmt.Errorf("restore isolation of %s: decode restore data: %w", ref, err)
		}
	} else if pod, err := env.Client.CoreV1().Pods(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
		if _, err := readRestore(pod, a.Name(), &st); err != nil {
			return out, fmt.Errorf("restore isolation of %s: %w", ref, err)
		}
	}
	if _, err := unsetMeta(ctx, env, a.Name(), ref, rec.Restore, &out); err != nil {
		return out, fmt.Errorf("restore isolation of %s: %w", ref, err)
	}
	incident := st.Incident
	if incident == 0 {
		incident = rec.Incident
	}
	if incident == 0 {
		return out, fmt.Errorf("restore isolation of %s: incident unknown (no record, no annotation)", ref)
	}
	id := strconv.FormatInt(incident, 10)
	left, err := env.Client.CoreV1().Pods(ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelQuarantine + "=" + id})
	if err != nil {
		return out, fmt.Errorf("restore isolation of %s: list quarantined pods: %w", ref, err)
	}
	for _, p := range left.Items {
		if p.Name != ref.Name || !env.DryRun { // a dry-run restore left the label in place
			out.Notes = append(out.Notes, "policy kept: pod "+p.Name+" still quarantined")
			return out, nil
		}
	}
	err = env.Client.NetworkingV1().NetworkPolicies(ref.Namespace).Delete(ctx, PolicyName(incident), env.deleteOpts())
	switch {
	case err == nil:
		out.Changed = true
	case apierrors.IsNotFound(err):
	default:
		return out, fmt.Errorf("restore isolation of %s: delete network policy: %w", ref, err)
	}
	env.log().Info("restored isolated pod", "pod", ref.Name, "namespace", ref.Namespace,
		"changed", out.Changed, "incident", incident, "dry_run", env.DryRun)
	return out, nil
}
