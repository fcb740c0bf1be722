package devcluster

import (
	"context"
	"log/slog"
)

// HelmVersion is the version of helm that tools/helm/go.mod pins.
const HelmVersion = "v4.3.2"

// helmRecipe is how helm is linked; the stamp makes `helm version` report
// HelmVersion.
const helmRecipe = "-X helm.sh/helm/v4/internal/version.version=" + HelmVersion

// HelmOptions says where helm is cached and built from.
type HelmOptions struct {
	// Dir caches the binary; empty means DefaultHelmDir().
	Dir string
	// ToolsDir is the tools/helm module; empty means found as for
	// BuildOptions.ToolsDir.
	ToolsDir string
	Log      *slog.Logger
}

// DefaultHelmDir is $XDG_CACHE_HOME/quell/helm/VERSION, or ~/.cache/... .
func DefaultHelmDir() string { return cacheDir("helm", HelmVersion) }

// EnsureHelm returns the path of the helm binary, building it once from
// tools/helm (serialised across processes with a file lock) when the
// cache lacks it. When it cannot be built the error wraps ErrNoBinaries.
func EnsureHelm(ctx context.Context, opts HelmOptions) (string, error) {
	dir := opts.Dir
	if dir == "" {
		dir = DefaultHelmDir()
	}
	const pkg = "helm.sh/helm/v4/cmd/helm"
	b := cachedBuild{dir: dir, module: "helm", toolsDir: opts.ToolsDir, ldflags: helmRecipe, packages: []string{pkg},
		hint: "run from a quell checkout", log: orDiscard(opts.Log)}
	if err := b.ensure(ctx); err != nil {
		return "", err
	}
	return b.path(pkg), nil
}
