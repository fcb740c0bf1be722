package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"quell.dev/quell/internal/incident"
)

// errOverloaded is returned when the ingest queue is full.
var errOverloaded = errors.New("ingest queue full")

// batch is one request's alerts waiting for the group commit.
type batch struct {
	alerts []incident.Alert
	done   chan batchResult
}

type batchResult struct {
	results []incident.IngestResult
	err     error
}

// batcher group-commits alerts: requests queue their alerts; one goroutine
// takes everything queued (up to maxAlerts), stores it in one transaction
// and then answers every request. A request is answered only after its
// alerts are committed, so a 2xx still means durably stored, while the
// commit cost is shared.
type batcher struct {
	store     incident.Store
	window    time.Duration
	queue     chan *batch
	maxAlerts int
	log       *slog.Logger
	onCommit  func(alerts []incident.Alert, results []incident.IngestResult, took time.Duration)
}

func newBatcher(store incident.Store, window time.Duration, queueLen, maxAlerts int, log *slog.Logger) *batcher {
	return &batcher{store: store, window: window, queue: make(chan *batch, queueLen), maxAlerts: maxAlerts, log: log}
}

// submit queues alerts and waits for their commit. It never blocks on a
// full queue: it fails with errOverloaded instead.
func (b *batcher) submit(ctx context.Context, alerts []incident.Alert) ([]incident.IngestResult, error) {
	req := &batch{alerts: alerts, done: make(chan batchResult, 1)}
	select {
	case b.queue <- req:
	default:
		return nil, errOverloaded
	}
	select {
	case r := <-req.done:
		return r.results, r.err
	case <-ctx.Done():
		// The alerts may still commit; the caller gets no 2xx and may retry,
		// and the store counts the retry as a duplicate.
		return nil, ctx.Err()
	}
}

// Start commits batches until ctx is done, then drains what is queued.
func (b *batcher) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			b.drain()
			return nil
		case first := <-b.queue:
			b.commit(b.collect(first))
		}
	}
}

// collect takes first plus whatever else is already queued, up to maxAlerts.
func (b *batcher) collect(first *batch) []*batch {
	group := []*batch{first}
	n := len(first.alerts)
	for n < b.maxAlerts {
		select {
		case next := <-b.queue:
			group = append(group, next)
			n += len(next.alerts)
		default:
			return group
		}
	}
	return group
}

func (b *batcher) drain() {
	for {
		select {
		case first := <-b.queue:
			b.commit(b.collect(first))
		default:
			return
		}
	}
}

func (b *batcher) commit(group []*batch) {
	all := group[0].alerts
	if len(group) > 1 {
		n := 0
		for _, g := range group {
			n += len(g.alerts)
		}
		all = make([]incident.Alert, 0, n)
		for _, g := range group {
			all = append(all, g.alerts...)
		}
	}
	start := time.Now()
	// The commit must finish even while the server shuts down: the requests
	// in it are waiting for their answer.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	results, err := b.store.Ingest(ctx, all, b.window)
	cancel()
	took := time.Since(start)
	if err != nil {
		b.log.Error("ingest commit failed", "alerts", len(all), "err", err)
	} else if b.onCommit != nil {
		b.onCommit(all, results, took)
	}
	off := 0
	for _, g := range group {
		var r batchResult
		if err != nil {
			r.err = err
		} else {
			r.results = results[off : off+len(g.alerts)]
		}
		off += len(g.alerts)
		g.done <- r
	}
}
