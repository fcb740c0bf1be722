package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/kube"
	"quell.dev/quell/internal/kubemeta"
	"quell.dev/quell/internal/sensor"
)

// sensorListFlag collects a repeatable, comma-separated flag.
type sensorListFlag []string

func (l *sensorListFlag) String() string { return strings.Join(*l, ",") }
func (l *sensorListFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// sensorFlags are the sensor's own flags (not config keys).
type sensorFlags struct {
	node, server, serverCA, tokenFile, output, metricsListen, cluster string
}

func runSensor(ctx context.Context, c *cli, args []string) error {
	fs, g := c.flagSet("sensor")
	var f sensorFlags
	var ruleFiles sensorListFlag
	fs.StringVar(&f.node, "node", "", "name of this node (default $NODE_NAME, else the hostname); only its pods are watched")
	fs.StringVar(&f.server, "server", "", "base URL of the quell server alerts are sent to (--output server)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token for --server")
	fs.StringVar(&f.cluster, "cluster", "", "the cluster this node is in, as the server names it (kubernetes.clusters); default: the server's default cluster")
	fs.StringVar(&f.serverCA, "server-ca-file", "", "PEM certificates to trust for an https --server (default: the system's)")
	fs.StringVar(&f.output, "output", "server", "where alerts go: server, or stdout for Falco-format JSON lines")
	fs.Var(&ruleFiles, "rules", "Falco rules file loaded after the built-in ones; repeatable or comma-separated (config rules.files)")
	g.configFlag(fs, "kubeconfig", "kubernetes.kubeconfig", "kubeconfig of the cluster (default: in-cluster, then $KUBECONFIG; none: no pod metadata)")
	fs.StringVar(&f.metricsListen, "metrics-listen", ":9464", "address serving /metrics and /healthz; empty: none")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(ruleFiles) > 0 {
		g.overrides = append(g.overrides, config.Override{Key: "rules.files", Value: ruleFiles.String(), Source: "flag --rules"})
	}
	cfg, log, err := c.load(g)
	if err != nil {
		return err
	}
	return senseNode(ctx, c, cfg, f, log)
}

// senseNode runs the sensor and its outputs until ctx is done.
func senseNode(ctx context.Context, c *cli, cfg *config.Config, f sensorFlags, log *slog.Logger) error {
	eng, err := loadRules(cfg, log)
	if err != nil {
		return err
	}
	hostname, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	node := f.node
	if node == "" {
		node, _ = c.lookup("NODE_NAME")
	}
	if node == "" {
		node = hostname
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())

	var components []func(context.Context) error
	var out sensor.Output
	switch f.output {
	case "server":
		if f.server == "" {
			return errors.New("--server is required with --output server (or use --output stdout)")
		}
		token := ""
		if f.tokenFile != "" {
			b, err := os.ReadFile(f.tokenFile)
			if err != nil {
				return fmt.Errorf("read token: %w", err)
			}
			token = firstToken(string(b))
		}
		var client *http.Client
		if f.serverCA != "" {
			pool, err := config.ClientCAPool(f.serverCA)
			if err != nil {
				return fmt.Errorf("--server-ca-file: %w", err)
			}
			client = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		}
		so, err := sensor.NewServerOutput(sensor.ServerOptions{URL: f.server, Cluster: f.cluster, Token: token, Client: client, Registry: reg, Log: log, Host: hostname, Dropped: sensor.DroppedFrom(reg)})
		if err != nil {
			return err
		}
		out, components = so, append(components, so.Start)
	case "stdout":
		wo := sensor.NewWriterOutput(c.stdout, 0, reg, log)
		out, components = wo, append(components, wo.Start)
	default:
		return fmt.Errorf("--output %q: want server or stdout", f.output)
	}

	opts := sensor.Options{Engine: eng, Output: out, Hostname: hostname, Node: node, Log: log, Registry: reg}
	rc, err := kube.Config(cfg.Kubernetes.Kubeconfig, "")
	switch {
	case errors.Is(err, kube.ErrNoCluster):
		log.Warn("no cluster configured: alerts carry no pod metadata")
	case err != nil:
		return err
	default:
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("kubernetes client: %w", err)
		}
		pods := kubemeta.NewPodCache(cs, node)
		opts.Pods = pods
		components = append(components, pods.Start)
	}
	s, err := sensor.New(opts)
	if err != nil {
		return err
	}
	components = append(components, s.Start)
	if f.metricsListen != "" {
		components = append(components, func(ctx context.Context) error { return serveSensorMetrics(ctx, f.metricsListen, reg, s) })
	}
	return runSensorParts(ctx, components...)
}

// runSensorParts runs each component until ctx is done or one of them fails,
// then stops the others and returns the first error.
func runSensorParts(ctx context.Context, components ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, start := range components {
		wg.Go(func() {
			err := start(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				once.Do(func() { first = err })
			}
			cancel()
		})
	}
	wg.Wait()
	return first
}

// serveSensorMetrics serves /metrics and /healthz (ready once the sensor sees
// events) until ctx is done.
func serveSensorMetrics(ctx context.Context, addr string, reg *prometheus.Registry, s *sensor.Sensor) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.Ready():
			w.Write([]byte("ok\n"))
		default:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics server: %w", err)
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}

// firstToken reads a token file: the token alone, or the server's token
// file format (TOKEN NAME per line, # comments), whose first token is
// taken.
func firstToken(s string) string {
	for line := range strings.Lines(s) {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			return f[0]
		}
	}
	return ""
}
