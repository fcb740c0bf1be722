// Package daemon wires quell's long-running processes from a validated
// config: RunServer builds the store, rules engine and notifiers, one
// stack per cluster (client, watched objects, owner resolver,
// investigator, pod watch, reachability probe, response engine), and
// serves until its context is done, then shuts everything down and waits
// for it. A cluster that cannot be reached, at start or later, stops and
// slows neither the server nor the other clusters.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/incident/sqlstore"
	"quell.dev/quell/internal/leader"
	"quell.dev/quell/internal/notify"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/respond/jit"
	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/server"
)

// RunServer runs the server process described by cfg until ctx is done:
// store, rules, each cluster's stack, notifications and the HTTP server.
// ready, if not nil, is called with the listening address once the
// server serves.
func RunServer(ctx context.Context, cfg *config.Config, log *slog.Logger, ready func(addr string)) error {
	return RunServerOn(ctx, cfg, log, nil, ready)
}

// RunServerOn is RunServer serving ln (nil: listening on server.listen),
// for a caller that had to know the address before the server starts.
func RunServerOn(ctx context.Context, cfg *config.Config, log *slog.Logger, ln net.Listener, ready func(addr string)) error {
	if cfg.Server.AuthTokenFile == "" {
		return errors.New("server.auth_token_file (--auth-token-file) is required: every endpoint that can change a cluster is authenticated")
	}
	tokens, err := server.LoadTokens(cfg.Server.AuthTokenFile)
	if err != nil {
		return err
	}
	eng, err := LoadRules(cfg, log)
	if err != nil {
		return err
	}
	store, err := sqlstore.Open(ctx, cfg.Server.Store)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	list := cfg.Kubernetes.List()
	stacks := make([]*clusterStack, 0, len(list))
	var notifiers []notify.Notifier
	for _, cl := range list {
		st, err := newClusterStack(cl, len(cfg.Kubernetes.Clusters) == 0, log)
		if err != nil {
			return err
		}
		stacks = append(stacks, st)
		if n := st.notifier(); n != nil && cfg.Notify.KubeEvents {
			notifiers = append(notifiers, n)
		}
	}
	if cfg.Notify.SlackWebhookURL != "" {
		notifiers = append(notifiers, &notify.Slack{URL: cfg.Notify.SlackWebhookURL})
	}
	if cfg.Notify.WebhookURL != "" {
		notifiers = append(notifiers, &notify.Webhook{URL: cfg.Notify.WebhookURL})
	}
	opts := server.Options{Listener: ln,
		Config: cfg.Server, DefaultCluster: cfg.Kubernetes.Default(), Store: store, Tokens: tokens, Log: log,
		Audit: server.RulesAudit{Engine: eng}, Window: cfg.Server.Window, Registry: reg, Rules: eng, Suggest: playbook.Suggest,
	}
	var dispatcher *notify.Dispatcher
	if len(notifiers) > 0 {
		dispatcher = notify.NewDispatcher(notify.Options{Registry: reg, Log: log}, notifiers...)
		opts.Sinks = append(opts.Sinks, &server.NotifySink{Dispatcher: dispatcher, URL: cfg.Notify.ConsoleURL})
	}
	actions := respond.DefaultRegistry()
	policy, err := playbook.LoadPolicy(actions, cfg.Response.Playbooks...)
	if err != nil {
		return fmt.Errorf("load playbooks: %w", err)
	}
	sh := shared{cfg: cfg, store: store, log: log, reg: reg, actions: actions, policy: policy, notify: dispatcher}
	if cfg.HA.Enabled {
		if sh.identity, err = replicaIdentity(cfg); err != nil {
			return err
		}
		if opts.PeerTransport, err = peerTransport(cfg); err != nil {
			return err
		}
	}
	electors := map[string]*leader.Elector{}
	for _, st := range stacks {
		if err := st.newEngine(sh); err != nil {
			return err
		}
		if st.elector != nil {
			electors[st.name] = st.elector
		}
		opts.Clusters = append(opts.Clusters, st.route())
		if st.engine != nil && (opts.Playbooks == nil || st.name == opts.DefaultCluster) {
			opts.Playbooks = st.engine // every engine reads the same playbooks
		}
	}
	if cfg.HA.Enabled {
		opts.Leaders = &leaders{identity: sh.identity, electors: electors}
	}
	srv, err := server.New(opts)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel below: every part stops with ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if dispatcher != nil {
		wg.Go(func() { dispatcher.Start(ctx) })
	}
	ingest := func(ctx context.Context, a []incident.Alert) error {
		_, err := srv.Ingest(ctx, a)
		return err
	}
	for _, st := range stacks {
		st.start(ctx, &wg, cfg.Kubernetes.PodWatch, ingest)
	}
	if ready != nil {
		wg.Go(func() {
			if addr, err := srv.Addr(ctx); err == nil {
				ready(addr.String())
			}
		})
	}
	return srv.Start(ctx)
}

// sweepJIT removes leftover just-in-time credentials: all of them, or
// those whose lease expired.
func sweepJIT(ctx context.Context, cs kubernetes.Interface, log *slog.Logger, all bool) {
	rep, err := jit.Sweep(ctx, cs, jit.SweepOptions{All: all, Log: log})
	if err != nil && ctx.Err() == nil {
		log.Error("sweep just-in-time credentials", "err", err)
	} else if len(rep.Deleted) > 0 {
		log.Warn("removed leftover just-in-time credentials", "deleted", len(rep.Deleted), "remaining", len(rep.Remaining))
	}
}

// gracePeriod maps response.grace_period (negative: the pod's own) to the
// engine's option.
func gracePeriod(d time.Duration) *time.Duration {
	if d < 0 {
		return nil
	}
	return &d
}

// LoadRules loads and compiles the built-in and configured rules, logging
// every warning; errors in a user's rules file stop the start.
func LoadRules(cfg *config.Config, log *slog.Logger) (*rules.Engine, error) {
	files, err := rules.ReadFiles(cfg.Rules.Files...)
	if err != nil {
		return nil, err
	}
	eng, diags := rules.LoadEngine(cfg.Rules.NoDefaults, files...)
	for _, d := range diags.Warnings() {
		log.Warn("rules diagnostic", "diagnostic", d.String())
	}
	if err := diags.Err(); err != nil {
		return nil, fmt.Errorf("load rules: %w", err)
	}
	log.Info("rules loaded", "rules", len(eng.Rules()), "skipped", len(eng.Skipped()))
	return eng, nil
}
