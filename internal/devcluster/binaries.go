package devcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
)

// KubernetesVersion is the version of kube-apiserver and
// kube-controller-manager that tools/k8s/go.mod pins.
const KubernetesVersion = "v1.36.3"

// buildRecipe is how the binaries are linked; a cache built another way is
// rebuilt. The version stamps make the servers report KubernetesVersion.
const buildRecipe = "-X k8s.io/component-base/version.gitVersion=" + KubernetesVersion +
	" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36" +
	" -X k8s.io/component-base/version.gitTreeState=clean" +
	" -X k8s.io/client-go/pkg/version.gitVersion=" + KubernetesVersion

// Binaries are the paths of the control-plane programs.
type Binaries struct {
	Etcd              string
	APIServer         string
	ControllerManager string
	Kubectl           string
}

// BuildOptions says where binaries are cached and built from.
type BuildOptions struct {
	// BinDir caches the built binaries; empty means DefaultBinDir().
	BinDir string
	// ToolsDir is the tools/k8s module; empty means found by walking up
	// from the working directory and from the running executable.
	ToolsDir string
	// InstallEtcd lets EnsureBinaries run apt-get when etcd is missing.
	InstallEtcd bool
	Log         *slog.Logger
}

// ErrNoBinaries is returned (wrapped) when the binaries are absent and cannot
// be built here.
var ErrNoBinaries = errors.New("control-plane binaries unavailable")

// DefaultBinDir is $XDG_CACHE_HOME/quell/k8s/VERSION, or ~/.cache/... .
func DefaultBinDir() string { return cacheDir("k8s", KubernetesVersion) }

// EnsureBinaries returns the binaries, building the Kubernetes ones once
// (serialised across processes with a file lock) when the cache lacks them.
func EnsureBinaries(ctx context.Context, opts BuildOptions) (Binaries, error) {
	log := orDiscard(opts.Log)
	dir := opts.BinDir
	if dir == "" {
		dir = DefaultBinDir()
	}
	etcd, err := findEtcd(ctx, opts.InstallEtcd, log)
	if err != nil {
		return Binaries{}, err
	}
	const apiserver, cm, kubectl = "k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager", "k8s.io/kubernetes/cmd/kubectl"
	k8s := cachedBuild{
		dir: dir, module: "k8s", toolsDir: opts.ToolsDir, ldflags: buildRecipe, log: log,
		packages: []string{apiserver, cm, kubectl},
		hint:     "run from a quell checkout or set dev.k8s_bin_dir",
	}
	if err := k8s.ensure(ctx); err != nil {
		return Binaries{}, err
	}
	return Binaries{Etcd: etcd, APIServer: k8s.path(apiserver), ControllerManager: k8s.path(cm), Kubectl: k8s.path(kubectl)}, nil
}

func findEtcd(ctx context.Context, install bool, log *slog.Logger) (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if !install || os.Geteuid() != 0 {
		return "", fmt.Errorf("%w: etcd not found in PATH (apt-get install etcd-server)", ErrNoBinaries)
	}
	log.Info("installing etcd-server with apt-get")
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "etcd-server")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: apt-get install etcd-server: %v\n%s", ErrNoBinaries, err, out)
	}
	return exec.LookPath("etcd")
}
