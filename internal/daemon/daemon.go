// Package daemon wires quell's long-running processes from a validated
// config: RunServer builds the store, rules engine, cluster client, owner
// resolver, notifiers and pod watch, and serves until its context is done,
// then shuts everything down and waits for it.
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

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/incident/sqlstore"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/kube"
	"quell.dev/quell/internal/kubecache"
	"quell.dev/quell/internal/notify"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/podwatch"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/respond/jit"
	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/server"
)

// RunServer runs the server process described by cfg until ctx is done:
// store, rules, cluster access, notifications, pod watch and the HTTP
// server. ready, if not nil, is called with the listening address once the
// server serves.
func RunServer(ctx context.Context, cfg *config.Config, log *slog.Logger, ready func(addr string)) error {
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
	opts := server.Options{
		Config: cfg.Server, Cluster: cfg.Kubernetes.Cluster, Store: store, Tokens: tokens, Log: log,
		Audit: server.RulesAudit{Engine: eng}, Window: cfg.Server.Window, Registry: reg, Rules: eng,
	}
	var notifiers []notify.Notifier
	var (
		cs           *kubernetes.Clientset
		resolver     *owner.Resolver
		objects      *kubecache.Cache
		investigator *investigate.Investigator
	)
	restCfg, err := kube.Config(cfg.Kubernetes.Kubeconfig, "")
	switch {
	case errors.Is(err, kube.ErrNoCluster):
		log.Warn("no cluster configured: alerts are recorded, targets are not resolved and nothing is acted on")
	case err != nil:
		return err
	default:
		cs, err = kubernetes.NewForConfig(restCfg)
		if err != nil {
			return fmt.Errorf("kubernetes client: %w", err)
		}
		// The workloads and what investigations read, watched: owner
		// chains, protection checks and reports read them without a round
		// trip once listed (live reads until then).
		if objects, err = kubecache.New(cs, investigate.Kinds...); err != nil {
			return err
		}
		resolver = owner.NewResolver(cs, objects) // shared: the engine reuses what ingest resolved
		audits := investigate.NewAuditIndex(0)
		if investigator, err = investigate.New(investigate.Options{Objects: objects, Client: cs, Resolver: resolver, Audit: audits}); err != nil {
			return err
		}
		opts.Investigator, opts.Suggest = investigator, playbook.Suggest
		opts.AuditObservers = append(opts.AuditObservers, audits)
		opts.Resolve = resolver.Target
		if cfg.Notify.KubeEvents {
			notifiers = append(notifiers, &notify.KubeEvent{Client: cs})
		}
	}
	if cfg.Notify.SlackWebhookURL != "" {
		notifiers = append(notifiers, &notify.Slack{URL: cfg.Notify.SlackWebhookURL})
	}
	if cfg.Notify.WebhookURL != "" {
		notifiers = append(notifiers, &notify.Webhook{URL: cfg.Notify.WebhookURL})
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel below: every part stops with ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if objects != nil {
		wg.Go(func() { objects.Start(ctx) })
	}
	var dispatcher *notify.Dispatcher
	if len(notifiers) > 0 {
		dispatcher = notify.NewDispatcher(notify.Options{Registry: reg, Log: log}, notifiers...)
		wg.Go(func() { dispatcher.Start(ctx) })
		opts.Sinks = append(opts.Sinks, &server.NotifySink{Dispatcher: dispatcher, URL: cfg.Notify.ConsoleURL})
	}
	if cs != nil {
		rc := cfg.Response
		actions := respond.DefaultRegistry()
		policy, err := playbook.LoadPolicy(actions, rc.Playbooks...)
		if err != nil {
			return fmt.Errorf("load playbooks: %w", err)
		}
		var issuer playbook.Issuer
		if rc.Credentials == config.CredentialsJIT || slices.ContainsFunc(policy.Playbooks, func(p *playbook.Playbook) bool { return p.Credentials == config.CredentialsJIT }) {
			issuer = jit.NewIssuer(cs, restCfg, jit.Options{HomeNamespace: rc.HomeNamespace, Log: log})
			// Before any response starts: what a previous run left is
			// orphaned (one server acts on a cluster; its leases died with it).
			sweepJIT(ctx, cs, log, true)
			wg.Go(func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Minute):
						sweepJIT(ctx, cs, log, false) // leases that expired without a release
					}
				}
			})
		}
		eng := playbook.New(playbook.Options{Store: store, Client: cs, Resolver: resolver, Investigator: investigator, Log: log, Issuer: issuer, Mode: cfg.Server.Mode, Notify: dispatcher, Registerer: reg,
			Registry: actions, Policy: policy, PolicyFiles: rc.Playbooks, Credentials: rc.Credentials, Protected: rc.ProtectedNamespaces,
			VerifyHold: rc.VerifyHold, GracePeriod: gracePeriod(rc.GracePeriod), ActionsPerMinute: rc.ActionsPerMinute, NamespaceActionsPerMinute: rc.NamespaceActionsPerMinute,
			SuspensionsPerHour: rc.SuspensionsPerHour, Cluster: cfg.Kubernetes.Cluster, Window: cfg.Server.Window})
		wg.Go(func() { eng.Start(ctx) })
		opts.Sinks = append(opts.Sinks, eng)
		opts.Responder, opts.Playbooks = eng, eng
		log.Info("response engine ready", "mode", cfg.Server.Mode, "credentials", rc.Credentials, "playbooks", len(policy.Playbooks))
	}
	srv, err := server.New(opts)
	if err != nil {
		return err
	}
	if cfg.Kubernetes.PodWatch && cs != nil {
		w := podwatch.New(cs, cfg.Kubernetes.Cluster, func(ctx context.Context, a []incident.Alert) error {
			_, err := srv.Ingest(ctx, a)
			return err
		}, log)
		wg.Go(func() {
			if err := w.Start(ctx); err != nil {
				log.Error("pod watch stopped", "err", err)
			}
		})
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
