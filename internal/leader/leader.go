// Package leader elects the one quell server replica that responds on a
// cluster, through a coordination.k8s.io Lease in that cluster.
//
// Contract:
//   - Start campaigns until its context is done. Each time this replica
//     acquires the Lease it calls lead with a context that is cancelled
//     when the Lease is lost (not renewed within the renew deadline, which
//     is shorter than the lease duration, so the old leader has stopped
//     before another can acquire) or when Start's context is done; Start
//     waits for lead to return before it campaigns again or returns.
//   - On a graceful stop, once lead returned, the Lease is released so
//     another replica takes over at once instead of after the lease
//     duration.
//   - Leader reports the last observed holder and the URL it advertised,
//     so requests that act can be forwarded to it.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	rl "k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// Options configure an Elector. Client, Namespace, Name, Identity and Log
// are required.
type Options struct {
	Client    kubernetes.Interface
	Namespace string // of the Lease
	Name      string // of the Lease
	Identity  string // this replica; unique among the replicas
	// URL is where the other replicas reach this one; it is recorded with
	// the identity as the Lease's holder.
	URL           string
	LeaseDuration time.Duration // default 15s
	RenewDeadline time.Duration // default 10s
	RetryPeriod   time.Duration // default 2s
	Cluster       string        // label of the metrics
	Log           *slog.Logger
	Registerer    prometheus.Registerer
}

// Elector campaigns for one Lease.
type Elector struct {
	opts Options
	lock rl.Interface

	mu      sync.Mutex
	leading bool
	holder  string // last observed holder identity, as recorded

	leader      prometheus.Gauge
	transitions prometheus.Counter
}

// Rules are what an Elector needs in the Lease's namespace.
func Rules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}}}
}

// New builds an Elector.
func New(opts Options) (*Elector, error) {
	var errs []error
	if opts.Client == nil {
		errs = append(errs, errors.New("no client"))
	}
	if opts.Namespace == "" || opts.Name == "" {
		errs = append(errs, errors.New("no lease namespace or name"))
	}
	if opts.Identity == "" || strings.Contains(opts.Identity, holderSep) {
		errs = append(errs, fmt.Errorf("identity %q must be set and hold no %q", opts.Identity, holderSep))
	}
	if opts.Log == nil {
		errs = append(errs, errors.New("no logger"))
	}
	if opts.LeaseDuration <= 0 {
		opts.LeaseDuration = 15 * time.Second
	}
	if opts.RenewDeadline <= 0 {
		opts.RenewDeadline = 10 * time.Second
	}
	if opts.RetryPeriod <= 0 {
		opts.RetryPeriod = 2 * time.Second
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new elector: %w", err)
	}
	holder := opts.Identity
	if opts.URL != "" {
		holder += holderSep + opts.URL
	}
	lock, err := rl.New(rl.LeasesResourceLock, opts.Namespace, opts.Name, opts.Client.CoreV1(), opts.Client.CoordinationV1(), rl.ResourceLockConfig{Identity: holder})
	if err != nil {
		return nil, fmt.Errorf("new elector: %w", err)
	}
	labels := prometheus.Labels{"cluster": opts.Cluster}
	e := &Elector{opts: opts, lock: lock,
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "quell_leader", Help: "1 while this replica holds the cluster's response Lease.", ConstLabels: labels}),
		transitions: prometheus.NewCounter(prometheus.CounterOpts{Name: "quell_leader_acquired_total",
			Help: "Times this replica acquired the cluster's response Lease.", ConstLabels: labels}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(e.leader, e.transitions)
	}
	return e, nil
}

// holderSep separates the identity from the advertised URL in the Lease's
// holderIdentity.
const holderSep = " "

// Leading says whether this replica leads now.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Leader returns the last observed leader's identity and advertised URL;
// both empty while none is known.
func (e *Elector) Leader() (identity, url string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	identity, url, _ = strings.Cut(e.holder, holderSep)
	return identity, url
}

// Identity is this replica's identity.
func (e *Elector) Identity() string { return e.opts.Identity }

// Start campaigns until ctx is done; see the package contract.
func (e *Elector) Start(ctx context.Context, lead func(ctx context.Context)) error {
	log := e.opts.Log.With("lease", e.opts.Namespace+"/"+e.opts.Name, "identity", e.opts.Identity, "cluster", e.opts.Cluster)
	for {
		if err := e.round(ctx, log, lead); err != nil {
			return err
		}
		if ctx.Err() != nil {
			e.release(log)
			return nil
		}
		log.Warn("lost the response lease; campaigning again")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(e.opts.RetryPeriod):
		}
	}
}

// round runs one campaign: until the Lease is lost or ctx is done.
func (e *Elector) round(ctx context.Context, log *slog.Logger, lead func(ctx context.Context)) error {
	// client-go logs through klog: into this logger, not stderr.
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(log.Handler()))
	acquired := make(chan context.Context, 1)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: e.lock, LeaseDuration: e.opts.LeaseDuration, RenewDeadline: e.opts.RenewDeadline, RetryPeriod: e.opts.RetryPeriod,
		Name: e.opts.Cluster,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) { acquired <- lctx },
			OnStoppedLeading: func() {},
			OnNewLeader: func(holder string) {
				e.mu.Lock()
				e.holder = holder
				e.mu.Unlock()
				id, url, _ := strings.Cut(holder, holderSep)
				log.Info("response leader observed", "leader", id, "url", url)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		le.Run(ctx)
	}()
	select {
	case lctx := <-acquired:
		e.lead(lctx, log, lead)
		<-ran
	case <-ran:
		select { // acquired and lost at once: lead has nothing left to do
		case <-acquired:
		default:
		}
	}
	return nil
}

// lead runs lead while this replica holds the Lease.
func (e *Elector) lead(ctx context.Context, log *slog.Logger, lead func(ctx context.Context)) {
	e.setLeading(true)
	e.transitions.Inc()
	log.Info("acquired the response lease: this replica responds")
	started := time.Now()
	// Not leading from the moment the Lease is lost, while lead winds down.
	stop := context.AfterFunc(ctx, func() { e.setLeading(false) })
	defer stop()
	lead(ctx)
	e.setLeading(false)
	log.Info("stopped responding", "led", time.Since(started).Round(time.Millisecond))
}

func (e *Elector) setLeading(v bool) {
	e.mu.Lock()
	e.leading = v
	e.mu.Unlock()
	if v {
		e.leader.Set(1)
	} else {
		e.leader.Set(0)
	}
}

// release gives up the Lease if this replica still holds it, so another
// replica takes over at once.
func (e *Elector) release(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.RenewDeadline)
	defer cancel()
	rec, _, err := e.lock.Get(ctx)
	if err != nil {
		log.Warn("release the response lease", "err", err)
		return
	}
	if rec.HolderIdentity != e.lock.Identity() {
		return
	}
	now := metav1.NewTime(time.Now())
	if err := e.lock.Update(ctx, rl.LeaderElectionRecord{LeaderTransitions: rec.LeaderTransitions, LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now}); err != nil {
		log.Warn("release the response lease", "err", err)
		return
	}
	log.Info("released the response lease")
}
