package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"quell.dev/quell/internal/testenv"
)

// TestBenchCommand runs every figure of `quell bench` small: each is
// measured and printed (the sensor's only as root).
func TestBenchCommand(t *testing.T) {
	b := testenv.Binaries(t)
	args := []string{"bench", "--duration", "300ms", "--incidents", "2", "--k8s-bin-dir", filepath.Dir(b.APIServer)}
	if os.Geteuid() == 0 {
		// The sensor and its generator run as separate processes of this
		// binary: build it.
		cmd := exec.Command(quellBinary(t), args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("quell bench: %v\n%s", err, stderr.String())
		}
		checkBench(t, string(out), true)
		return
	}
	out, errOut, err := runQuell(t, nil, args...)
	if err != nil {
		t.Fatalf("quell bench: %v\n%s", err, errOut)
	}
	checkBench(t, out, false)
}

func checkBench(t *testing.T, out string, root bool) {
	t.Helper()
	want := []string{"machine:", "rules: exec events/s, no match", "rules: exec events/s, a match", "ingest: Falco alerts/s",
		"response: alert -> contained, terminate", "response: alert -> contained, suspend", "p50 ", "p99 "}
	if root {
		want = append(want, "sensor: exec events/s", "sensor: CPU per 1k exec/s")
	} else {
		want = append(want, "needs root")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("bench output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, " 0/s") {
		t.Errorf("a throughput of zero:\n%s", out)
	}
	if _, _, err := runQuell(t, nil, "bench", "--only", "nothing"); exitCode(err) != 2 {
		t.Errorf("--only nothing: %v, want a usage error", err)
	}
}
