package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"quell.dev/quell/internal/apiclient"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/respond"
)

const respondUsage = `usage: quell respond [--cluster NAME] --pod NAMESPACE/POD --action ACTION [--dry-run] [--reason TEXT] [-o text|json|yaml]
       quell respond [--cluster NAME] --node NODE --action cordon-node [--dry-run] [--reason TEXT] [-o text|json|yaml]
       quell respond restore ID
actions: terminate-pod, suspend-workload, isolate-pod, label, annotate, capture-evidence; cordon-node for a node
common flags: --server URL (client.server) --token TOKEN (client.token)`

// runRespond asks the server to run one action through its response
// engine, with the engine's guards, or to restore an incident.
func runRespond(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(c.stderr, respondUsage)
		return &exitError{code: 2, err: errUsageShown}
	}
	if args[0] == "restore" {
		return runRespondRestore(ctx, c, args[1:])
	}
	fs, g := c.flagSet("respond")
	clientFlags(fs, g)
	var pod, node, reason string
	var req respond.Request
	fs.StringVar(&req.Cluster, "cluster", "", "the cluster of the pod or node, as the server names it; default: the server's default cluster")
	fs.StringVar(&pod, "pod", "", "the pod, as NAMESPACE/NAME")
	fs.StringVar(&node, "node", "", "the node (cordon-node)")
	fs.StringVar(&req.Action, "action", "", "the action to run")
	fs.BoolVar(&req.DryRun, "dry-run", false, "send every write with server-side dryRun=All: nothing persists")
	fs.StringVar(&reason, "reason", "", "why, recorded with the request")
	output := fs.String("o", "", "output: text, json or yaml")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := fillTarget(&req, pod, node); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("respond: %w", err)}
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("respond: unexpected argument %q", fs.Arg(0))}
	}
	req.Reason = reason
	cl, err := c.client(g)
	if err != nil {
		return err
	}
	inc, rerr := cl.Respond(ctx, req)
	var ae *apiclient.Error
	if errors.As(rerr, &ae) && ae.Status == http.StatusBadRequest {
		return &exitError{code: 2, err: fmt.Errorf("respond: %w", rerr)}
	}
	if inc == nil {
		return rerr
	}
	full, err := cl.Get(ctx, inc.ID)
	if err != nil {
		return errors.Join(rerr, err)
	}
	if *output == "" || *output == "text" {
		err = showResponse(c.stdout, full)
	} else {
		err = printAs(c.stdout, *output, full)
	}
	return errors.Join(rerr, err)
}

// fillTarget checks --pod and --node and sets req's target.
func fillTarget(req *respond.Request, pod, node string) error {
	switch {
	case req.Action == "":
		return errors.New("--action is required")
	case pod != "" && node != "":
		return errors.New("give --pod or --node, not both")
	case node != "":
		req.Node = node
		return nil
	case pod == "":
		return errors.New("--pod NAMESPACE/NAME or --node NAME is required")
	}
	ns, name, ok := strings.Cut(pod, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("--pod %q: want NAMESPACE/NAME", pod)
	}
	req.Namespace, req.Pod = ns, name
	return nil
}

func runRespondRestore(ctx context.Context, c *cli, args []string) error {
	fs, g := c.flagSet("respond restore")
	clientFlags(fs, g)
	if err := parse(fs, args); err != nil {
		return err
	}
	id, err := incidentArg("respond restore", fs.Args())
	if err != nil {
		return err
	}
	cl, err := c.client(g)
	if err != nil {
		return err
	}
	return restoreIncident(ctx, c.stdout, cl, id)
}

// responseEntries are the timeline entries that tell what a response did.
var responseEntries = map[incident.EntryType]bool{
	incident.EntryDecision: true, incident.EntryApproval: true, incident.EntryActionStarted: true,
	incident.EntryActionSucceeded: true, incident.EntryActionFailed: true, incident.EntryEvidence: true,
	incident.EntryVerification: true, incident.EntryRestore: true,
}

// showResponse prints the incident's id and state and what the response
// to the latest alert (the request) recorded, led by the decision in force
// (recorded once per incident, so possibly for an earlier alert).
func showResponse(w io.Writer, inc *apiclient.IncidentWithTimeline) error {
	fmt.Fprintf(w, "incident %d: %s (%s)\n", inc.ID, inc.State, inc.Title)
	from, decision := 0, -1
	for i, e := range inc.Timeline {
		switch e.Type {
		case incident.EntryAlert:
			from = i
		case incident.EntryDecision:
			decision = i
		}
	}
	var show []incident.Entry
	if decision >= 0 && decision < from {
		show = append(show, inc.Timeline[decision])
	}
	for _, e := range inc.Timeline[from:] {
		if responseEntries[e.Type] {
			show = append(show, e)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range show {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", e.Time.Local().Format("15:04:05.000"), e.Type, e.Summary)
	}
	return tw.Flush()
}
