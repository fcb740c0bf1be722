package playbook

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/respond"
)

// resumeAll queues every incident of the engine's cluster a previous run
// may have left unfinished: acting ones whatever their age, open ones seen
// within the window (their alerts may have been queued in memory only, or
// await approval).
func (e *Engine) resumeAll(ctx context.Context) error {
	n := 0
	for _, f := range []incident.Filter{
		{States: []incident.State{incident.StateActing}, Cluster: e.opts.Cluster},
		{States: []incident.State{incident.StateOpen}, Since: time.Now().Add(-e.opts.Window), Cluster: e.opts.Cluster},
	} {
		err := e.eachIncident(ctx, f, func(inc *incident.Incident) {
			e.enqueue(job{incident: inc.ID, resume: true})
			n++
		})
		if err != nil {
			return fmt.Errorf("list unfinished incidents: %w", err)
		}
	}
	if n > 0 {
		e.opts.Log.Info("resuming unfinished responses", "incidents", n)
	}
	return nil
}

// eachIncident calls fn for every incident f selects, a page of 500 at a
// time.
func (e *Engine) eachIncident(ctx context.Context, f incident.Filter, fn func(*incident.Incident)) error {
	f.Limit = 500
	for {
		page, err := e.opts.Store.List(ctx, f)
		if err != nil {
			return err
		}
		for i := range page {
			fn(&page[i])
		}
		if len(page) < f.Limit {
			return nil
		}
		f.AfterID = page[len(page)-1].ID
	}
}

// reload re-reads the playbook files every ReloadInterval and replaces the
// policy when their content changed and validates; an invalid change is
// logged and the running policy kept.
func (e *Engine) reload(ctx context.Context) {
	var last [sha256.Size]byte
	if sum, err := e.sum(); err == nil {
		last = sum
	}
	tick := time.NewTicker(e.opts.ReloadInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sum, err := e.sum()
		if err != nil || sum == last {
			continue
		}
		last = sum
		p, err := LoadPolicy(e.opts.Registry, e.opts.PolicyFiles...)
		if err != nil {
			e.m.reloads.WithLabelValues("invalid").Inc()
			e.opts.Log.Error("playbooks not reloaded; the running ones stay", "err", err)
			continue
		}
		e.SetPolicy(p)
		e.m.reloads.WithLabelValues("applied").Inc()
		e.opts.Log.Info("playbooks reloaded", "playbooks", len(p.Playbooks), "allowlist", len(p.Allow))
	}
}

// sum digests the playbook files' contents.
func (e *Engine) sum() ([sha256.Size]byte, error) {
	h := sha256.New()
	for _, f := range e.opts.PolicyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return [sha256.Size]byte(h.Sum(nil)), nil
}

// jit obtains just-in-time credentials for the plan's actions on t, and a
// release that records the removal of every grant in the timeline.
func (e *Engine) jit(ctx context.Context, id int64, t respond.Target, plan []Step) (kubernetes.Interface, func(), error) {
	if e.opts.Issuer == nil {
		return nil, nil, errors.New("credentials mode jit needs an issuer (quell runs without one)")
	}
	var rules []rbacv1.PolicyRule
	for _, st := range plan {
		if a, ok := e.opts.Registry.Get(st.Action); ok {
			rules = append(rules, a.Rules(t)...)
		}
	}
	started := time.Now()
	client, release, err := e.opts.Issuer.Issue(ctx, id, t.Namespace, rules)
	if err != nil {
		return nil, nil, err
	}
	_, _ = e.append(ctx, id, incident.EntryEnrichment, fmt.Sprintf("just-in-time credentials granted in %s: %d rules", time.Since(started).Round(time.Millisecond), len(rules)), rules)
	return client, func() {
		// The grant is removed even when the response's context is done.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		report, err := release(rctx)
		if err != nil {
			_, _ = e.append(rctx, id, incident.EntryCleanup, "just-in-time credentials not fully removed: "+err.Error(), nil)
			e.opts.Log.Error("release just-in-time credentials", "incident", id, "err", err)
			return
		}
		_, _ = e.append(rctx, id, incident.EntryCleanup, "just-in-time credentials removed and verified gone: "+report, nil)
	}, nil
}
