// Package playbook is quell's response engine: for every stored alert it
// runs the built-in playbook on the alert's incident — validate, enrich,
// decide, act, verify, clean up — recording each step in the incident's
// timeline, and it restores what it did on demand.
//
// Contract:
//   - Committed (the server's sink) only queues; a full queue drops the
//     alert and counts it, never blocking ingest.
//   - One incident is handled by one worker at a time; steps are
//     idempotent: an action already applied for an incident (a key in the
//     store's Once table) is not applied again, also across restarts.
//   - Mode observe records what it would do and changes nothing; dry-run
//     sends every write with server-side dryRun=All; enforce acts.
//   - Protected namespaces, objects labelled quell.dev/protected=true and
//     informational alerts are never acted on; destructive actions are
//     rate limited globally.
//
// Start(ctx) runs the workers until ctx is done.
package playbook

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/notify"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/respond"
)

// LabelProtected on a pod or workload keeps quell's hands off it.
const LabelProtected = "quell.dev/protected"

// Options configure an Engine. Store, Client and Log are required.
type Options struct {
	Store    incident.Store
	Client   kubernetes.Interface
	Resolver *owner.Resolver // nil: one over Client
	Registry *respond.Registry
	Log      *slog.Logger
	Mode     string // config.ModeObserve (default), ModeDryRun, ModeEnforce
	// Protected namespaces are never acted on; default kube-system,
	// kube-public, kube-node-lease.
	Protected []string
	// ActionsPerMinute caps destructive actions across all incidents;
	// default 60.
	ActionsPerMinute int
	// VerifyHold is how long the contained state must hold; default 1s.
	VerifyHold time.Duration
	Workers    int // default 8
	QueueLen   int // default 4096
	Notify     *notify.Dispatcher
	Registerer prometheus.Registerer
}

// Engine runs responses.
type Engine struct {
	opts    Options
	queue   chan job
	limiter *rate.Limiter
	locks   sync.Map // incident id -> *sync.Mutex
	m       *metrics
}

type job struct {
	alert    incident.Alert
	incident int64
}

// New builds an Engine.
func New(opts Options) *Engine {
	if opts.Resolver == nil {
		opts.Resolver = owner.NewResolver(opts.Client)
	}
	if opts.Registry == nil {
		opts.Registry = respond.DefaultRegistry()
	}
	if opts.Mode == "" {
		opts.Mode = config.ModeObserve
	}
	if opts.Protected == nil {
		opts.Protected = []string{"kube-system", "kube-public", "kube-node-lease"}
	}
	if opts.ActionsPerMinute <= 0 {
		opts.ActionsPerMinute = 60
	}
	if opts.VerifyHold <= 0 {
		opts.VerifyHold = time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 4096
	}
	return &Engine{
		opts:    opts,
		queue:   make(chan job, opts.QueueLen),
		limiter: rate.NewLimiter(rate.Limit(float64(opts.ActionsPerMinute)/60), opts.ActionsPerMinute),
		m:       newMetrics(opts.Registerer),
	}
}

// Committed implements the server's Sink: alerts that were recorded (not
// duplicates) are queued for a response.
func (e *Engine) Committed(alerts []incident.Alert, results []incident.IngestResult) {
	for i, r := range results {
		if r.Deduplicated {
			continue
		}
		select {
		case e.queue <- job{alert: alerts[i], incident: r.IncidentID}:
		default:
			e.m.dropped.Inc()
			e.opts.Log.Warn("response queue full; alert not handled", "incident", r.IncidentID, "rule", alerts[i].Rule)
		}
	}
}

// Start runs the workers until ctx is done.
func (e *Engine) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range e.opts.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-e.queue:
					e.run(ctx, j)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// lock serialises the handling of one incident.
func (e *Engine) lock(id int64) func() {
	mu, _ := e.locks.LoadOrStore(id, &sync.Mutex{})
	m := mu.(*sync.Mutex)
	m.Lock()
	return m.Unlock
}

type metrics struct {
	dropped prometheus.Counter
	actions *prometheus.CounterVec
	latency prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "quell_response_queue_dropped_total", Help: "Alerts not handled because the response queue was full."}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quell_actions_total", Help: "Response actions by type and result."}, []string{"action", "result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "quell_alert_to_contained_seconds", Help: "Alert time to verified containment.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
	}
	if reg != nil {
		reg.MustRegister(m.dropped, m.actions, m.latency)
	}
	return m
}
