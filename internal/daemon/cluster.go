package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/kube"
	"quell.dev/quell/internal/kubecache"
	"quell.dev/quell/internal/leader"
	"quell.dev/quell/internal/notify"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/podwatch"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/respond/jit"
	"quell.dev/quell/internal/server"
)

// clusterStack is everything the server runs for one cluster: its client
// and watched objects, owner resolver, investigator and audit index,
// Kubernetes Event notifier, pod watch, just-in-time issuer and sweep,
// reachability probe and response engine, with its own queue and workers.
// Nothing of one cluster waits on another's, and building a stack does no
// I/O: a cluster unreachable at start (or later) slows nothing else.
type clusterStack struct {
	name string
	log  *slog.Logger
	// cs is nil for a cluster without access (one cluster and no
	// kubeconfig found): its alerts are recorded, nothing else.
	cs           *kubernetes.Clientset
	rest         *rest.Config
	objects      *kubecache.Cache
	resolver     *owner.Resolver
	audits       *investigate.AuditIndex
	investigator *investigate.Investigator
	health       *health
	issuer       playbook.Issuer // nil: standing credentials only
	engine       *playbook.Engine
	elector      *leader.Elector // ha.enabled: the engine runs while this replica holds the cluster's Lease
}

// What the server routes to a cluster's stack.
var (
	_ server.Sink          = (*playbook.Engine)(nil)
	_ server.Responder     = (*playbook.Engine)(nil)
	_ server.PlaybooksInfo = (*playbook.Engine)(nil)
	_ server.Investigator  = (*investigate.Investigator)(nil)
	_ server.AuditObserver = (*investigate.AuditIndex)(nil)
)

// shared is what every cluster's stack shares.
type shared struct {
	cfg     *config.Config
	store   incident.Store
	log     *slog.Logger
	reg     prometheus.Registerer
	actions *respond.Registry
	policy  *playbook.Policy
	notify  *notify.Dispatcher // nil: no notifiers
	// identity names this replica in the response Leases (ha.enabled);
	// empty: no election, this process responds.
	identity string
}

// newClusterStack builds cl's stack. A cluster configured as the only one
// (kubernetes.kubeconfig) may have no configuration to be found; it is
// then served without access.
func newClusterStack(cl config.Cluster, only bool, log *slog.Logger) (*clusterStack, error) {
	c := &clusterStack{name: cl.Name, log: log.With("cluster", cl.Name)}
	restCfg, err := kube.Config(cl.Kubeconfig, cl.Context)
	switch {
	case errors.Is(err, kube.ErrNoCluster) && only:
		c.log.Warn("no cluster configured: alerts are recorded, targets are not resolved and nothing is acted on")
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("cluster %s: %w", cl.Name, err)
	}
	if c.cs, err = kubernetes.NewForConfig(restCfg); err != nil {
		return nil, fmt.Errorf("cluster %s: kubernetes client: %w", cl.Name, err)
	}
	c.rest = restCfg
	// The workloads and what investigations read, watched: owner chains,
	// protection checks and reports read them without a round trip once
	// listed (live reads until then). Listing runs in the background.
	if c.objects, err = kubecache.New(c.cs, investigate.Kinds...); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cl.Name, err)
	}
	c.resolver = owner.NewResolver(c.cs, c.objects) // shared: the engine reuses what ingest resolved
	c.audits = investigate.NewAuditIndex(0)
	if c.investigator, err = investigate.New(investigate.Options{Objects: c.objects, Client: c.cs, Resolver: c.resolver, Audit: c.audits}); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cl.Name, err)
	}
	c.health = newHealth(cl.Name, c.probe, c.log)
	return c, nil
}

// probe asks the API server whether it is ready.
func (c *clusterStack) probe(ctx context.Context) error {
	return c.cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
}

// notifier is the cluster's Kubernetes Event notifier, or nil.
func (c *clusterStack) notifier() notify.Notifier {
	if c.cs == nil {
		return nil
	}
	return &notify.KubeEvent{Client: c.cs, Cluster: c.name}
}

// newEngine builds the cluster's response engine (and its just-in-time
// issuer when a playbook or the default needs one).
func (c *clusterStack) newEngine(sh shared) error {
	if c.cs == nil {
		return nil
	}
	rc := sh.cfg.Response
	if rc.Credentials == config.CredentialsJIT || slices.ContainsFunc(sh.policy.Playbooks, func(p *playbook.Playbook) bool { return p.Credentials == config.CredentialsJIT }) {
		c.issuer = jit.NewIssuer(c.cs, c.rest, jit.Options{HomeNamespace: rc.HomeNamespace, Log: c.log})
	}
	var poll time.Duration // the leader reads what the other replicas stored
	if sh.identity != "" {
		poll = sh.cfg.HA.PollInterval
	}
	c.engine = playbook.New(playbook.Options{Store: sh.store, Client: c.cs, Resolver: c.resolver, Investigator: c.investigator, Log: c.log, Issuer: c.issuer,
		Mode: sh.cfg.Server.Mode, Notify: sh.notify, Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"cluster": c.name}, sh.reg),
		Registry: sh.actions, Policy: sh.policy, PolicyFiles: rc.Playbooks, Credentials: rc.Credentials, Protected: rc.ProtectedNamespaces,
		VerifyHold: rc.VerifyHold, GracePeriod: gracePeriod(rc.GracePeriod), ActionsPerMinute: rc.ActionsPerMinute, NamespaceActionsPerMinute: rc.NamespaceActionsPerMinute,
		SuspensionsPerHour: rc.SuspensionsPerHour, Cluster: c.name, Window: sh.cfg.Server.Window, Reachable: c.health.Up,
		Standby: sh.identity != "", PollInterval: poll})
	if sh.identity != "" {
		var err error
		if c.elector, err = newElector(sh.cfg, c.cs, sh.identity, c.name, c.log, sh.reg); err != nil {
			return err
		}
	}
	c.log.Info("response engine ready", "mode", sh.cfg.Server.Mode, "credentials", rc.Credentials, "playbooks", len(sh.policy.Playbooks), "elected", c.elector != nil)
	return nil
}

// route is the server's view of the cluster.
func (c *clusterStack) route() server.Cluster {
	sc := server.Cluster{Name: c.name}
	if c.cs == nil {
		return sc
	}
	sc.Resolve, sc.Up = c.resolve, c.health.Up
	sc.Investigator, sc.AuditObservers = c.investigator, []server.AuditObserver{c.audits}
	if c.engine != nil {
		sc.Sink, sc.Responder = c.engine, c.engine
	}
	return sc
}

// resolve refines a pod target into its workload's. While the cluster is
// down it reads the watched copies only: a cancelled context fails every
// API read at once.
func (c *clusterStack) resolve(ctx context.Context, t incident.Target) incident.Target {
	if !c.health.Up() {
		cached, cancel := context.WithCancel(ctx)
		cancel()
		ctx = cached
	}
	return c.resolver.Target(ctx, t)
}

// start runs the cluster's parts on wg until ctx is done: the watches,
// the probe, the pod watch (feeding ingest) and the engine. None of them
// blocks the caller.
func (c *clusterStack) start(ctx context.Context, wg *sync.WaitGroup, podWatch bool, ingest podwatch.Ingest) {
	if c.cs == nil {
		return
	}
	wg.Go(func() { c.objects.Start(ctx) })
	wg.Go(func() { c.health.Start(ctx) })
	if podWatch {
		w := podwatch.New(c.cs, c.name, ingest, c.log)
		wg.Go(func() {
			if err := w.Start(ctx); err != nil {
				c.log.Error("pod watch stopped", "err", err)
			}
		})
	}
	switch {
	case c.elector != nil:
		wg.Go(func() { _ = c.elector.Start(ctx, c.runEngine) })
	case c.engine != nil:
		wg.Go(func() { c.runEngine(ctx) })
	}
}

// runEngine runs the cluster's response engine until ctx is done: first
// a sweep of the just-in-time credentials a previous run left (one server
// acts on a cluster; its leases died with it), then the engine, the
// periodic sweep of expired leases, and a resume of what waited each time
// the cluster answers again. It is the one way the engine is started
// (with ha.enabled, each time this replica acquires the cluster's Lease,
// until it loses it).
func (c *clusterStack) runEngine(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if c.issuer != nil {
		// Before any response starts, and bounded: an unreachable
		// cluster does not hold its engine back for long.
		sweepCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		sweepJIT(sweepCtx, c.cs, c.log, true)
		cancel()
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Minute):
					sweepJIT(ctx, c.cs, c.log, false) // leases that expired without a release
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.health.backUp:
				if err := c.engine.Resume(ctx); err != nil && ctx.Err() == nil {
					c.log.Error("resume responses", "err", err)
				}
			}
		}
	})
	if err := c.engine.Start(ctx); err != nil {
		c.log.Error("response engine stopped", "err", err)
	}
}
