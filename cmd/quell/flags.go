package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/logging"
)

// globalFlags are accepted by every subcommand.
type globalFlags struct {
	configPath string
	overrides  []config.Override
}

// keyFlag is a string flag that overrides one config key when given.
type keyFlag struct {
	g    *globalFlags
	key  string
	name string
}

func (f *keyFlag) String() string { return "" }
func (f *keyFlag) Set(v string) error {
	f.g.overrides = append(f.g.overrides, config.Override{Key: f.key, Value: v, Source: "flag --" + f.name})
	return nil
}

// configFlag registers a flag that sets the config key.
func (g *globalFlags) configFlag(fs *flag.FlagSet, name, key, usage string) {
	fs.Var(&keyFlag{g: g, key: key, name: name}, name, usage+" (config "+key+", env "+config.EnvName(key)+")")
}

// flagSet returns a FlagSet for a subcommand with the global flags on it.
func (c *cli) flagSet(name string) (*flag.FlagSet, *globalFlags) {
	fs := flag.NewFlagSet("quell "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	g := &globalFlags{}
	fs.StringVar(&g.configPath, "config", "", "YAML config file (env QUELL_CONFIG)")
	g.configFlag(fs, "log-level", "log.level", "log level: debug, info, warn, error")
	g.configFlag(fs, "log-format", "log.format", "log format: text or json")
	return fs, g
}

// parse parses args, turning -h into a clean exit and bad flags into exit 2.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: 0, err: errUsageShown}
		}
		return &exitError{code: 2, err: errUsageShown}
	}
	return nil
}

// load reads and validates the configuration once and builds the logger.
func (c *cli) load(g *globalFlags) (*config.Config, *slog.Logger, error) {
	path := g.configPath
	if path == "" {
		path, _ = c.lookup("QUELL_CONFIG")
	}
	var env []string
	for _, kv := range c.environ {
		if !strings.HasPrefix(kv, "QUELL_CONFIG=") {
			env = append(env, kv)
		}
	}
	cfg, err := config.Load(config.Sources{File: path, Env: env, Overrides: g.overrides})
	if err != nil {
		return nil, nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, logging.New(c.stderr, cfg.Log.Format, cfg.Log.Level), nil
}
