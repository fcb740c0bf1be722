// Package testenv gives tests real components instead of mocks: a local
// Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager)
// started once per test package and shared by its tests.
//
// A package that uses it calls Main from TestMain so the control plane is
// stopped when the package's tests end:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Tests call Cluster(t). When the binaries cannot be built the test is
// skipped with the reason, except under CI (CI=true), where it fails: CI
// builds them, so their absence there is a defect.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/kubecache"
)

// Users are the extra identities every test control plane knows: a plain
// user and one in a "developers" group.
func Users() []devcluster.User {
	return []devcluster.User{
		{Name: "alice", Groups: []string{"developers"}},
		{Name: "bob"},
	}
}

var shared struct {
	once sync.Once
	c    *devcluster.Cluster
	dir  string
	err  error
}

// Main runs the package's tests and stops the shared control plane after,
// then runs the package's own cleanups (removing shared builds, say).
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	if shared.c != nil {
		if err := shared.c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: stop control plane:", err)
			code = 1
		}
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	if err := StopPostgres(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: stop postgres:", err)
		code = 1
	}
	os.Exit(code)
}

// Cluster returns the package's shared control plane, starting it on first
// use.
func Cluster(t testing.TB) *devcluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("testenv: -short: no control plane")
	}
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "quell-testenv-")
		if shared.err != nil {
			return
		}
		shared.c, shared.err = Start(context.Background(), shared.dir, devcluster.Options{})
	})
	if shared.err != nil {
		SkipOrFail(t, shared.err)
	}
	return shared.c
}

// Binaries returns the control-plane binaries or skips (fails under CI).
func Binaries(t testing.TB) devcluster.Binaries {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	b, err := devcluster.EnsureBinaries(ctx, devcluster.BuildOptions{BinDir: os.Getenv("QUELL_DEV_K8S_BIN_DIR")})
	if err != nil {
		SkipOrFail(t, err)
	}
	return b
}

// Start starts a control plane in dir with the test users; callers own
// stopping it.
func Start(ctx context.Context, dir string, opts devcluster.Options) (*devcluster.Cluster, error) {
	b, err := devcluster.EnsureBinaries(ctx, devcluster.BuildOptions{BinDir: os.Getenv("QUELL_DEV_K8S_BIN_DIR")})
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	opts.Binaries = b
	opts.Users = append(Users(), opts.Users...)
	return devcluster.Start(ctx, opts)
}

// SkipOrFail skips the test when err says the binaries are unavailable
// (failing instead under CI), and fails it for any other error.
func SkipOrFail(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, devcluster.ErrNoBinaries) {
		t.Fatalf("testenv: start control plane: %v", err)
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("testenv: control plane unavailable under CI: %v", err)
	}
	t.Skipf("testenv: control plane unavailable: %v", err)
}

// Objects returns a started cache of kinds over cs, its initial lists
// complete, stopped when the test ends.
func Objects(t testing.TB, cs kubernetes.Interface, kinds ...string) *kubecache.Cache {
	t.Helper()
	c, err := kubecache.New(cs, kinds...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Start(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	if err := c.WaitSynced(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}
