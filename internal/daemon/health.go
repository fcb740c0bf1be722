package daemon

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// health watches whether one cluster's API server answers: a probe now
// and every interval, each bounded by timeout. A cluster is up once a
// probe succeeded and until one fails; before the first it is down.
// Each change is logged once, and a change to up is signalled on backUp
// (buffered: a signal waits for its reader). Safe for concurrent use.
type health struct {
	cluster           string
	probe             func(ctx context.Context) error
	interval, timeout time.Duration
	log               *slog.Logger

	up     atomic.Bool
	probed atomic.Bool // a probe has answered
	everUp atomic.Bool // one has succeeded
	backUp chan struct{}
}

func newHealth(cluster string, probe func(context.Context) error, log *slog.Logger) *health {
	return &health{cluster: cluster, probe: probe, interval: 3 * time.Second, timeout: 3 * time.Second, log: log, backUp: make(chan struct{}, 1)}
}

// Up reports whether the last probe succeeded.
func (h *health) Up() bool { return h.up.Load() }

// Start probes until ctx is done.
func (h *health) Start(ctx context.Context) {
	tick := time.NewTicker(h.interval)
	defer tick.Stop()
	for {
		h.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// check probes once and records the outcome.
func (h *health) check(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, h.timeout)
	err := h.probe(pctx)
	cancel()
	if ctx.Err() != nil {
		return // stopping: the outcome says nothing of the cluster
	}
	first := !h.probed.Swap(true)
	was := h.up.Swap(err == nil)
	switch {
	case err == nil && (first || !was):
		if h.everUp.Swap(true) {
			h.log.Info("cluster reachable again", "cluster", h.cluster)
		} else {
			h.log.Info("cluster reachable", "cluster", h.cluster)
		}
		select {
		case h.backUp <- struct{}{}:
		default: // one already waits
		}
	case err != nil && (first || was):
		h.log.Warn("cluster unreachable: its alerts are recorded, nothing is acted on until it answers", "cluster", h.cluster, "err", err)
	}
}
