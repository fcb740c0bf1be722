package respond

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CleanupKinds are the kinds of object quell creates during a response.
// Objects of other kinds carrying the incident label were changed, not
// created, by quell, and Cleanup never deletes them.
var CleanupKinds = []string{"NetworkPolicy", "RoleBinding", "Role", "ServiceAccount", "ClusterRoleBinding", "ClusterRole"}

// CleanupReport proves a cleanup.
type CleanupReport struct {
	Incident int64       `json:"incident"`
	Deleted  []ObjectRef `json:"deleted,omitempty"`
	// Kept are objects meant to persist until restore (isolation policies).
	Kept []ObjectRef `json:"kept,omitempty"`
	// Remaining are temporary objects still listed after the deletes; a
	// complete cleanup leaves none (a dry run leaves them all).
	Remaining []ObjectRef `json:"remaining,omitempty"`
}

// listed is one object found by label.
type listed struct {
	ref      ObjectRef
	lifetime string
}

// Cleanup deletes every object of CleanupKinds labelled with incident
// that is not labelled quell.dev/lifetime=until-restore, then lists again
// and reports what remains. Deletion errors are returned joined, after the
// second listing.
func Cleanup(ctx context.Context, env Env, incident int64) (CleanupReport, error) {
	return CleanupKindsOf(ctx, env, incident, CleanupKinds)
}

// Creator is implemented by actions that create objects; Creates names
// their kinds (a subset of CleanupKinds).
type Creator interface {
	Creates() []string
}

// CleanupKindsOf is Cleanup limited to kinds: what a response whose
// actions create only those kinds needs to look at.
func CleanupKindsOf(ctx context.Context, env Env, incident int64, kinds []string) (CleanupReport, error) {
	rep := CleanupReport{Incident: incident}
	objs, err := listIncident(ctx, env, incident, kinds)
	if err != nil {
		return rep, fmt.Errorf("cleanup incident %d: %w", incident, err)
	}
	var errs []error
	for _, o := range objs {
		if o.lifetime == LifetimeUntilRestore {
			rep.Kept = append(rep.Kept, o.ref)
			continue
		}
		err := deleteRef(ctx, env, o.ref)
		switch {
		case err == nil:
			rep.Deleted = append(rep.Deleted, o.ref)
		case apierrors.IsNotFound(err):
		default:
			errs = append(errs, fmt.Errorf("delete %s: %w", o.ref, err))
		}
	}
	after, err := listIncident(ctx, env, incident, kinds)
	if err != nil {
		return rep, fmt.Errorf("cleanup incident %d: list again: %w", incident, err)
	}
	for _, o := range after {
		if o.lifetime != LifetimeUntilRestore {
			rep.Remaining = append(rep.Remaining, o.ref)
		}
	}
	env.log().Info("cleaned up incident", "incident", incident, "deleted", len(rep.Deleted),
		"kept", len(rep.Kept), "remaining", len(rep.Remaining), "dry_run", env.DryRun)
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("cleanup incident %d: %w", incident, err)
	}
	return rep, nil
}

func listIncident(ctx context.Context, env Env, incident int64, kinds []string) ([]listed, error) {
	opts := metav1.ListOptions{LabelSelector: LabelIncident + "=" + strconv.FormatInt(incident, 10)}
	cs := env.Client
	var out []listed
	add := func(kind string, items []metav1.Object) {
		for _, o := range items {
			out = append(out, listed{ref: refOf(kind, o), lifetime: o.GetLabels()[LabelLifetime]})
		}
	}
	for _, kind := range kinds {
		var items []metav1.Object
		switch kind {
		case "NetworkPolicy":
			l, err := cs.NetworkingV1().NetworkPolicies("").List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("list network policies: %w", err)
			}
			for i := range l.Items {
				items = append(items, &l.Items[i])
			}
		case "RoleBinding":
			l, err := cs.RbacV1().RoleBindings("").List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("list role bindings: %w", err)
			}
			for i := range l.Items {
				items = append(items, &l.Items[i])
			}
		case "Role":
			l, err := cs.RbacV1().Roles("").List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("list roles: %w", err)
			}
			for i := range l.Items {
				items = append(items, &l.Items[i])
			}
		case "ServiceAccount":
			l, err := cs.CoreV1().ServiceAccounts("").List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("list service accounts: %w", err)
			}
			for i := range l.Items {
				items = append(items, &l.Items[i])
			}
		case "ClusterRoleBinding":
			l, err := cs.RbacV1().ClusterRoleBindings().List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("list cluster role bindings: %w", err)
			}
			for i := range l.Items {
				items = append(items, &l.Items[i])
			}
		case "ClusterRole":
			l, err := cs.RbacV1().ClusterRoles().List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("list cluster roles: %w", err)
			}
			for i := range l.Items {
				items = append(items, &l.Items[i])
			}
		}
		add(kind, items)
	}
	return out, nil
}

func deleteRef(ctx context.Context, env Env, r ObjectRef) error {
	cs := env.Client
	opts := metav1.DeleteOptions{DryRun: env.dryRun()}
	if r.UID != "" {
		opts.Preconditions = &metav1.Preconditions{UID: ptrUID(r.UID)}
	}
	switch r.Kind {
	case "NetworkPolicy":
		return cs.NetworkingV1().NetworkPolicies(r.Namespace).Delete(ctx, r.Name, opts)
	case "RoleBinding":
		return cs.RbacV1().RoleBindings(r.Namespace).Delete(ctx, r.Name, opts)
	case "Role":
		return cs.RbacV1().Roles(r.Namespace).Delete(ctx, r.Name, opts)
	case "ServiceAccount":
		return cs.CoreV1().ServiceAccounts(r.Namespace).Delete(ctx, r.Name, opts)
	case "ClusterRoleBinding":
		return cs.RbacV1().ClusterRoleBindings().Delete(ctx, r.Name, opts)
	case "ClusterRole":
		return cs.RbacV1().ClusterRoles().Delete(ctx, r.Name, opts)
	}
	return fmt.Errorf("delete %s: kind not handled", r)
}
