package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"quell.dev/quell/internal/apiclient"
)

const incidentsUsage = `usage: quell incidents list [--state S] [--severity S] [--cluster C] [--namespace N] [--rule R] [--since 1h] [--limit N] [-o table|json|yaml]
       quell incidents show ID [-o text|json|yaml]
       quell incidents resolve|false-positive|reopen ID [--reason TEXT]
       quell incidents note ID TEXT
       quell incidents restore ID
       quell incidents approve|veto ID
common flags: --server URL (client.server) --token TOKEN (client.token)`

func runIncidents(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(c.stderr, incidentsUsage)
		return &exitError{code: 2, err: errUsageShown}
	}
	verb, args := args[0], args[1:]
	fs, g := c.flagSet("incidents " + verb)
	clientFlags(fs, g)
	output := fs.String("o", "", "output: table (list), text (show), json or yaml")
	q := url.Values{}
	var reason string
	switch verb {
	case "list":
		for _, name := range []string{"state", "severity", "namespace", "rule", "since", "limit", "cluster", "after"} {
			fs.Func(name, "filter by "+name, func(v string) error { q.Set(name, v); return nil })
		}
	case "resolve", "false-positive", "reopen":
		fs.StringVar(&reason, "reason", "", "why")
	case "show", "note", "restore", "approve", "veto":
	default:
		fmt.Fprintln(c.stderr, incidentsUsage)
		return &exitError{code: 2, err: fmt.Errorf("unknown incidents command %q", verb)}
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	cl, err := c.client(g)
	if err != nil {
		return err
	}
	rest := fs.Args()
	if verb == "list" {
		return listIncidents(ctx, c.stdout, cl, q, *output)
	}
	id, err := incidentArg("incidents "+verb, rest)
	if err != nil {
		return err
	}
	switch verb {
	case "show":
		inc, err := cl.Get(ctx, id)
		if err != nil {
			return err
		}
		if *output == "" || *output == "text" {
			return showIncident(c.stdout, inc)
		}
		return printAs(c.stdout, *output, inc)
	case "restore":
		return restoreIncident(ctx, c.stdout, cl, id)
	case "approve", "veto":
		return decideApprovals(ctx, c.stdout, cl, id, verb == "veto")
	case "note":
		text := strings.Join(rest[1:], " ")
		if text == "" {
			return &exitError{code: 2, err: errors.New("incidents note: the note text is required")}
		}
		if err := cl.Note(ctx, id, text); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "note added to incident %d\n", id)
		return nil
	default:
		inc, err := cl.Transition(ctx, id, verb, reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "incident %d is now %s\n", inc.ID, inc.State)
		return nil
	}
}

// clientFlags registers the flags of every command that talks to a server.
func clientFlags(fs *flag.FlagSet, g *globalFlags) {
	g.configFlag(fs, "server", "client.server", "quell server URL")
	g.configFlag(fs, "token", "client.token", "bearer token")
}

// client loads the configuration and returns a client of its server.
func (c *cli) client(g *globalFlags) (*apiclient.Client, error) {
	cfg, _, err := c.load(g)
	if err != nil {
		return nil, err
	}
	if cfg.Client.Token == "" {
		return nil, errors.New("no token: pass --token or set QUELL_CLIENT_TOKEN")
	}
	return apiclient.New(cfg.Client.Server, cfg.Client.Token)
}

// incidentArg reads the incident ID that must lead args.
func incidentArg(cmd string, args []string) (int64, error) {
	if len(args) == 0 {
		return 0, &exitError{code: 2, err: fmt.Errorf("%s: an incident ID is required", cmd)}
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, &exitError{code: 2, err: fmt.Errorf("%s: %q is not an incident ID", cmd, args[0])}
	}
	return id, nil
}

// restoreIncident reverts every reversible action of incident id.
func restoreIncident(ctx context.Context, w io.Writer, cl *apiclient.Client, id int64) error {
	recs, err := cl.Restore(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "incident %d: %d actions restored\n", id, len(recs))
	return nil
}

// decideApprovals approves (or vetoes) the pending approvals of incident id.
func decideApprovals(ctx context.Context, w io.Writer, cl *apiclient.Client, id int64, veto bool) error {
	decide, verb := cl.Approve, "approved"
	if veto {
		decide, verb = cl.Veto, "vetoed"
	}
	n, err := decide(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "incident %d: %d pending actions %s\n", id, n, verb)
	return nil
}

func listIncidents(ctx context.Context, w io.Writer, cl *apiclient.Client, q url.Values, output string) error {
	list, next, err := cl.List(ctx, q)
	if err != nil {
		return err
	}
	if output != "" && output != "table" {
		return printAs(w, output, map[string]any{"incidents": list, "next": next})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSEVERITY\tCLUSTER\tTARGET\tALERTS\tLAST SEEN\tTITLE")
	for _, inc := range list {
		t := inc.Target
		target := string(t.Kind) + " " + strings.Trim(t.Namespace+"/"+t.Name, "/")
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", inc.ID, inc.State, inc.Severity, t.Cluster, target,
			inc.AlertCount+inc.DedupCount, inc.LastSeen.Local().Format(time.DateTime), inc.Title)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(w, "more: --after %s\n", next)
	}
	return nil
}

func showIncident(w io.Writer, inc *apiclient.IncidentWithTimeline) error {
	t := inc.Target
	fmt.Fprintf(w, "Incident %d: %s\n", inc.ID, inc.Title)
	fmt.Fprintf(w, "  state     %s\n  severity  %s\n  target    %s %s/%s (cluster %s)\n", inc.State, inc.Severity, t.Kind, t.Namespace, t.Name, t.Cluster)
	fmt.Fprintf(w, "  rules     %s\n  alerts    %d recorded, %d duplicates\n  seen      %s .. %s\n\nTimeline:\n",
		strings.Join(inc.Rules, ", "), inc.AlertCount, inc.DedupCount,
		inc.FirstSeen.Local().Format(time.DateTime), inc.LastSeen.Local().Format(time.DateTime))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range inc.Timeline {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Time.Local().Format("15:04:05.000"), e.Type, e.Actor, e.Summary)
	}
	return tw.Flush()
}

// printAs writes v as json or yaml.
func printAs(w io.Writer, format string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	switch format {
	case "json":
		_, err = fmt.Fprintln(w, string(data))
	case "yaml":
		y, yerr := yaml.JSONToYAML(data)
		if yerr != nil {
			return yerr
		}
		_, err = w.Write(y)
	default:
		return &exitError{code: 2, err: fmt.Errorf("-o %q: want table, text, json or yaml", format)}
	}
	return err
}
