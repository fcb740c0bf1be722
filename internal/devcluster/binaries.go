package devcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
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

	recipe string // stamp file recording buildRecipe
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
func DefaultBinDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "quell", "k8s", KubernetesVersion)
}

// EnsureBinaries returns the binaries, building the Kubernetes ones once
// (serialised across processes with a file lock) when the cache lacks them.
func EnsureBinaries(ctx context.Context, opts BuildOptions) (Binaries, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := opts.BinDir
	if dir == "" {
		dir = DefaultBinDir()
	}
	b := Binaries{
		recipe:            filepath.Join(dir, ".recipe"),
		APIServer:         filepath.Join(dir, "kube-apiserver"),
		ControllerManager: filepath.Join(dir, "kube-controller-manager"),
		Kubectl:           filepath.Join(dir, "kubectl"),
	}
	etcd, err := findEtcd(ctx, opts.InstallEtcd, log)
	if err != nil {
		return Binaries{}, err
	}
	b.Etcd = etcd
	if b.present() {
		return b, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("create binary cache: %w", err)
	}
	unlock, err := lockFile(filepath.Join(dir, ".build.lock"))
	if err != nil {
		return Binaries{}, err
	}
	defer unlock()
	if b.present() { // built by another process while we waited
		return b, nil
	}
	tools := opts.ToolsDir
	if tools == "" {
		if tools, err = findToolsDir(); err != nil {
			return Binaries{}, err
		}
	}
	log.Info("building control-plane binaries", "version", KubernetesVersion, "tools", tools, "into", dir)
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return Binaries{}, fmt.Errorf("create build dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", buildRecipe, "-o", tmp+"/",
		"k8s.io/kubernetes/cmd/kube-apiserver",
		"k8s.io/kubernetes/cmd/kube-controller-manager",
		"k8s.io/kubernetes/cmd/kubectl")
	cmd.Dir = tools
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return Binaries{}, fmt.Errorf("%w: go build in %s: %v\n%s", ErrNoBinaries, tools, err, out.String())
	}
	for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kubectl"} {
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
			return Binaries{}, fmt.Errorf("install %s: %w", name, err)
		}
	}
	if err := os.WriteFile(b.recipe, []byte(buildRecipe), 0o644); err != nil {
		return Binaries{}, fmt.Errorf("write build stamp: %w", err)
	}
	return b, nil
}

func (b Binaries) present() bool {
	if stamp, err := os.ReadFile(b.recipe); err != nil || string(stamp) != buildRecipe {
		return false
	}
	for _, p := range []string{b.APIServer, b.ControllerManager, b.Kubectl} {
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
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

// findToolsDir looks for tools/k8s/go.mod above the working directory and
// above the running executable (bin/quell in a checkout).
func findToolsDir() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			cand := filepath.Join(d, "tools", "k8s")
			if _, err := os.Stat(filepath.Join(cand, "go.mod")); err == nil {
				return cand, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("%w: tools/k8s/go.mod not found above %v; run from a quell checkout or set dev.k8s_bin_dir", ErrNoBinaries, starts)
}

// lockFile takes an exclusive flock on path, blocking until it is free.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
