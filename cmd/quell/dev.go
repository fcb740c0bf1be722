package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/demo"
	"quell.dev/quell/internal/devcluster"
)

func runDev(ctx context.Context, c *cli, args []string) error {
	switch {
	case len(args) >= 2 && args[0] == "cluster" && args[1] == "up":
		return runClusterUp(ctx, c, args[2:])
	case len(args) >= 2 && args[0] == "cluster" && args[1] == "down":
		return runClusterDown(ctx, c, args[2:])
	case len(args) >= 1 && args[0] == "demo":
		return runDemo(ctx, c, args[1:])
	case len(args) >= 1 && args[0] == "binaries":
		return runBinaries(ctx, c, args[1:])
	case len(args) >= 1 && args[0] == "helm":
		return runHelm(ctx, c, args[1:])
	}
	fmt.Fprintln(c.stderr, "usage: quell dev cluster up --dir DIR [--audit-webhook URL]\n       quell dev cluster down --dir DIR\n       quell dev demo [--exit]\n       quell dev binaries\n       quell dev helm")
	return &exitError{code: 2, err: errUsageShown}
}

// devFlagSet is a dev subcommand's flag set with the binary cache flag.
func (c *cli) devFlagSet(name string) (*flag.FlagSet, *globalFlags) {
	fs, g := c.flagSet(name)
	g.configFlag(fs, "k8s-bin-dir", "dev.k8s_bin_dir", "cache of the built control-plane binaries")
	return fs, g
}

// devLoad parses args, loads the config and returns the control-plane build
// options every dev command takes.
func (c *cli) devLoad(fs *flag.FlagSet, g *globalFlags, args []string) (*config.Config, *slog.Logger, devcluster.BuildOptions, error) {
	if err := parse(fs, args); err != nil {
		return nil, nil, devcluster.BuildOptions{}, err
	}
	cfg, log, err := c.load(g)
	if err != nil {
		return nil, nil, devcluster.BuildOptions{}, err
	}
	return cfg, log, devcluster.BuildOptions{BinDir: cfg.Dev.K8sBinDir, InstallEtcd: true, Log: log}, nil
}

func runClusterUp(ctx context.Context, c *cli, args []string) error {
	fs, g := c.devFlagSet("dev cluster up")
	dir := fs.String("dir", ".quell/cluster", "state directory of the cluster")
	webhook := fs.String("audit-webhook", "", "send the API server's audit events to this URL")
	webhookToken := fs.String("audit-webhook-token", "", "bearer token the audit webhook sends")
	_, log, bo, err := c.devLoad(fs, g, args)
	if err != nil {
		return err
	}
	bins, err := devcluster.EnsureBinaries(ctx, bo)
	if err != nil {
		return err
	}
	cl, err := devcluster.Up(ctx, devcluster.Options{
		Dir: *dir, Binaries: bins, AuditWebhookURL: *webhook, AuditWebhookToken: *webhookToken,
		Users: demo.Users(), Log: log,
	})
	if err != nil {
		return fmt.Errorf("cluster up: %w", err)
	}
	fmt.Fprintln(c.stdout, cl.Kubeconfig)
	return nil
}

func runClusterDown(ctx context.Context, c *cli, args []string) error {
	fs, g := c.flagSet("dev cluster down")
	dir := fs.String("dir", ".quell/cluster", "state directory of the cluster")
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, _, err := c.load(g); err != nil {
		return err
	}
	abs, _ := filepath.Abs(*dir)
	if err := devcluster.Down(abs); err != nil {
		return fmt.Errorf("cluster down: %w", err)
	}
	return nil
}

func runDemo(ctx context.Context, c *cli, args []string) error {
	fs, g := c.devFlagSet("dev demo")
	exit := fs.Bool("exit", false, "finish and tear down instead of waiting for Ctrl-C")
	dir := fs.String("dir", ".quell/demo", "state directory of the demo")
	_, log, bo, err := c.devLoad(fs, g, args)
	if err != nil {
		return err
	}
	opts := demo.Options{Dir: *dir, Build: bo, Exit: *exit, Out: c.stdout, Log: log}
	if os.Geteuid() == 0 { // the sensor loads eBPF programs: root only
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this binary: %w", err)
		}
		opts.Sensor = []string{exe}
	}
	return demo.Run(ctx, opts)
}

func runBinaries(ctx context.Context, c *cli, args []string) error {
	fs, g := c.devFlagSet("dev binaries")
	_, _, bo, err := c.devLoad(fs, g, args)
	if err != nil {
		return err
	}
	b, err := devcluster.EnsureBinaries(ctx, bo)
	if err != nil {
		return err
	}
	for _, p := range []string{b.Etcd, b.APIServer, b.ControllerManager, b.Kubectl} {
		fmt.Fprintln(c.stdout, p)
	}
	return nil
}

// runHelm builds (once, cached) the pinned helm and prints its path.
func runHelm(ctx context.Context, c *cli, args []string) error {
	fs, g := c.flagSet("dev helm")
	if err := parse(fs, args); err != nil {
		return err
	}
	_, log, err := c.load(g)
	if err != nil {
		return err
	}
	p, err := devcluster.EnsureHelm(ctx, devcluster.HelmOptions{Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, p)
	return nil
}
