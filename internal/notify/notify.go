// Package notify tells people and systems about incidents: a Slack incoming
// webhook, a generic JSON webhook, and a Kubernetes Event on the affected
// object.
//
// A Dispatcher gives every notifier its own bounded queue and worker;
// Enqueue never blocks (a full queue drops the message and counts it), and
// each delivery is retried with exponential backoff. A failing or slow
// receiver therefore never slows ingest or the other receivers.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"quell.dev/quell/internal/incident"
)

// Kind is what happened to an incident.
type Kind string

// Message kinds.
const (
	Opened          Kind = "opened"
	Contained       Kind = "contained"
	Failed          Kind = "failed"
	ApprovalPending Kind = "approval_pending"
)

// Message is one notification.
type Message struct {
	Kind     Kind              `json:"kind"`
	Incident incident.Incident `json:"incident"`
	Detail   string            `json:"detail,omitempty"` // e.g. why a response failed
	URL      string            `json:"url,omitempty"`    // link to the incident in the console
}

// Notifier delivers one message; it is called from one goroutine at a time.
type Notifier interface {
	Name() string
	Notify(ctx context.Context, m Message) error
}

// Filter is a Notifier that takes only some messages (those of one
// cluster, say); the Dispatcher queues it the others not at all.
type Filter interface {
	Wants(m Message) bool
}

// Permanent wraps an error that retrying cannot fix (a 4xx from a receiver).
type Permanent struct{ Err error }

func (p *Permanent) Error() string { return p.Err.Error() }
func (p *Permanent) Unwrap() error { return p.Err }

// Dispatcher fans messages out to notifiers.
type Dispatcher struct {
	log      *slog.Logger
	queues   []chan Message
	targets  []Notifier
	attempts int
	backoff  time.Duration
	sent     *prometheus.CounterVec
}

// Options configure a Dispatcher.
type Options struct {
	QueueLen int           // per notifier; default 256
	Attempts int           // per message; default 5
	Backoff  time.Duration // first retry delay, doubled each time; default 500ms
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// NewDispatcher builds a dispatcher for the notifiers.
func NewDispatcher(opts Options, notifiers ...Notifier) *Dispatcher {
	if opts.QueueLen <= 0 {
		opts.QueueLen = 256
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{log: opts.Log, targets: notifiers, attempts: opts.Attempts, backoff: opts.Backoff,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quell_notifications_total", Help: "Notifications by receiver and result (sent, failed, dropped).",
		}, []string{"receiver", "result"})}
	if opts.Registry != nil {
		opts.Registry.MustRegister(d.sent)
	}
	for range notifiers {
		d.queues = append(d.queues, make(chan Message, opts.QueueLen))
	}
	return d
}

// Enqueue queues m for every notifier that wants it (see Filter) without
// blocking.
func (d *Dispatcher) Enqueue(m Message) {
	for i, q := range d.queues {
		if f, ok := d.targets[i].(Filter); ok && !f.Wants(m) {
			continue
		}
		select {
		case q <- m:
		default:
			d.sent.WithLabelValues(d.targets[i].Name(), "dropped").Inc()
			d.log.Warn("notification dropped: queue full", "receiver", d.targets[i].Name(), "incident", m.Incident.ID)
		}
	}
}

// Start delivers until ctx is done.
func (d *Dispatcher) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range d.targets {
		wg.Go(func() { d.worker(ctx, d.targets[i], d.queues[i]) })
	}
	wg.Wait()
	return nil
}

func (d *Dispatcher) worker(ctx context.Context, n Notifier, q <-chan Message) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-q:
			err := d.deliver(ctx, n, m)
			result := "sent"
			if err != nil {
				result = "failed"
				d.log.Warn("notification failed", "receiver", n.Name(), "incident", m.Incident.ID, "kind", m.Kind, "err", err)
			}
			d.sent.WithLabelValues(n.Name(), result).Inc()
		}
	}
}

func (d *Dispatcher) deliver(ctx context.Context, n Notifier, m Message) error {
	wait := d.backoff
	var err error
	for attempt := 1; attempt <= d.attempts; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = n.Notify(actx, m)
		cancel()
		var perm *Permanent
		if err == nil || errors.As(err, &perm) {
			return err
		}
		if attempt == d.attempts {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	return fmt.Errorf("after %d attempts: %w", d.attempts, err)
}
