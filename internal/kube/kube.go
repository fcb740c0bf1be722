// Package kube builds Kubernetes client configuration from quell's config:
// an explicit kubeconfig (its current context, or a named one), else the
// in-cluster service account, else $KUBECONFIG. It holds no state.
package kube

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrNoCluster means no cluster configuration was found.
var ErrNoCluster = errors.New("no cluster configured: set kubernetes.kubeconfig, run in a pod, or set KUBECONFIG")

// ErrNoContext means a kubeconfig lacks the context asked for (or has no
// current context).
var ErrNoContext = errors.New("no such context")

// Config returns the REST config for kubeconfig (a path; empty: in-cluster,
// then $KUBECONFIG) and context (a context of that kubeconfig; empty: its
// current context). A context is never looked for in-cluster: with one
// and no kubeconfig, $KUBECONFIG is read.
func Config(kubeconfig, context string) (*rest.Config, error) {
	if kubeconfig == "" && context == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return tune(cfg), nil
		}
	}
	if kubeconfig == "" {
		kubeconfig = os.Getenv("KUBECONFIG")
	}
	if kubeconfig == "" {
		return nil, ErrNoCluster
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: context},
	).ClientConfig()
	if err != nil {
		if context != "" {
			return nil, fmt.Errorf("load kubeconfig %s context %s: %w", kubeconfig, context, err)
		}
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	return tune(cfg), nil
}

// Check reads kubeconfig and reports whether it names context (empty: it
// has a current context), without connecting; a missing context is
// ErrNoContext, with what the file holds instead.
func Check(kubeconfig, context string) error {
	kc, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return fmt.Errorf("cannot read kubeconfig: %w", err)
	}
	names := make([]string, 0, len(kc.Contexts))
	for n := range kc.Contexts {
		names = append(names, n)
	}
	slices.Sort(names)
	switch {
	case context == "" && kc.CurrentContext == "":
		return fmt.Errorf("%w: kubeconfig %s has no current-context; name one of its contexts (%s)", ErrNoContext, kubeconfig, strings.Join(names, ", "))
	case context == "":
		context = kc.CurrentContext
	}
	if _, ok := kc.Contexts[context]; !ok {
		return fmt.Errorf("%w: kubeconfig %s has no context %q (it has: %s)", ErrNoContext, kubeconfig, context, strings.Join(names, ", "))
	}
	return nil
}

// tune raises client-side rate limits: responses must not queue behind
// client throttling.
func tune(cfg *rest.Config) *rest.Config {
	cfg.QPS, cfg.Burst = 500, 1000
	cfg.UserAgent = "quell"
	return cfg
}
