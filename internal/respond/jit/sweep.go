package jit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/respond"
)

// SweepOptions select what Sweep deletes.
type SweepOptions struct {
	// All deletes every JIT object, expired or not: only for a cluster
	// where no other quell process may hold a lease.
	All bool
	// Now is the time leases are compared with; zero means time.Now().
	Now time.Time
	// Log receives the result; nil discards.
	Log *slog.Logger
}

// Sweep deletes the JIT objects (labelled quell.dev/jit=true) of expired
// leases, or all of them with opts.All, and verifies they are gone. A
// lease's expiry is its quell.dev/jit-expires annotation, or the object's
// creation plus MaxTTL when that is missing or unreadable. Unexpired ones
// are reported as Kept.
func Sweep(ctx context.Context, cs kubernetes.Interface, opts SweepOptions) (Report, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	found, err := listJIT(ctx, cs)
	if err != nil {
		return Report{}, fmt.Errorf("sweep jit credentials: %w", err)
	}
	var expired, kept []respond.ObjectRef
	for _, o := range found {
		if opts.All || !expiry(o.meta).After(now) {
			expired = append(expired, o.ref)
		} else {
			kept = append(kept, o.ref)
		}
	}
	rep, err := remove(ctx, cs, expired)
	rep.Kept = kept
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Info("jit credentials swept", "found", len(found), "deleted", len(rep.Deleted), "kept", len(rep.Kept),
		"remaining", len(rep.Remaining), "all", opts.All)
	if err != nil {
		return rep, fmt.Errorf("sweep jit credentials: %w", err)
	}
	return rep, nil
}

func expiry(m metav1.Object) time.Time {
	if t, err := time.Parse(time.RFC3339, m.GetAnnotations()[AnnotationExpires]); err == nil {
		return t
	}
	return m.GetCreationTimestamp().Add(MaxTTL)
}

type found struct {
	ref  respond.ObjectRef
	meta metav1.Object
}

// listJIT lists every object labelled quell.dev/jit=true, of every kind
// Acquire creates.
func listJIT(ctx context.Context, cs kubernetes.Interface) ([]found, error) {
	opts := metav1.ListOptions{LabelSelector: LabelJIT + "=true"}
	var out []found
	add := func(kind string, m metav1.Object) {
		out = append(out, found{ref: respond.ObjectRef{Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName(), UID: string(m.GetUID())}, meta: m})
	}
	sas, err := cs.CoreV1().ServiceAccounts("").List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list service accounts: %w", err)
	}
	for i := range sas.Items {
		add("ServiceAccount", &sas.Items[i])
	}
	roles, err := cs.RbacV1().Roles("").List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	for i := range roles.Items {
		add("Role", &roles.Items[i])
	}
	rbs, err := cs.RbacV1().RoleBindings("").List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list role bindings: %w", err)
	}
	for i := range rbs.Items {
		add("RoleBinding", &rbs.Items[i])
	}
	crs, err := cs.RbacV1().ClusterRoles().List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list cluster roles: %w", err)
	}
	for i := range crs.Items {
		add("ClusterRole", &crs.Items[i])
	}
	crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list cluster role bindings: %w", err)
	}
	for i := range crbs.Items {
		add("ClusterRoleBinding", &crbs.Items[i])
	}
	return out, nil
}
