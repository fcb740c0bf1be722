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

// Run plays the demo.
func Run(ctx context.Context, opts Options) (err error) {
	n := &narrator{out: opts.Out, start: time.Now()}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n.say("building or reusing the control-plane binaries (the first build takes minutes)")
	bins, err := devcluster.EnsureBinaries(ctx, opts.Build)
	if err != nil {
		return err
	}
	clusterDir := filepath.Join(opts.Dir, "cluster")
	if err := devcluster.Down(clusterDir); err != nil { // a previous run's leftovers
		return fmt.Errorf("clean demo dir: %w", err)
	}
	if err := os.RemoveAll(opts.Dir); err != nil {
		return fmt.Errorf("clean demo dir: %w", err)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return fmt.Errorf("create demo dir: %w", err)
	}
	srv, err := prepareServer(opts.Dir)
	if err != nil {
		return err
	}

	n.say("starting etcd, kube-apiserver (audit webhook -> quell) and kube-controller-manager")
	cl, err := devcluster.Start(ctx, devcluster.Options{
		Dir: clusterDir, Binaries: bins, Users: Users(), Log: log,
		AuditWebhookURL: srv.url + "/v1/audit", AuditWebhookToken: srv.token,
	})
	if err != nil {
		return err
	}
	defer func() {
		n.say("tearing the control plane down")
		err = errors.Join(err, cl.Stop())
	}()
	n.say("control plane ready; kubeconfig: " + cl.Kubeconfig)

	cfg := config.Default()
	cfg.Server.Listen = srv.addr
	cfg.Server.Store = "sqlite://" + filepath.Join(opts.Dir, "quell.db")
	cfg.Server.AuthTokenFile = srv.tokenFile
	cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = srv.cert, srv.key
	cfg.Kubernetes.Kubeconfig = cl.Kubeconfig
	cfg.Kubernetes.Cluster = "demo"
	cfg.Server.Mode = config.ModeEnforce // the demo opts in to acting
	srvCtx, stopServer := context.WithCancel(ctx)
	ready := make(chan struct{})
	served := make(chan error, 1)
	go func() { served <- daemon.RunServer(srvCtx, &cfg, log, func(string) { close(ready) }) }()
	defer func() {
		stopServer()
		err = errors.Join(err, <-served)
	}()
	select {
	case <-ready:
	case err := <-served:
		return fmt.Errorf("quell server: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
	n.say("quell server ready at " + srv.url + " (SQLite store, built-in rules, token in " + srv.tokenFile + ")")

	api, err := srv.client()
	if err != nil {
		return err
	}
	s := &story{n: n, api: api, cl: cl, srv: srv, dir: opts.Dir, sensor: opts.Sensor}
	n.say("response mode: enforce (the default for a real server is observe)")
	if err := s.play(ctx); err != nil {
		return err
	}
	if opts.Exit {
		return nil
	}
	n.say("the console is at " + srv.url + "/ui/ (self-signed certificate; sign in with the token " + srv.token + ")")
	n.say("press Ctrl-C to stop; meanwhile try:")
	fmt.Fprintf(opts.Out, "    QUELL_CLIENT_SERVER=%s QUELL_CLIENT_TOKEN=%s bin/quell incidents list   (HTTPS with a self-signed certificate: %s)\n", srv.url, srv.token, srv.cert)
	fmt.Fprintf(opts.Out, "    %s --kubeconfig %s -n %s get deploy,pods\n", bins.Kubectl, cl.Kubeconfig, Namespace)
	<-ctx.Done()
	return nil
}

// serverFiles are the demo server's address, token and certificate.
type serverFiles struct {
	addr, url, token, tokenFile, cert, key string
}

func prepareServer(dir string) (*serverFiles, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pick a port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &serverFiles{addr: addr, url: "https://" + addr, token: randomToken(), tokenFile: filepath.Join(dir, "tokens")}
	if err := os.WriteFile(s.tokenFile, []byte(s.token+" demo\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write tokens: %w", err)
	}
	if s.cert, s.key, err = selfSigned(dir); err != nil {
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
