//go:build tools

// Package tools pins the helm command that renders quell's chart in tests
// and in `make helm`.
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
