package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// RuncCgroup is the cgroup parent of the runc containers tests run.
const RuncCgroup = "quell-sensor-test"

// RuncContainer is a bundle for a real runc container whose rootfs holds
// busybox (static) under /bin as busybox, sh, nc and any extra names.
type RuncContainer struct {
	ID     string
	bundle string
	state  string
}

// NewRuncContainer prepares a container whose process is args; names
// (besides busybox, sh and nc) are more copies of busybox in /bin, so a
// process can run under a name of the test's choosing. It needs root,
// runc and busybox-static; it is deleted when the test ends.
func NewRuncContainer(t testing.TB, names []string, args ...string) *RuncContainer {
	t.Helper()
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal("runc is needed (apt-get install runc busybox-static)")
	}
	busybox := "/bin/busybox"
	b, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal("busybox-static is needed (apt-get install runc busybox-static)")
	}
	id := make([]byte, 32)
	rand.Read(id)
	c := &RuncContainer{ID: hex.EncodeToString(id), bundle: t.TempDir(), state: t.TempDir()}
	rootfs := filepath.Join(c.bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range append([]string{"busybox", "nc", "sh"}, names...) {
		if err := os.WriteFile(filepath.Join(rootfs, "bin", n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(runc, "spec", "--bundle", c.bundle).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	path := filepath.Join(c.bundle, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	proc := cfg["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = args
	cfg["linux"].(map[string]any)["cgroupsPath"] = "/" + RuncCgroup + "/" + c.ID
	raw, _ = json.Marshal(cfg)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.cleanup)
	return c
}

// Run runs the container to completion; the process's exit status does
// not matter (nc -h exits non-zero).
func (c *RuncContainer) Run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "runc", "--root", c.state, "run", "--bundle", c.bundle, c.ID).CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("runc run: %v: %s", err, out)
	}
}

func (c *RuncContainer) cleanup() {
	exec.Command("runc", "--root", c.state, "delete", "--force", c.ID).Run()
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, r := range roots {
		os.Remove(filepath.Join(r, RuncCgroup, c.ID))
		os.Remove(filepath.Join(r, RuncCgroup)) // fails while other tests use it
	}
}
