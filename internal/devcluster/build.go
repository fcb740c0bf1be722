package devcluster

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"syscall"
)

// cachedBuild is one `go build` of pinned programs from a module under
// tools/, cached in a directory and stamped with how it was linked.
type cachedBuild struct {
	dir      string   // cache directory
	module   string   // the module's folder under tools/, e.g. "k8s"
	toolsDir string   // the module itself; empty: found by findToolsDir
	ldflags  string   // the link recipe, recorded in dir/.recipe
	packages []string // import paths; each binary is named after the last element
	hint     string   // what to do when the module cannot be found
	log      *slog.Logger
}

// cacheDir is $XDG_CACHE_HOME/quell/TOOL/VERSION, or ~/.cache/... .
func cacheDir(tool, version string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "quell", tool, version)
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// path is where the binary of package pkg is cached.
func (b cachedBuild) path(pkg string) string { return filepath.Join(b.dir, path.Base(pkg)) }

func (b cachedBuild) stamp() string { return filepath.Join(b.dir, ".recipe") }

// present reports whether every binary is cached and was linked with the
// current recipe.
func (b cachedBuild) present() bool {
	if stamp, err := os.ReadFile(b.stamp()); err != nil || string(stamp) != b.ldflags {
		return false
	}
	for _, pkg := range b.packages {
		if st, err := os.Stat(b.path(pkg)); err != nil || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// ensure builds the binaries unless they are cached, serialised across
// processes with a file lock in the cache directory. A failed build is
// ErrNoBinaries, wrapped with the build's output.
func (b cachedBuild) ensure(ctx context.Context) error {
	if b.present() {
		return nil
	}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return fmt.Errorf("create binary cache: %w", err)
	}
	unlock, err := lockFile(filepath.Join(b.dir, ".build.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if b.present() { // built by another process while we waited
		return nil
	}
	tools := b.toolsDir
	if tools == "" {
		if tools, err = findToolsDir(b.module, b.hint); err != nil {
			return err
		}
	}
	b.log.Info("building pinned tools", "module", "tools/"+b.module, "tools", tools, "into", b.dir)
	tmp, err := os.MkdirTemp(b.dir, ".build-")
	if err != nil {
		return fmt.Errorf("create build dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	args := append([]string{"build", "-ldflags", b.ldflags, "-o", tmp + "/"}, b.packages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = tools
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: go build in %s: %v\n%s", ErrNoBinaries, tools, err, out.String())
	}
	for _, pkg := range b.packages {
		if err := os.Rename(filepath.Join(tmp, path.Base(pkg)), b.path(pkg)); err != nil {
			return fmt.Errorf("install %s: %w", path.Base(pkg), err)
		}
	}
	if err := os.WriteFile(b.stamp(), []byte(b.ldflags), 0o644); err != nil {
		return fmt.Errorf("write build stamp: %w", err)
	}
	return nil
}

// findToolsDir looks for tools/<module>/go.mod above the working directory
// and above the running executable (bin/quell in a checkout).
func findToolsDir(module, hint string) (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			cand := filepath.Join(d, "tools", module)
			if _, err := os.Stat(filepath.Join(cand, "go.mod")); err == nil {
				return cand, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("%w: tools/%s/go.mod not found above %v; %s", ErrNoBinaries, module, starts, hint)
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
