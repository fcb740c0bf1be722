package playbook

import (
	"fmt"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/respond"
)

// Facts are what the decision rests on, gathered by validate and enrich.
type Facts struct {
	Target   incident.Target
	Severity incident.Severity
	Rule     string
	// Chain is the alerting pod's owner chain; nil for node and cluster
	// targets.
	Chain *owner.Chain
	// Terminated counts pods of this incident quell terminated before.
	Terminated int
	// Pods counts the distinct pods of the workload that alerted.
	Pods int
}

// Decision is what the built-in playbook does, and why.
type Decision struct {
	Actions   []string `json:"actions"` // in order; empty: no action
	Reason    string   `json:"reason"`
	Escalated bool     `json:"escalated,omitempty"`
	Playbook  string   `json:"playbook,omitempty"` // empty: the built-in one
}

// Decide is the built-in playbook's decision:
//   - informational alerts never trigger an action;
//   - host-level threats (a node target) cordon the node;
//   - a bare pod, or a pod of an unknown controller, is terminated;
//   - a critical threat in a controller's pod suspends the workload,
//     because a recreated pod runs the same image;
//   - a lesser threat terminates the pod first, and escalates to suspending
//     the workload when a recreated pod alerts again or two pods of the
//     workload have alerted.
//
// Evidence is captured before any pod action.
func Decide(f Facts) Decision {
	if f.Severity <= incident.SeverityInfo {
		return Decision{Reason: fmt.Sprintf("severity %s: informational alerts never trigger an action", f.Severity)}
	}
	switch f.Target.Kind {
	case incident.TargetNode:
		return Decision{Actions: []string{respond.ActionCordon}, Reason: "host-level threat on node " + f.Target.Name + ": cordon the node"}
	case incident.TargetCluster:
		return Decision{Reason: "the alert names no pod, workload or node to act on"}
	}
	if f.Chain == nil {
		return Decision{Reason: "the pod's owner chain is unknown"}
	}
	pod := f.Target.Namespace + "/" + f.Target.Pod
	if f.Chain.Bare() {
		return Decision{Actions: []string{respond.ActionEvidence, respond.ActionTerminate}, Reason: "pod " + pod + " has no controller: terminate it; nothing recreates it"}
	}
	top := f.Chain.Top()
	if f.Chain.Unknown {
		return Decision{Actions: []string{respond.ActionEvidence, respond.ActionTerminate},
			Reason: fmt.Sprintf("pod %s is controlled by %s %s, a kind quell does not suspend: terminate the pod", pod, top.Kind, top.Name)}
	}
	workload := top.Kind + " " + f.Target.Namespace + "/" + top.Name
	switch {
	case f.Severity >= incident.SeverityCritical:
		return Decision{Actions: []string{respond.ActionEvidence, respond.ActionSuspend},
			Reason: fmt.Sprintf("critical threat (%s) in a pod of %s: suspend the workload, since a recreated pod runs the same image", f.Rule, workload)}
	case f.Terminated > 0:
		return Decision{Actions: []string{respond.ActionEvidence, respond.ActionSuspend}, Escalated: true,
			Reason: fmt.Sprintf("a pod of %s alerted again after quell terminated %d: escalate to suspending the workload", workload, f.Terminated)}
	case f.Pods >= 2:
		return Decision{Actions: []string{respond.ActionEvidence, respond.ActionSuspend}, Escalated: true,
			Reason: fmt.Sprintf("%d pods of %s alerted: the threat is in the workload, suspend it", f.Pods, workload)}
	}
	return Decision{Actions: []string{respond.ActionEvidence, respond.ActionTerminate},
		Reason: fmt.Sprintf("%s threat (%s) in pod %s of %s: terminate the pod; escalate to suspension if a pod of it alerts again", f.Severity, f.Rule, pod, workload)}
}
