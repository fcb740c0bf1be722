package main

import (
	"context"
	"log/slog"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/daemon"
	"quell.dev/quell/internal/rules"
)

func runServer(ctx context.Context, c *cli, args []string) error {
	fs, g := c.flagSet("server")
	g.configFlag(fs, "listen", "server.listen", "address to serve on")
	g.configFlag(fs, "store", "server.store", "incident store: sqlite://PATH or postgres://...")
	g.configFlag(fs, "mode", "server.mode", "response mode: observe, dry-run or enforce")
	g.configFlag(fs, "auth-token-file", "server.auth_token_file", "bearer tokens, one per line")
	g.configFlag(fs, "kubeconfig", "kubernetes.kubeconfig", "kubeconfig of the cluster")
	g.configFlag(fs, "cluster", "kubernetes.cluster", "name of the cluster on incidents")
	g.configFlag(fs, "tls-cert-file", "server.tls_cert_file", "serve HTTPS with this certificate")
	g.configFlag(fs, "tls-key-file", "server.tls_key_file", "key of --tls-cert-file")
	g.configFlag(fs, "tls-client-ca-file", "server.tls_client_ca_file", "require client certificates signed by a CA in this PEM file (mutual TLS)")
	g.configFlag(fs, "rules", "rules.files", "comma-separated Falco rules files, loaded after the built-in ones")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, log, err := c.load(g)
	if err != nil {
		return err
	}
	return daemon.RunServer(ctx, cfg, log, nil)
}

// loadRules loads the configured rules files after the built-in ones.
func loadRules(cfg *config.Config, log *slog.Logger) (*rules.Engine, error) {
	return daemon.LoadRules(cfg, log)
}
