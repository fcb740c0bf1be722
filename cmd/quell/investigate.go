package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/kube"
	"quell.dev/quell/internal/kubecache"
	"quell.dev/quell/internal/playbook"
)

const investigateUsage = `usage: quell investigate pod NAMESPACE/NAME [--kubeconfig FILE | --cluster NAME] [--severity SEVERITY] [-o text|json|yaml]
Reads the cluster (get, list and watch only: deploy/rbac/investigate.yaml) and
prints the pod's report. Who created it comes from audit events, which only a
running server receives: here it is unknown (see GET /v1/incidents/{id}/investigation).
The suggested response is the built-in playbook's for an alert of --severity
(default critical).`

// runInvestigate builds a pod's investigation report from the cluster.
func runInvestigate(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] != "pod" {
		fmt.Fprintln(c.stderr, investigateUsage)
		return &exitError{code: 2, err: errUsageShown}
	}
	fs, g := c.flagSet("investigate pod")
	g.configFlag(fs, "kubeconfig", "kubernetes.kubeconfig", "kubeconfig of the cluster")
	clusterName := fs.String("cluster", "", "the cluster of kubernetes.clusters to investigate in; default: kubernetes.default_cluster")
	sevText := fs.String("severity", "critical", "severity of the alert the suggested response is for")
	output := fs.String("o", "text", "output: text, json or yaml")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the cluster's objects to load")
	// NAMESPACE/NAME may come before the flags or after them.
	rest, positional := args[1:], []string{}
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		positional, rest = rest[:1], rest[1:]
	}
	if err := parse(fs, rest); err != nil {
		return err
	}
	positional = append(positional, fs.Args()...)
	if len(positional) != 1 {
		return &exitError{code: 2, err: errors.New("investigate pod: want exactly one NAMESPACE/NAME")}
	}
	ns, name, ok := strings.Cut(positional[0], "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return &exitError{code: 2, err: fmt.Errorf("investigate pod: %q is not NAMESPACE/NAME", positional[0])}
	}
	sev, err := incident.ParseSeverity(*sevText)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("investigate pod: --severity: %w", err)}
	}
	switch *output {
	case "text", "json", "yaml":
	default:
		return &exitError{code: 2, err: fmt.Errorf("investigate pod: -o %q: want text, json or yaml", *output)}
	}
	cfg, _, err := c.load(g)
	if err != nil {
		return err
	}
	cl, ok := cfg.Kubernetes.Find(*clusterName)
	if !ok {
		return &exitError{code: 2, err: fmt.Errorf("investigate pod: --cluster %q is not configured", *clusterName)}
	}
	rc, err := kube.Config(cl.Kubeconfig, cl.Context)
	if err != nil {
		return fmt.Errorf("investigate pod: %w", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("investigate pod: kubernetes client: %w", err)
	}
	objs, err := kubecache.New(cs, investigate.Kinds...)
	if err != nil {
		return err
	}
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); objs.Start(cctx) }()
	defer func() { stop(); <-done }()
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := objs.WaitSynced(wctx); err != nil {
		return fmt.Errorf("investigate pod: %w (can this identity list and watch what deploy/rbac/investigate.yaml grants?)", err)
	}
	iv, err := investigate.New(investigate.Options{Objects: objs, Client: cs})
	if err != nil {
		return err
	}
	r, err := iv.Pod(ctx, ns, name)
	if err != nil {
		return err
	}
	r.Impact.Suggested = playbook.Suggest(sev, r)
	if *output == "text" {
		return r.WriteText(c.stdout)
	}
	return printAs(c.stdout, *output, r)
}
