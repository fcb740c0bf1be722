package jit

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/respond"
)

// Lease is one response's credentials, from Acquire to Release.
type Lease struct {
	// Incident the credentials were issued for.
	Incident int64
	// Namespace and Name of the ServiceAccount (the roles and bindings
	// share the name).
	Namespace, Name string

	standing kubernetes.Interface
	scoped   kubernetes.Interface
	log      *slog.Logger
	expires  time.Time
	waited   time.Duration
	objects  []respond.ObjectRef // in creation order, with UIDs

	mu       sync.Mutex
	released bool
}

// Client acts with the lease's token only; the API server refuses it
// anything outside the granted rules, and everything once the lease is
// released.
func (l *Lease) Client() kubernetes.Interface { return l.scoped }

// Expires is when the lease ends: its TTL after Acquire began, or the
// token's expiry when sooner. Sweep deletes the objects of a lease past
// it.
func (l *Lease) Expires() time.Time { return l.expires }

// Waited is how long Acquire waited for the API server to put the rules
// in force after the token was issued.
func (l *Lease) Waited() time.Duration { return l.waited }

// Objects lists what Acquire created, in creation order.
func (l *Lease) Objects() []respond.ObjectRef { return slices.Clone(l.objects) }

// Release deletes the lease's objects (bindings first, the ServiceAccount
// last) and reads them back; the report's Remaining is empty when all are
// gone, and an error wrapping ErrRemaining says otherwise. Releasing again
// deletes nothing and verifies again.
func (l *Lease) Release(ctx context.Context) (Report, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := time.Now()
	rep, err := remove(ctx, l.standing, l.objects)
	l.log.Info("jit credentials released", "incident", l.Incident, "namespace", l.Namespace, "name", l.Name,
		"deleted", len(rep.Deleted), "remaining", len(rep.Remaining), "again", l.released, "took", time.Since(start))
	if err != nil {
		return rep, fmt.Errorf("release credentials %s/%s: %w", l.Namespace, l.Name, err)
	}
	l.released = true
	return rep, nil
}
