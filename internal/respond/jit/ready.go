package jit

import (
	"context"
	"fmt"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// pollInterval is how often waitInForce asks the API server again.
const pollInterval = 5 * time.Millisecond

// waitInForce waits until the API server allows the token of cs the first
// rule of each role. The authorizer sees a Role's rules together (they are
// one object), so one allowed rule per role and binding means all of
// them. A token the authenticator does not know yet (401) is retried too.
func waitInForce(ctx context.Context, cs kubernetes.Interface, namespace string, namespaced, cluster []rbacv1.PolicyRule, timeout time.Duration) error {
	var checks []*authorizationv1.ResourceAttributes
	if len(namespaced) > 0 {
		checks = append(checks, attributes(namespaced[0], namespace))
	}
	if len(cluster) > 0 {
		checks = append(checks, attributes(cluster[0], ""))
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, attrs := range checks {
		for {
			allowed, err := selfAllowed(ctx, cs, attrs)
			if err != nil && !apierrors.IsUnauthorized(err) {
				return fmt.Errorf("check access %s %s: %w", attrs.Verb, attrs.Resource, err)
			}
			if allowed {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("rules not in force after %s (%s %s): %w", timeout, attrs.Verb, attrs.Resource, context.Cause(ctx))
			case <-time.After(pollInterval):
			}
		}
	}
	return nil
}

func selfAllowed(ctx context.Context, cs kubernetes.Interface, attrs *authorizationv1.ResourceAttributes) (bool, error) {
	rev, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return rev.Status.Allowed, nil
}

// attributes is the access r grants first: its first verb, group,
// resource (split from its subresource) and name.
func attributes(r rbacv1.PolicyRule, namespace string) *authorizationv1.ResourceAttributes {
	a := &authorizationv1.ResourceAttributes{Namespace: namespace}
	if len(r.Verbs) > 0 {
		a.Verb = r.Verbs[0]
	}
	if len(r.APIGroups) > 0 {
		a.Group = r.APIGroups[0]
	}
	if len(r.Resources) > 0 {
		a.Resource, a.Subresource, _ = strings.Cut(r.Resources[0], "/")
	}
	if len(r.ResourceNames) > 0 {
		a.Name = r.ResourceNames[0]
	}
	return a
}
