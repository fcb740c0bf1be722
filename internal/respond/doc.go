// Package respond is quell's actions layer: the cluster writes a response
// makes (terminate a pod, suspend a workload, isolate a pod, label or
// annotate, cordon a node, capture evidence), how each is undone, how its
// effect is verified, and how the temporary objects of a response are
// cleaned up.
//
// Contract shared by every Action:
//
//   - Apply is computed from the object's current state and is idempotent:
//     applying twice leaves the cluster as applying once, and the second
//     Record says Changed=false. The state an undo needs is read from the
//     object's restore annotation when one exists, so a second application
//     never overwrites the original state with the suspended one.
//   - Every write carries Env.FieldManager and, when Env.DryRun is set, is
//     sent with server-side dryRun=All: the API server validates and admits
//     it and persists nothing.
//   - Everything quell creates or changes is labelled quell.dev/incident=<id>.
//     A reversible action also writes what an undo needs into an annotation
//     on the object it changes (quell.dev/restore for suspend-workload,
//     quell.dev/restore-<action> for the others), so Restore works from the
//     object alone when the incident database is lost.
//   - Rules returns exactly the RBAC rules the action, and its Verify,
//     need for one target; it is what just-in-time credentials grant.
//     Rules on cluster-scoped resources (nodes) need a ClusterRole: see
//     SplitRules.
//   - Restore (Restorer) reverts from the Record's restore data, falling
//     back to the annotation, is idempotent, and removes the annotation.
//
// Verify proves an effect holds with a watch, not polling: for a
// suspension, no pod of the workload for a hold period; for a termination,
// the pod's UID gone. Its failures wrap ErrNotContained with the reason.
// A bare pod or an unknown controller cannot be suspended
// (ErrNotSuspendable): the caller terminates the pod instead.
//
// Cleanup rule: quell creates objects only of the kinds CleanupKinds lists,
// always labelled with the incident. Cleanup deletes every such object of
// the incident except those labelled quell.dev/lifetime=until-restore (the
// NetworkPolicies of isolate-pod, which must hold the quarantine until the
// incident is restored and are deleted by Restore); it then lists again and
// reports what remains.
//
// Actions hold only their options and are safe for concurrent use; the
// Registry is immutable after construction except through Register, which
// must not race with Get.
package respond
