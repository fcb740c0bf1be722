package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond"
)

// runPlaybooks validates playbook files as the server would at start and
// on reload: every problem at once, each with its file, line and path.
func runPlaybooks(_ context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] != "lint" {
		fmt.Fprint(c.stderr, "usage:\n  quell playbooks lint FILE ...\n      validate playbook files; exit 1 on errors\n")
		return &exitError{code: 2, err: errUsageShown}
	}
	fs := flag.NewFlagSet("quell playbooks lint", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return &exitError{code: 2, err: errors.New("playbooks lint: no files given")}
	}
	p, err := playbook.LoadPolicy(respond.DefaultRegistry(), fs.Args()...)
	if err != nil {
		fmt.Fprintln(c.stdout, err)
		return &exitError{code: 1, err: errUsageShown}
	}
	fmt.Fprintf(c.stdout, "ok: %d playbooks, %d allowlist entries\n", len(p.Playbooks), len(p.Allow))
	for _, pb := range p.Playbooks {
		fmt.Fprintf(c.stdout, "  %s (%s): %d steps\n", pb.Name, pb.Where, len(pb.Steps))
	}
	return nil
}
