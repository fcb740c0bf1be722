package jit

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes"
)

// Issue acquires a lease of MaxTTL for one response and returns its client
// and a release that reports what it removed: the form the response
// engine asks of a credentials issuer.
func (is *Issuer) Issue(ctx context.Context, incident int64, namespace string, rules []rbacv1.PolicyRule) (kubernetes.Interface, func(context.Context) (string, error), error) {
	l, err := is.Acquire(ctx, incident, namespace, rules, MaxTTL)
	if err != nil {
		return nil, nil, err
	}
	return l.Client(), func(ctx context.Context) (string, error) {
		rep, err := l.Release(ctx)
		return rep.String(), err
	}, nil
}

// String summarises a report: what was deleted and what remains.
func (r Report) String() string {
	s := fmt.Sprintf("%d deleted", len(r.Deleted))
	for i, o := range r.Deleted {
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		s += sep + o.String()
	}
	if len(r.Deleted) > 0 {
		s += ")"
	}
	return s + fmt.Sprintf(", %d remaining", len(r.Remaining))
}
