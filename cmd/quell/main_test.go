package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Main(m, func() {
		if built.dir != "" {
			os.RemoveAll(built.dir)
		}
	})
}

// built is the quell binary, built once for the package's tests that run
// it as a separate process.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// quellBinary builds ./cmd/quell on first use and returns its path.
func quellBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "quell-bin-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "quell")
		out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// runQuell runs the CLI in-process and returns stdout, stderr and the error.
func runQuell(t *testing.T, environ []string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(t.Context(), args, &out, &errb, environ)
	return out.String(), errb.String(), err
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ec, ok := err.(exitCoder); ok {
		return ec.ExitCode()
	}
	return 1
}

func TestVersion(t *testing.T) {
	out, _, err := runQuell(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "quell ") {
		t.Fatalf("version: out=%q err=%v", out, err)
	}
}

func TestUnknownCommandAndNoArgs(t *testing.T) {
	if _, stderr, err := runQuell(t, nil, "frobnicate"); exitCode(err) != 2 || !strings.Contains(stderr, "usage: quell") {
		t.Errorf("unknown command: code %d, stderr %q", exitCode(err), stderr)
	}
	if _, _, err := runQuell(t, nil); exitCode(err) != 2 {
		t.Errorf("no args: code %d", exitCode(err))
	}
	if _, _, err := runQuell(t, nil, "version", "--nope"); exitCode(err) != 2 {
		t.Errorf("bad flag: code %d", exitCode(err))
	}
}

func TestBadConfigNamesEveryKey(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "quell.yaml")
	if err := os.WriteFile(cfg, []byte("log:\n  format: xml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := runQuell(t, []string{"QUELL_LOG_LEVEL=loud", "QUELL_CONFIG=" + cfg}, "dev", "cluster", "down", "--dir", t.TempDir())
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"log.format (" + cfg + ":2:11)", "log.level (env QUELL_LOG_LEVEL)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// TestDevClusterUpKubectlDown is the newcomer's path: up, kubectl, down.
func TestDevClusterUpKubectlDown(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no control plane")
	}
	b := testenv.Binaries(t)
	dir := filepath.Join(t.TempDir(), "cluster")
	env := []string{"QUELL_DEV_K8S_BIN_DIR=" + filepath.Dir(b.APIServer)}
	out, stderr, err := runQuell(t, env, "dev", "cluster", "up", "--dir", dir)
	if err != nil {
		t.Fatalf("up: %v\n%s", err, stderr)
	}
	t.Cleanup(func() { runQuell(t, env, "dev", "cluster", "down", "--dir", dir) })
	kubeconfig := strings.TrimSpace(out)
	if kubeconfig != filepath.Join(dir, "kubeconfig") {
		t.Errorf("up printed %q, want %s", kubeconfig, filepath.Join(dir, "kubeconfig"))
	}
	again, _, err := runQuell(t, env, "dev", "cluster", "up", "--dir", dir)
	if err != nil || strings.TrimSpace(again) != kubeconfig {
		t.Errorf("second up: %q, %v", again, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	got, err := exec.CommandContext(ctx, b.Kubectl, "--kubeconfig", kubeconfig, "get", "ns", "-o", "name").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get ns: %v\n%s", err, got)
	}
	for _, ns := range []string{"namespace/default", "namespace/kube-system"} {
		if !strings.Contains(string(got), ns) {
			t.Errorf("kubectl get ns lacks %s:\n%s", ns, got)
		}
	}
	state, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runQuell(t, env, "dev", "cluster", "down", "--dir", dir); err != nil {
		t.Fatalf("down: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("down left %s behind", dir)
	}
	// Every pid that up recorded is gone (or a reaped zombie).
	pids := pidsIn(string(state))
	if len(pids) != 3 {
		t.Fatalf("state names pids %v, want etcd, apiserver and controller manager", pids)
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + pid + "/exe"); err == nil {
			t.Errorf("pid %s still running after down", pid)
		}
	}
}

func pidsIn(state string) []string {
	var pids []string
	for _, line := range strings.Split(state, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, `"pid": `); ok {
			pids = append(pids, strings.TrimSuffix(v, ","))
		}
	}
	return pids
}
