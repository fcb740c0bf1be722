package playbook

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"quell.dev/quell/internal/incident"
)

// ErrNotLeader is returned by requests that act (restore, approve,
// manual responses) to an engine standing by: another replica responds.
var ErrNotLeader = errors.New("this replica does not lead the responses on this cluster")

// followOverlap is how far back each store poll looks again: transactions
// that committed after the previous poll with an earlier timestamp, and
// the clocks of replicas writing the same store.
const followOverlap = 5 * time.Second

// tracker remembers, per incident, the jobs queued and not yet run and
// how many alerts the engine last saw, so the store poll queues only
// incidents with alerts nobody here handled: those another replica
// stored.
type tracker struct {
	queued  sync.Map // incident id -> *atomic.Int32
	handled sync.Map // incident id -> handledMark
}

type handledMark struct {
	alerts int
	at     time.Time
}

func (t *tracker) queue(id int64, delta int32) {
	c, _ := t.queued.LoadOrStore(id, new(atomic.Int32))
	if c.(*atomic.Int32).Add(delta) <= 0 {
		t.queued.Delete(id)
	}
}

func (t *tracker) busy(id int64) bool {
	c, ok := t.queued.Load(id)
	return ok && c.(*atomic.Int32).Load() > 0
}

// saw records that a response read inc with its alert count.
func (t *tracker) saw(inc *incident.Incident) {
	if inc.State.Final() {
		t.handled.Delete(inc.ID)
		return
	}
	t.handled.Store(inc.ID, handledMark{alerts: inc.AlertCount, at: time.Now()})
}

// news says whether inc has alerts no response here read yet.
func (t *tracker) news(inc *incident.Incident) bool {
	if t.busy(inc.ID) {
		return false
	}
	m, ok := t.handled.Load(inc.ID)
	return !ok || m.(handledMark).alerts < inc.AlertCount
}

// prune forgets incidents not read for longer than age.
func (t *tracker) prune(age time.Duration) {
	cut := time.Now().Add(-age)
	t.handled.Range(func(k, v any) bool {
		if v.(handledMark).at.Before(cut) {
			t.handled.Delete(k)
		}
		return true
	})
}

// follow polls the store every PollInterval while the engine runs and
// queues the incidents of its cluster not closed that have alerts this
// engine has not read: stored by another replica, or by this one while it
// stood by.
func (e *Engine) follow(ctx context.Context) {
	tick := time.NewTicker(e.opts.PollInterval)
	defer tick.Stop()
	// Every state an alert may still be acted on in: a contained
	// incident's new alert may escalate, a failed one's may act again.
	var states []incident.State
	for _, st := range incident.States() {
		if !st.Final() {
			states = append(states, st)
		}
	}
	since := time.Now().Add(-followOverlap)
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		if err := e.poll(ctx, states, since); err != nil {
			if ctx.Err() == nil {
				e.opts.Log.Warn("read the store for other replicas' alerts", "err", err)
			}
			continue // the same window again next time
		}
		since = now.Add(-followOverlap)
		if n%1000 == 999 {
			e.tracker.prune(2 * e.opts.Window)
		}
	}
}

// poll queues the incidents in states changed since with alerts not
// read here.
func (e *Engine) poll(ctx context.Context, states []incident.State, since time.Time) error {
	f := incident.Filter{States: states, UpdatedSince: since, Cluster: e.opts.Cluster}
	return e.eachIncident(ctx, f, func(inc *incident.Incident) {
		if e.tracker.news(inc) {
			e.m.followed.Inc()
			e.enqueue(job{incident: inc.ID, resume: true})
		}
	})
}

// acting reports whether requests that act may run here: always, unless
// the engine stands by (HA) and does not run now.
func (e *Engine) acting() error {
	if e.opts.Standby && !e.running.Load() {
		return ErrNotLeader
	}
	return nil
}
