package jit

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/respond"
)

// MaxTTL is the longest lease, and the validity of every token: the API
// server issues no token shorter than 10 minutes, and a lease shorter than
// that is ended early by Release (or Sweep) deleting the ServiceAccount.
const MaxTTL = 10 * time.Minute

// Options tune an Issuer; zero values mean the defaults.
type Options struct {
	// HomeNamespace holds the ServiceAccount of a lease with only
	// cluster-scoped rules (a node target has no namespace).
	HomeNamespace string
	// FieldManager names quell in managedFields; default "quell".
	FieldManager string
	// ReadyTimeout bounds the wait for the rules to be in force; default
	// 10s.
	ReadyTimeout time.Duration
	// Log receives a record of each lease; nil discards.
	Log *slog.Logger
}

// Issuer creates leases with quell's standing identity. It is safe for
// concurrent use.
type Issuer struct {
	client kubernetes.Interface
	base   *rest.Config
	opts   Options
}

// NewIssuer returns an issuer creating credentials with client and
// building lease clients from base's host and TLS settings.
func NewIssuer(client kubernetes.Interface, base *rest.Config, opts Options) *Issuer {
	if opts.FieldManager == "" {
		opts.FieldManager = "quell"
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Issuer{client: client, base: base, opts: opts}
}

// tokenConfig is base with every credential replaced by token.
func tokenConfig(base *rest.Config, token string) *rest.Config {
	cfg := rest.AnonymousClientConfig(base) // host, CA, server name, limits; no credentials
	cfg.BearerToken = token
	return cfg
}

// Acquire creates credentials for incident granting exactly rules (in
// namespace for the namespaced ones) for ttl (0 or more than MaxTTL means
// MaxTTL), waits until they are in force, and returns the lease. On error
// nothing it created is left.
func (is *Issuer) Acquire(ctx context.Context, incident int64, namespace string, rules []rbacv1.PolicyRule, ttl time.Duration) (*Lease, error) {
	start := time.Now()
	if ttl <= 0 || ttl > MaxTTL {
		ttl = MaxTTL
	}
	namespaced, cluster := respond.SplitRules(rules)
	if err := checkRules(namespace, namespaced, cluster); err != nil {
		return nil, fmt.Errorf("acquire credentials for incident %d: %w", incident, err)
	}
	home := namespace
	if len(namespaced) == 0 && home == "" {
		home = is.opts.HomeNamespace
	}
	if home == "" {
		return nil, fmt.Errorf("acquire credentials for incident %d: no namespace for the service account", incident)
	}
	name := newName(incident)
	l := &Lease{Incident: incident, Namespace: home, Name: name, standing: is.client, log: is.opts.Log,
		expires: start.Add(ttl)}
	if err := is.build(ctx, l, namespaced, cluster); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		rep, rerr := remove(rctx, is.client, rollbackRefs(l, namespaced, cluster))
		is.opts.Log.Warn("jit credentials rolled back", "incident", incident, "name", name, "error", err,
			"deleted", len(rep.Deleted), "remaining", len(rep.Remaining), "rollback_error", rerr)
		if rerr != nil {
			return nil, fmt.Errorf("acquire credentials for incident %d: %w (rollback: %w)", incident, err, rerr)
		}
		return nil, fmt.Errorf("acquire credentials for incident %d: %w", incident, err)
	}
	is.opts.Log.Info("jit credentials acquired", "incident", incident, "namespace", home, "name", name,
		"rules", len(rules), "expires", l.expires, "waited", l.waited, "took", time.Since(start))
	return l, nil
}

// build creates l's objects and token, recording each object in l as soon
// as it exists, and waits until the rules are in force. Requests that do
// not depend on each other are sent together: the ServiceAccount and the
// roles first, then the bindings (the API server checks that the binder
// holds the rules of the role, which must exist) and the token (of the
// ServiceAccount, which must exist).
func (is *Issuer) build(ctx context.Context, l *Lease, namespaced, cluster []rbacv1.PolicyRule) error {
	fm := is.opts.FieldManager
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: l.Name, Namespace: l.Namespace}
	var mu sync.Mutex
	expires := l.expires
	create := func(kind, ns string, rules []rbacv1.PolicyRule) func() error {
		return func() error {
			ref := respond.ObjectRef{Kind: kind, Namespace: ns, Name: l.Name}
			ref, err := createObject(ctx, is.client, fm, ref, objectMeta(l.Name, ns, l.Incident, expires), rules, subject)
			if err != nil {
				return err
			}
			mu.Lock()
			l.objects = append(l.objects, ref)
			mu.Unlock()
			return nil
		}
	}
	roles, bindings := []func() error{create("ServiceAccount", l.Namespace, nil)}, []func() error{}
	if len(namespaced) > 0 {
		roles = append(roles, create("Role", l.Namespace, namespaced))
		bindings = append(bindings, create("RoleBinding", l.Namespace, nil))
	}
	if len(cluster) > 0 {
		roles = append(roles, create("ClusterRole", "", cluster))
		bindings = append(bindings, create("ClusterRoleBinding", "", nil))
	}
	if err := together(roles...); err != nil {
		return err
	}
	var (
		token    string
		tokenExp time.Time
	)
	err := together(append(bindings, func() error {
		tr, err := is.client.CoreV1().ServiceAccounts(l.Namespace).CreateToken(ctx, l.Name, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(MaxTTL / time.Second))},
		}, metav1.CreateOptions{FieldManager: fm})
		if err != nil {
			return fmt.Errorf("request token for service account %s/%s: %w", l.Namespace, l.Name, err)
		}
		token, tokenExp = tr.Status.Token, tr.Status.ExpirationTimestamp.Time
		return nil
	})...)
	slices.SortFunc(l.objects, func(a, b respond.ObjectRef) int {
		return cmp.Compare(slices.Index(Kinds, a.Kind), slices.Index(Kinds, b.Kind))
	})
	if err != nil {
		return err
	}
	if tokenExp.Before(l.expires) {
		l.expires = tokenExp
	}
	if l.scoped, err = kubernetes.NewForConfig(tokenConfig(is.base, token)); err != nil {
		return fmt.Errorf("client for service account %s/%s: %w", l.Namespace, l.Name, err)
	}
	waitStart := time.Now()
	if err := waitInForce(ctx, l.scoped, l.Namespace, namespaced, cluster, is.opts.ReadyTimeout); err != nil {
		return err
	}
	l.waited = time.Since(waitStart)
	return nil
}

// rollbackRefs are the objects to delete after a failed build: those
// created, by UID, and by name those it may have created without knowing
// (a create whose response was lost); the names are the lease's own.
func rollbackRefs(l *Lease, namespaced, cluster []rbacv1.PolicyRule) []respond.ObjectRef {
	refs := slices.Clone(l.objects)
	planned := []respond.ObjectRef{{Kind: "ServiceAccount", Namespace: l.Namespace, Name: l.Name}}
	if len(namespaced) > 0 {
		planned = append(planned, respond.ObjectRef{Kind: "Role", Namespace: l.Namespace, Name: l.Name},
			respond.ObjectRef{Kind: "RoleBinding", Namespace: l.Namespace, Name: l.Name})
	}
	if len(cluster) > 0 {
		planned = append(planned, respond.ObjectRef{Kind: "ClusterRole", Name: l.Name}, respond.ObjectRef{Kind: "ClusterRoleBinding", Name: l.Name})
	}
	for _, p := range planned {
		if !slices.ContainsFunc(refs, func(r respond.ObjectRef) bool { return r.Kind == p.Kind }) {
			refs = append(refs, p)
		}
	}
	return refs
}

// together runs steps concurrently and returns the first error in step
// order.
func together(steps ...func() error) error {
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, step := range steps {
		wg.Go(func() { errs[i] = step() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkRules refuses what Acquire cannot grant, before anything is
// created; the API server validates the rest.
func checkRules(namespace string, namespaced, cluster []rbacv1.PolicyRule) error {
	if len(namespaced) == 0 && len(cluster) == 0 {
		return fmt.Errorf("no rules to grant")
	}
	for _, r := range slices.Concat(namespaced, cluster) {
		if len(r.NonResourceURLs) > 0 {
			return fmt.Errorf("rule %v: non-resource URLs are not granted", r)
		}
	}
	if len(namespaced) > 0 && namespace == "" {
		return fmt.Errorf("namespaced rules need a namespace")
	}
	if strings.ContainsAny(namespace, "/ ") {
		return fmt.Errorf("invalid namespace %q", namespace)
	}
	return nil
}
