package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/rules/replay"
)

// runRules implements "quell rules test" and "quell rules lint".
func runRules(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(c.stderr, rulesUsage)
		if len(args) == 0 {
			return &exitError{code: 2, err: errUsageShown}
		}
		return nil
	}
	switch args[0] {
	case "test":
		return runRulesTest(ctx, c, args[1:])
	case "lint":
		return runRulesLint(c, args[1:])
	}
	fmt.Fprint(c.stderr, rulesUsage)
	return &exitError{code: 2, err: fmt.Errorf("unknown rules command %q", args[0])}
}

const rulesUsage = `usage:
  quell rules test --events FILE.jsonl [--rules FILE ...] [--no-default-rules]
      replay events and print one JSON line per alert
  quell rules lint [--no-default-rules] FILE ...
      validate rules files; exit 1 on errors
`

// repeated collects a flag given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func runRulesTest(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("quell rules test", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	events := fs.String("events", "", "JSON lines file of events to replay (- for stdin)")
	var ruleFiles repeated
	fs.Var(&ruleFiles, "rules", "rules file to load after the built-in rules (repeatable)")
	noDefaults := fs.Bool("no-default-rules", false, "do not load the built-in rules")
	if err := parse(fs, args); err != nil {
		return err
	}
	ruleFiles = append(ruleFiles, fs.Args()...)
	if *events == "" {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("rules test: --events is required")}
	}
	files, err := rules.ReadFiles(ruleFiles...)
	if err != nil {
		return err
	}
	eng, diags := rules.LoadEngine(*noDefaults, files...)
	for _, d := range diags.Warnings() {
		fmt.Fprintln(c.stderr, d)
	}
	if err := diags.Err(); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("rules have errors:\n%w", err)}
	}
	in := os.Stdin
	if *events != "-" {
		f, err := os.Open(*events)
		if err != nil {
			return fmt.Errorf("open events: %w", err)
		}
		defer f.Close()
		in = f
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	st, err := replay.Run(ctx, eng, in, func(a replay.Alert) error { return enc.Encode(a) },
		func(le *replay.LineError) {
			fmt.Fprintf(c.stderr, "%s:%v\n", *events, strings.TrimPrefix(le.Error(), "line "))
		})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "%d events, %d alerts, %d bad lines\n", st.Events, st.Alerts, st.Errors)
	return nil
}

func runRulesLint(c *cli, args []string) error {
	fs := flag.NewFlagSet("quell rules lint", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	noDefaults := fs.Bool("no-default-rules", false, "lint the files alone, without the built-in rules")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("rules lint: no files given")}
	}
	files, err := rules.ReadFiles(fs.Args()...)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	rep := rules.Lint(*noDefaults, files...)
	rep.Write(c.stdout)
	if !rep.OK() {
		return &exitError{code: 1, err: errUsageShown}
	}
	return nil
}
