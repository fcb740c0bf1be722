package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/console"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/respond"
)

// Options configure a Server. Store, Tokens and Log are required.
type Options struct {
	Config config.Server
	// Clusters are the clusters served; alerts and incidents are routed
	// to theirs by name. Default: one named "default" with nothing
	// configured. DefaultCluster is the cluster of an alert that names
	// none; default the first.
	Clusters       []Cluster
	DefaultCluster string
	// ResolveTimeout bounds the resolution of one batch's targets in one
	// cluster; default 2s.
	ResolveTimeout time.Duration
	Store          incident.Store
	Tokens         *Tokens
	Log            *slog.Logger
	Registry       *prometheus.Registry // nil: a new one
	// Window correlates alerts about one target into one incident.
	Window time.Duration // default 10m
	// Audit evaluates audit events; nil disables /v1/audit.
	Audit AuditEvaluator
	// Sinks get every committed batch, of every cluster (notifiers);
	// each cluster's Sink gets its own alerts.
	Sinks []Sink
	// Suggest, when set, adds to a live investigation the response a
	// playbook would choose for an incident of that severity.
	Suggest func(incident.Severity, *investigate.Report) *investigate.Suggestion
	// StreamInterval is how often GET /v1/stream looks for changes;
	// default 500ms.
	StreamInterval time.Duration
	// Rules and Playbooks describe what is loaded, for the console; nil:
	// their endpoints answer 501.
	Rules     RulesInfo
	Playbooks PlaybooksInfo
	// Leaders, when set (high availability), says which replica responds
	// on each cluster; requests that act are forwarded to it through
	// PeerTransport (nil: http.DefaultTransport).
	Leaders       Leaders
	PeerTransport http.RoundTripper
	// Listener, when set, is served instead of listening on
	// Config.Listen (a caller that had to know the address first).
	Listener net.Listener
}

// Responder is what the API asks of the response engine.
type Responder interface {
	// Restore reverts the reversible actions of an incident.
	Restore(ctx context.Context, id int64, who string) ([]respond.Record, error)
	// Approve approves (veto: vetoes) an incident's pending approvals and
	// says how many; playbook.ErrNothingPending when there are none.
	Approve(ctx context.Context, id int64, who string, veto bool) (int, error)
	// Manual runs one requested action and returns the incident's id;
	// playbook.ErrBadRequest wraps a request's problems.
	Manual(ctx context.Context, req respond.Request, who string) (int64, error)
}

// Sink receives alerts once they are stored, with what the store did with
// each. It must not block: queue and return.
type Sink interface {
	Committed(alerts []incident.Alert, results []incident.IngestResult)
}

// Server serves ingest, the incident API, metrics and health.
type Server struct {
	opts     Options
	clusters *router
	log      *slog.Logger
	batcher  *batcher
	metrics  *metrics
	reg      *prometheus.Registry
	handler  http.Handler
	// auditSeen remembers audit events already evaluated.
	auditSeen *seenSet
	ready     chan struct{}
	addr      chan net.Addr
	clientCAs *x509.CertPool // mutual TLS; nil: off
	sensors   sensorSet
	forward   *forwarder // nil: this replica responds on every cluster
}

// New validates opts and builds a Server.
func New(opts Options) (*Server, error) {
	var errs []error
	if opts.Store == nil {
		errs = append(errs, errors.New("no store"))
	}
	if opts.Tokens == nil {
		errs = append(errs, errNoTokens)
	}
	if opts.Log == nil {
		errs = append(errs, errors.New("no logger"))
	}
	var clientCAs *x509.CertPool
	if f := opts.Config.TLSClientCAFile; f != "" {
		var err error
		if clientCAs, err = config.ClientCAPool(f); err != nil {
			errs = append(errs, err)
		}
		if opts.Config.TLSCertFile == "" {
			errs = append(errs, errors.New("a client CA file needs a TLS certificate and key"))
		}
	}
	if len(opts.Clusters) == 0 {
		opts.Clusters = []Cluster{{Name: "default"}}
	}
	clusters, err := newRouter(opts.Clusters, opts.DefaultCluster)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	if opts.ResolveTimeout <= 0 {
		opts.ResolveTimeout = 2 * time.Second
	}
	if opts.Window <= 0 {
		opts.Window = 10 * time.Minute
	}
	if opts.Config.MaxBodyBytes <= 0 {
		opts.Config = config.Default().Server
	}
	if opts.Config.RateLimit <= 0 {
		opts.Config.RateLimit = config.Default().Server.RateLimit
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	s := &Server{opts: opts, clusters: clusters, log: opts.Log, reg: opts.Registry, ready: make(chan struct{}), addr: make(chan net.Addr, 1), clientCAs: clientCAs}
	s.metrics = newMetrics(opts.Registry)
	opts.Registry.MustRegister(newStateCollector(opts.Store))
	s.registerClusterUp(opts.Registry)
	s.auditSeen = newSeenSet(10*time.Minute, 100_000)
	s.batcher = newBatcher(opts.Store, opts.Window, 4096, 1000, opts.Log)
	s.batcher.onCommit = s.committed
	if opts.Leaders != nil {
		s.forward = newForwarder(opts.Leaders, opts.PeerTransport)
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's root handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Addr returns the listening address once Start is serving.
func (s *Server) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case a := <-s.addr:
		s.addr <- a
		return a, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Server) routes() http.Handler {
	authed := http.NewServeMux()
	authed.HandleFunc("POST /v1/falco", s.handleFalco)
	authed.HandleFunc("POST /{$}", s.handleFalco) // Falco http_output / Falcosidekick webhook default
	authed.HandleFunc("POST /v1/alerts", s.handleAlerts)
	authed.HandleFunc("POST /v1/sensor/alerts", s.handleAlerts)
	authed.HandleFunc("POST /v1/audit", s.handleAudit)
	authed.HandleFunc("GET /v1/stream", s.handleStream)
	authed.HandleFunc("GET /v1/summary", s.handleSummary)
	authed.HandleFunc("GET /v1/rules", s.handleRules)
	authed.HandleFunc("GET /v1/playbooks", s.handlePlaybooks)
	authed.HandleFunc("GET /v1/incidents", s.handleListIncidents)
	authed.HandleFunc("GET /v1/incidents/{id}", s.handleGetIncident)
	authed.HandleFunc("GET /v1/incidents/{id}/export", s.handleExport)
	authed.HandleFunc("GET /v1/incidents/{id}/investigation", s.handleInvestigation)
	authed.HandleFunc("POST /v1/incidents/{id}/notes", s.handleNote)
	authed.HandleFunc("POST /v1/incidents/{id}/resolve", s.handleTransition(incident.StateResolved))
	authed.HandleFunc("POST /v1/incidents/{id}/false-positive", s.handleTransition(incident.StateFalsePositive))
	authed.HandleFunc("POST /v1/incidents/{id}/reopen", s.handleTransition(incident.StateOpen))
	authed.HandleFunc("POST /v1/incidents/{id}/restore", s.leaderOnly(s.incidentCluster, s.handleRestore))
	authed.HandleFunc("POST /v1/incidents/{id}/approve", s.leaderOnly(s.incidentCluster, s.handleApprove(false)))
	authed.HandleFunc("POST /v1/incidents/{id}/veto", s.leaderOnly(s.incidentCluster, s.handleApprove(true)))
	authed.HandleFunc("POST /v1/responses", s.leaderOnly(s.bodyCluster, s.handleResponse))
	authed.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	root.HandleFunc("GET /readyz", s.handleReady)
	// The console's static files need no token; everything it shows comes
	// from the authenticated API.
	root.Handle("GET /ui/", console.Handler("/ui/"))
	root.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	limit := s.opts.Config.RateLimit
	root.Handle("/", authenticate(s.opts.Tokens, s.opts.Config.ProxyUserHeader, rate.Limit(limit), int(2*limit), authed))
	return s.limitBody(root)
}

// limitBody caps every request body.
func (s *Server) limitBody(next http.Handler) http.Handler {
	max := s.opts.Config.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			s.metrics.dropped.WithLabelValues("too_large").Inc()
			writeError(w, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: fmt.Sprintf("request body exceeds %d bytes", max)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

// handleReady answers 200 once the server serves, with each cluster's
// state: a cluster that is down does not make the server unready, since
// it still records that cluster's alerts and serves the others.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.ready:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "clusters": s.clusterStates()})
	default:
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "starting"})
	}
}

// Start listens on the configured address and serves until ctx is done,
// then shuts down gracefully within the configured grace.
func (s *Server) Start(ctx context.Context) error {
	cfg := s.opts.Config
	ln := s.opts.Listener
	var err error
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen %s: %w", cfg.Listen, err)
		}
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if s.clientCAs != nil {
		// Mutual TLS: the handshake fails without a certificate signed by
		// one of the client CAs. Bearer tokens are checked as before.
		srv.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs:  s.clientCAs,
		}
	}
	batchCtx, stopBatcher := context.WithCancel(context.WithoutCancel(ctx))
	batchDone := make(chan error, 1)
	go func() { batchDone <- s.batcher.Start(batchCtx) }()
	if s.opts.Tokens.path != "" {
		go s.opts.Tokens.Watch(ctx, 2*time.Second, s.log)
	}

	if cfg.Retention > 0 {
		go s.retain(ctx, cfg.Retention)
	}
	serveErr := make(chan error, 1)
	go func() {
		if cfg.TLSCertFile != "" {
			serveErr <- srv.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile)
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	s.addr <- ln.Addr()
	close(s.ready)
	s.log.Info("server listening", "addr", ln.Addr().String(), "clusters", s.clusters.names, "default_cluster", s.clusters.def.Name)

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownGrace)
		err = srv.Shutdown(shutdownCtx)
		cancel()
		if err == nil {
			err = <-serveErr
		}
	}
	stopBatcher()
	<-batchDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
