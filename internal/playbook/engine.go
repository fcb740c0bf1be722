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
//     informational alerts are never acted on, whatever a playbook says;
//     destructive actions are rate limited globally and per namespace, and
//     suspensions beyond a per-namespace hourly limit wait for approval.
//   - Alerts are handled by the first user playbook (Policy) that matches,
//     else by the built-in one; an allowlisted alert is never acted on.
//     A step needing approval stops the run until Approve; auto-after
//     approvals act at their deadline unless vetoed.
//   - Start resumes what a previous run left unfinished: open and acting
//     incidents are handled again from their timelines, and an action
//     whose key is recorded without an outcome is applied again
//     (idempotently) rather than skipped or doubled.
//
// Start(ctx) runs the workers until ctx is done.
package playbook

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/notify"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/respond"
)

// Investigator builds a pod's investigation report; see
// investigate.Investigator.
type Investigator interface {
	Pod(ctx context.Context, ns, name string) (*investigate.Report, error)
}

// LabelProtected on a pod or workload keeps quell's hands off it.
const LabelProtected = "quell.dev/protected"

// Options configure an Engine. Store, Client and Log are required.
type Options struct {
	Store    incident.Store
	Client   kubernetes.Interface
	Resolver *owner.Resolver // nil: one over Client
	// Investigator, when not nil, makes the enrich step store the pod's
	// investigation report in the incident.
	Investigator Investigator
	Registry     *respond.Registry
	Log          *slog.Logger
	Mode         string // config.ModeObserve (default), ModeDryRun, ModeEnforce
	// Protected namespaces are never acted on; default kube-system,
	// kube-public, kube-node-lease.
	Protected []string
	// ActionsPerMinute caps destructive actions across all incidents;
	// default 60.
	ActionsPerMinute int
	// VerifyHold is how long the contained state must hold; default 1s.
	VerifyHold time.Duration
	// GracePeriod for pod deletions: nil uses the pod's own, 0 forces.
	GracePeriod *time.Duration
	// Workers handle alerts concurrently; a response mostly waits on the
	// API server and the store, so there are many. Default 64.
	Workers    int
	QueueLen   int // default 4096
	Notify     *notify.Dispatcher
	Registerer prometheus.Registerer

	// Policy holds the user's playbooks and allowlist; nil: none, only the
	// built-in playbook. PolicyFiles, when set, are re-read every
	// ReloadInterval (default 5s) and replace the policy only when they
	// validate.
	Policy         *Policy
	PolicyFiles    []string
	ReloadInterval time.Duration
	// NamespaceActionsPerMinute caps destructive actions per namespace;
	// default 20. SuspensionsPerHour is how many workloads of one
	// namespace may be suspended per hour before a person must approve
	// the next; default 5.
	NamespaceActionsPerMinute int
	SuspensionsPerHour        int
	// Credentials is the default credentials mode, CredentialsStanding
	// (default) or CredentialsJIT, which needs Issuer.
	Credentials string
	Issuer      Issuer
	// Cluster is the cluster the engine acts on: it takes that cluster's
	// incidents only (resume, responses, restore and approvals refuse
	// another's with ErrOtherCluster) and names it in manual responses'
	// targets; empty: every incident. Window is the correlation window
	// manual responses are recorded with (default 10m) and how far back
	// Start looks for open incidents to resume.
	Cluster string
	Window  time.Duration
	// Standby (high availability): alerts committed while Start does not
	// run (another replica leads) are not queued here, and restore,
	// approve and manual responses return ErrNotLeader; the leader finds
	// them in the store. PollInterval is how often a running engine reads
	// the store for incidents with alerts it has not read (stored by
	// another replica); 0: never.
	Standby      bool
	PollInterval time.Duration
	// Reachable, when set, says whether the cluster answers; while it
	// does not, alerts are recorded with why nothing is done, and stay
	// open for Resume.
	Reachable func() bool
}

// Issuer grants just-in-time credentials for one response: a client
// allowed exactly rules in namespace (cluster-scoped rules apply to the
// named objects only), and a release that removes every grant and proves
// it is gone.
type Issuer interface {
	Issue(ctx context.Context, incident int64, namespace string, rules []rbacv1.PolicyRule) (kubernetes.Interface, func(context.Context) (string, error), error)
}

// Engine runs responses.
type Engine struct {
	opts    Options
	queue   chan job
	limits  *limits
	builtin *Playbook
	policy  atomic.Pointer[Policy]
	locks   sync.Map // incident id -> *sync.Mutex
	m       *metrics
	// verifying tracks verifications running outside the workers; Start
	// waits for them. inFlight holds their incident ids.
	verifying   sync.WaitGroup
	verifySlots chan struct{} // bounds concurrent verifications
	inFlight    sync.Map
	// running is true while Start runs; tracker knows which incidents'
	// alerts were read here, for the store poll.
	running atomic.Bool
	tracker tracker
	// later holds the investigations waiting for the cache to load.
	later chan lateInvestigation
}

type job struct {
	alert    incident.Alert
	incident int64
	resume   bool      // take the alert from the timeline: a resumed or approved response
	playbook *Playbook // a manual response's; nil: selected by the policy
}

// New builds an Engine.
func New(opts Options) *Engine {
	if opts.Resolver == nil {
		opts.Resolver = owner.NewResolver(opts.Client, nil)
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
		opts.Workers = 64
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 4096
	}
	if opts.NamespaceActionsPerMinute <= 0 {
		opts.NamespaceActionsPerMinute = 20
	}
	if opts.SuspensionsPerHour <= 0 {
		opts.SuspensionsPerHour = 5
	}
	if opts.ReloadInterval <= 0 {
		opts.ReloadInterval = 5 * time.Second
	}
	if opts.Window <= 0 {
		opts.Window = 10 * time.Minute
	}
	opts.Credentials = cmp.Or(opts.Credentials, CredentialsStanding)
	e := &Engine{
		opts:        opts,
		queue:       make(chan job, opts.QueueLen),
		limits:      newLimits(opts.ActionsPerMinute, opts.NamespaceActionsPerMinute, opts.SuspensionsPerHour),
		builtin:     Builtin(""),
		verifySlots: make(chan struct{}, 1024),
		later:       make(chan lateInvestigation, 256),
		m:           newMetrics(opts.Registerer),
	}
	e.policy.Store(cmp.Or(opts.Policy, &Policy{}))
	return e
}

// QueueLen is how many alerts wait for a worker.
func (e *Engine) QueueLen() int { return len(e.queue) }

// SetPolicy replaces the playbooks and allowlist for alerts handled from
// now on.
func (e *Engine) SetPolicy(p *Policy) { e.policy.Store(p) }

// enqueue queues j, or drops and counts it when the queue is full.
func (e *Engine) enqueue(j job) {
	e.tracker.queue(j.incident, 1)
	select {
	case e.queue <- j:
	default:
		e.tracker.queue(j.incident, -1)
		e.m.dropped.Inc()
		e.opts.Log.Warn("response queue full; alert not handled", "incident", j.incident, "rule", j.alert.Rule)
	}
}

// Committed implements the server's Sink: alerts that were recorded (not
// duplicates) are queued for a response.
func (e *Engine) Committed(alerts []incident.Alert, results []incident.IngestResult) {
	if e.acting() != nil {
		return // the leader reads them from the store
	}
	for i, r := range results {
		if r.Deduplicated {
			continue
		}
		e.enqueue(job{alert: alerts[i], incident: r.IncidentID})
	}
}

// Start resumes the responses a previous run left unfinished, then runs
// the workers (and the playbook reloader) until ctx is done.
func (e *Engine) Start(ctx context.Context) error {
	e.running.Store(true)
	defer e.running.Store(false)
	var wg sync.WaitGroup
	if len(e.opts.PolicyFiles) > 0 {
		wg.Go(func() { e.reload(ctx) })
	}
	if e.opts.PollInterval > 0 {
		wg.Go(func() { e.follow(ctx) })
	}
	if e.opts.Investigator != nil {
		wg.Go(func() { e.investigateLater(ctx) })
	}
	if err := e.resumeAll(ctx); err != nil {
		e.opts.Log.Error("resume unfinished responses", "err", err)
	}
	for range e.opts.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-e.queue:
					e.run(ctx, j)
					e.tracker.queue(j.incident, -1)
				}
			}
		})
	}
	wg.Wait()
	e.verifying.Wait()
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
	dropped  prometheus.Counter
	followed prometheus.Counter
	reloads  *prometheus.CounterVec
	actions  *prometheus.CounterVec
	restores *prometheus.CounterVec
	latency  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		dropped:  prometheus.NewCounter(prometheus.CounterOpts{Name: "quell_response_queue_dropped_total", Help: "Alerts not handled because the response queue was full."}),
		followed: prometheus.NewCounter(prometheus.CounterOpts{Name: "quell_response_followed_total", Help: "Incidents queued from the store poll: alerts another replica stored."}),
		reloads:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quell_playbook_reloads_total", Help: "Playbook file changes by result (applied, invalid)."}, []string{"result"}),
		actions:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quell_actions_total", Help: "Response actions by type and result."}, []string{"action", "result"}),
		restores: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quell_restores_total", Help: "Actions restored by result."}, []string{"action", "result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "quell_alert_to_contained_seconds", Help: "Alert time to verified containment.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
	}
	if reg != nil {
		reg.MustRegister(m.dropped, m.followed, m.reloads, m.actions, m.restores, m.latency)
	}
	return m
}
