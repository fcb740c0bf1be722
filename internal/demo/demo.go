// Package demo plays quell's story on a real local control plane for a
// newcomer: it starts the cluster with its audit webhook pointed at a quell
// server (SQLite store, built-in rules), plays the seed scenarios and
// narrates each step with timings to Out. Run returns when the story is
// over and, unless Exit is set, the context is cancelled (Ctrl-C); it always
// stops the server and tears the cluster down before returning.
package demo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"quell.dev/quell/internal/apiclient"
	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/daemon"
	"quell.dev/quell/internal/devcluster"
)

// Options configure Run.
type Options struct {
	Dir   string // state directory (cluster, store, tokens, certificate)
	Build devcluster.BuildOptions
	Exit  bool // tear down at the end instead of waiting for ctx
	Out   io.Writer
	Log   *slog.Logger
	// Store is the server's store DSN; default SQLite in Dir.
	Store string
	// Playbooks are playbook files for the server (response.playbooks).
	Playbooks []string
	// Configure, when set, edits the server's configuration last.
	Configure func(*config.Config)
	// Sensor is the command that runs quell (this binary); when set, the
	// host scenario runs `quell sensor` with it (which needs root), and
	// otherwise replays the alert the sensor sends.
	Sensor []string
}

// Users are the identities the demo cluster knows besides admin.
func Users() []devcluster.User {
	return []devcluster.User{{Name: "alice", Groups: []string{"developers"}}}
}

// Namespace holds the demo's sample workloads.
const Namespace = "demo"

// Env is a running demo environment: the control plane (audit webhook
// to quell), the quell server, and clients. Stop tears it down.
type Env struct {
	Cluster *devcluster.Cluster
	API     *apiclient.Client
	// URL and Token reach the server (HTTPS, certificate in Cert).
	URL, Token, Cert string
	story            *story
	kubectl          string
	stops            []func() error
}

// Run plays the demo: Start, Play, then wait for ctx unless Exit is set.
func Run(ctx context.Context, opts Options) (err error) {
	env, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()
	if err := env.Play(ctx); err != nil {
		return err
	}
	if opts.Exit {
		return nil
	}
	n := env.story.n
	n.say("the console is at " + env.URL + "/ui/ (self-signed certificate; sign in with the token " + env.Token + ")")
	n.say("press Ctrl-C to stop; meanwhile try:")
	fmt.Fprintf(opts.Out, "    QUELL_CLIENT_SERVER=%s QUELL_CLIENT_TOKEN=%s bin/quell incidents list   (HTTPS with a self-signed certificate: %s)\n", env.URL, env.Token, env.Cert)
	fmt.Fprintf(opts.Out, "    %s --kubeconfig %s -n %s get deploy,pods\n", env.kubectl, env.Cluster.Kubeconfig, Namespace)
	<-ctx.Done()
	return nil
}

// Start builds the control plane and the quell server (the store in
// opts.Store, or SQLite in the state directory; opts.Playbooks loaded).
func Start(ctx context.Context, opts Options) (env *Env, err error) {
	n := &narrator{out: opts.Out, start: time.Now()}
	if opts.Out == nil {
		n.out = io.Discard
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n.say("building or reusing the control-plane binaries (the first build takes minutes)")
	bins, err := devcluster.EnsureBinaries(ctx, opts.Build)
	if err != nil {
		return nil, err
	}
	clusterDir := filepath.Join(opts.Dir, "cluster")
	if err := devcluster.Down(clusterDir); err != nil { // a previous run's leftovers
		return nil, fmt.Errorf("clean demo dir: %w", err)
	}
	if err := os.RemoveAll(opts.Dir); err != nil {
		return nil, fmt.Errorf("clean demo dir: %w", err)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create demo dir: %w", err)
	}
	srv, err := prepareServer(opts.Dir)
	if err != nil {
		return nil, err
	}
	started := &Env{URL: srv.url, Token: srv.token, Cert: srv.cert, kubectl: bins.Kubectl}
	// Last to stop: the reserved address, should the server never have
	// served it (once it has, it is closed already).
	started.stops = append(started.stops, func() error { _ = srv.ln.Close(); return nil })
	env = started
	defer func() {
		if err != nil { // what started is stopped (env is nil by then)
			err = errors.Join(err, started.Stop())
		}
	}()

	n.say("starting etcd, kube-apiserver (audit webhook -> quell) and kube-controller-manager")
	cl, err := devcluster.Start(ctx, devcluster.Options{
		Dir: clusterDir, Binaries: bins, Users: Users(), Log: log,
		AuditWebhookURL: srv.url + "/v1/audit", AuditWebhookToken: srv.token,
	})
	if err != nil {
		return nil, err
	}
	env.Cluster = cl
	env.stops = append(env.stops, func() error {
		n.say("tearing the control plane down")
		return cl.Stop()
	})
	n.say("control plane ready; kubeconfig: " + cl.Kubeconfig)

	cfg := config.Default()
	cfg.Server.Listen = srv.addr
	cfg.Server.Store = "sqlite://" + filepath.Join(opts.Dir, "quell.db")
	if opts.Store != "" {
		cfg.Server.Store = opts.Store
	}
	cfg.Server.AuthTokenFile = srv.tokenFile
	cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = srv.cert, srv.key
	cfg.Kubernetes.Kubeconfig = cl.Kubeconfig
	cfg.Kubernetes.Cluster = "demo"
	cfg.Server.Mode = config.ModeEnforce // the demo opts in to acting
	cfg.Response.Playbooks = opts.Playbooks
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	srvCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan struct{})
	served := make(chan error, 1)
	go func() { served <- daemon.RunServerOn(srvCtx, &cfg, log, srv.ln, func(string) { close(ready) }) }()
	env.stops = append(env.stops, func() error {
		stopServer()
		return <-served
	})
	select {
	case <-ready:
	case err := <-served:
		served <- err // for Stop
		return nil, fmt.Errorf("quell server: %w", err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	n.say("quell server ready at " + srv.url + " (" + storeKind(cfg.Server.Store) + " store, built-in rules, token in " + srv.tokenFile + ")")
	if env.API, err = srv.client(); err != nil {
		return nil, err
	}
	env.story = &story{n: n, api: env.API, cl: cl, srv: srv, dir: opts.Dir, sensor: opts.Sensor}
	return env, nil
}

func storeKind(dsn string) string {
	if strings.HasPrefix(dsn, "postgres") {
		return "PostgreSQL"
	}
	return "SQLite"
}

// Play plays the scenarios, narrating each step.
func (e *Env) Play(ctx context.Context) error {
	e.story.n.say("response mode: enforce (the default for a real server is observe)")
	return e.story.play(ctx)
}

// Stop stops the server, then the control plane (what was started).
func (e *Env) Stop() error {
	var err error
	for i := len(e.stops) - 1; i >= 0; i-- {
		err = errors.Join(err, e.stops[i]())
	}
	e.stops = nil
	return err
}

// serverFiles are the demo server's address, token and certificate.
type serverFiles struct {
	addr, url, token, tokenFile, cert, key string
	// ln holds the address from before the control plane starts (its
	// audit webhook needs it) until the server serves it: a port closed
	// meanwhile could be handed to another process.
	ln net.Listener
}

func prepareServer(dir string) (*serverFiles, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pick a port: %w", err)
	}
	addr := l.Addr().String()
	s := &serverFiles{addr: addr, url: "https://" + addr, token: randomToken(), tokenFile: filepath.Join(dir, "tokens"), ln: l}
	if err := os.WriteFile(s.tokenFile, []byte(s.token+" demo\n"), 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("write tokens: %w", err)
	}
	if s.cert, s.key, err = selfSigned(dir); err != nil {
		l.Close()
		return nil, err
	}
	return s, nil
}

// client returns an API client trusting the demo certificate.
func (s *serverFiles) client() (*apiclient.Client, error) {
	pem, err := os.ReadFile(s.cert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := apiclient.New(s.url, s.token)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return c.WithHTTPClient(hc), nil
}

// narrator prints timestamped story lines.
type narrator struct {
	out   io.Writer
	start time.Time
}

func (n *narrator) say(msg string) {
	fmt.Fprintf(n.out, "[%7.3fs] %s\n", time.Since(n.start).Seconds(), msg)
}
