package playbook

import (
	"context"
	"errors"
	"fmt"
)

// ErrOtherCluster is returned for an incident of a cluster other than
// the engine's: each engine acts on its own cluster only.
var ErrOtherCluster = errors.New("incident of another cluster")

// own checks that incident id belongs to the engine's cluster (any, for
// an engine without Options.Cluster).
func (e *Engine) own(ctx context.Context, id int64) error {
	if e.opts.Cluster == "" {
		return nil
	}
	inc, err := e.opts.Store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("get incident: %w", err)
	}
	return e.ownCluster(id, inc.Target.Cluster)
}

// ownCluster is own for an incident already read.
func (e *Engine) ownCluster(id int64, cluster string) error {
	if e.opts.Cluster == "" || cluster == e.opts.Cluster {
		return nil
	}
	return fmt.Errorf("incident %d is of cluster %s, this engine acts on %s: %w", id, cluster, e.opts.Cluster, ErrOtherCluster)
}

// unreachable reports whether Options.Reachable says the cluster cannot
// be reached now.
func (e *Engine) unreachable() bool {
	return e.opts.Reachable != nil && !e.opts.Reachable()
}

// unreachableReason is the decision recorded while the cluster cannot be
// reached: nothing is done and the incident stays open for Resume.
func (e *Engine) unreachableReason() string {
	c := e.opts.Cluster
	if c == "" {
		c = "the cluster"
	} else {
		c = "cluster " + c
	}
	return "no action yet: " + c + " is unreachable; the response resumes when it is reachable again"
}

// Resume queues again what is unfinished in the engine's cluster, as
// Start does: acting incidents, and open ones seen within the window
// (those an unreachable cluster left waiting, say). Incidents handled
// already change nothing: every step is idempotent.
func (e *Engine) Resume(ctx context.Context) error { return e.resumeAll(ctx) }
