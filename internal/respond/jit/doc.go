// Package jit issues just-in-time credentials for one response: a
// ServiceAccount bound to exactly the RBAC rules the planned actions need
// (respond.Action.Rules), used through a short-lived token and deleted when
// the response ends.
//
// Contract:
//
//   - Acquire creates, with the standing client, a ServiceAccount, a Role
//     and a RoleBinding in the target namespace (and, for rules on
//     cluster-scoped resources such as nodes, a ClusterRole and a
//     ClusterRoleBinding, keeping the rules' resourceNames), all named
//     quell-jit-<incident>-<random> and labelled quell.dev/incident=<id>,
//     quell.dev/jit=true and quell.dev/lifetime=temporary, with the lease's
//     expiry in the quell.dev/jit-expires annotation. It requests a token of
//     the ServiceAccount valid for MaxTTL (10 minutes, which is also the
//     shortest token the API server issues) and returns only once the API
//     server's authorizer allows the rules to that token (RBAC is served
//     from informers and lags a write). If any step fails, everything
//     created so far is deleted before the error is returned (by UID, and
//     by the lease's unique name for a create whose answer was lost).
//   - Lease.Client acts with the token alone: the base config's host and
//     CA are kept; client certificates, tokens, token files, basic auth,
//     impersonation and exec or auth-provider plugins are dropped. The API
//     server refuses (403) anything outside the granted rules.
//   - Lease.Release deletes the bindings, then the roles, then the
//     ServiceAccount (each with a UID precondition, so only what Acquire
//     created), reads each back to verify it is gone, and reports what was
//     deleted and what remains; a complete release leaves nothing. With the
//     bindings gone the token is refused (403) at once; it is rejected
//     (401) once kube-apiserver's 10 s cache of authenticated tokens lets
//     it go. Release is idempotent and safe for concurrent use.
//   - Sweep deletes JIT objects left by a process that ended before
//     releasing (on start), those whose lease has expired or all of them.
//
// RBAC of the standing identity. Kubernetes refuses to let an identity
// create a Role granting permissions it does not hold, or bind one, unless
// it has the escalate verb on roles or the bind verb on the role. quell
// holds what it grants instead: in jit mode its standing identity keeps the
// default mode's rules (DefaultModeRules: every action's rules with the
// object names dropped, and the server's reads) and adds the credential
// lifecycle (IssuerRules). escalate and bind cannot be limited to the rules
// quell needs: with them an identity can write a Role granting anything and
// bind it to itself, so they reach cluster-admin. Holding the rules caps
// what quell can ever grant at the union of its actions' rules, which is
// also the most a leaked standing credential can do; the gain of jit mode
// is in the credential that acts, limited to the target's namespace and
// objects and living for the response only. deploy/rbac holds both
// ClusterRoles, generated from these functions and checked by tests.
package jit
