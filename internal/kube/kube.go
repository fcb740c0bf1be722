// Package kube builds Kubernetes client configuration from quell's config:
// an explicit kubeconfig, else the in-cluster service account, else
// $KUBECONFIG. It holds no state.
package kube

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrNoCluster means no cluster configuration was found.
var ErrNoCluster = errors.New("no cluster configured: set kubernetes.kubeconfig, run in a pod, or set KUBECONFIG")

// Config returns the REST config for kubeconfig (a path; empty: in-cluster,
// then $KUBECONFIG).
func Config(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return tune(cfg), nil
		}
		kubeconfig = os.Getenv("KUBECONFIG")
	}
	if kubeconfig == "" {
		return nil, ErrNoCluster
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	return tune(cfg), nil
}

// tune raises client-side rate limits: responses must not queue behind
// client throttling.
func tune(cfg *rest.Config) *rest.Config {
	cfg.QPS, cfg.Burst = 500, 1000
	cfg.UserAgent = "quell"
	return cfg
}
