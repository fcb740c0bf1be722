// Command quell is the single binary of quell: the server, the node sensor,
// the rules tools, manual responses and the local development cluster.
//
// main stays thin: it builds the root context from signals and hands the
// arguments to run, which the tests call directly.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"quell.dev/quell/internal/bench"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signalContext()
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Environ())
	if err != nil {
		if !errors.Is(err, errUsageShown) {
			fmt.Fprintln(os.Stderr, "quell:", err)
		}
		var ec exitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

// signalContext returns the root context, cancelled on the first SIGINT or
// SIGTERM; a second signal exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		cancel()
		<-ch
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// exitCoder is an error that asks for a specific process exit code.
type exitCoder interface {
	error
	ExitCode() int
}

// exitError carries an exit code without printing anything more.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// errUsageShown reports that usage text was already printed.
var errUsageShown = errors.New("usage shown")

// cli is what every subcommand gets: its output streams and the environment.
type cli struct {
	stdout  io.Writer
	stderr  io.Writer
	environ []string                    // KEY=VALUE pairs
	lookup  func(string) (string, bool) // reads environ
}

func newCLI(stdout, stderr io.Writer, environ []string) *cli {
	return &cli{stdout: stdout, stderr: stderr, environ: environ, lookup: func(name string) (string, bool) {
		for i := len(environ) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(environ[i], "="); ok && k == name {
				return v, true
			}
		}
		return "", false
	}}
}

// command is one entry of the subcommand table.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
}

func commands() []command {
	return []command{
		{"version", "print the version", runVersion},
		{"rules", "check rules files and replay events through them (rules lint|test)", runRules},
		{"playbooks", "check response playbook files (playbooks lint)", runPlaybooks},
		{"sensor", "run the eBPF node sensor: process and connect events, rules, alerts", runSensor},
		{"server", "run the server: ingest, incidents, API, metrics", runServer},
		{"incidents", "list, show, resolve, restore, approve and veto incidents on a server", runIncidents},
		{"respond", "run one response action on a pod or node through the server, or restore an incident", runRespond},
		{"investigate", "report on a pod: origin, owners, configuration risk, access, exposure, dependencies, impact", runInvestigate},
		{"bench", "measure rules events/s, ingest alerts/s, alert -> contained, sensor exec/s and CPU on this machine", runBench},
		{"dev", "local development: a real control plane (dev cluster up|down) and the demo", runDev},
	}
}

// run executes quell with the given arguments (without the program name) and
// environment (KEY=VALUE pairs).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) error {
	c := newCLI(stdout, stderr, environ)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return &exitError{code: 2, err: errUsageShown}
		}
		return nil
	}
	if args[0] == bench.GeneratorCommand && len(args) == 2 { // quell bench's exec generator, a fresh process
		d, err := time.ParseDuration(args[1])
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		_, err = fmt.Fprintln(stdout, bench.Generate(d))
		return err
	}
	for _, cmd := range commands() {
		if cmd.name == args[0] {
			return cmd.run(ctx, c, args[1:])
		}
	}
	usage(stderr)
	return &exitError{code: 2, err: fmt.Errorf("unknown command %q", args[0])}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: quell <command> [flags]\n\ncommands:")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w, "\nRun 'quell <command> -h' for a command's flags.")
}
