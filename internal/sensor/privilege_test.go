package sensor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/sensor"
)

// helperEnv makes the test binary run a helper instead of the tests:
// "sensor" runs a sensor printing Falco JSON lines to stdout until stdin
// closes; "storm" runs the exec storm generator (bench_test.go).
const helperEnv = "QUELL_SENSOR_TEST_HELPER"

const readyLine = "QUELL-SENSOR-READY"

func sensorHelper() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	eng, diags := rules.LoadEngine(false)
	if err := diags.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "rules:", err)
		return 1
	}
	out := sensor.NewWriterOutput(os.Stdout, 0, nil, log)
	s, err := sensor.New(sensor.Options{Engine: eng, Output: out, Log: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	outDone := make(chan error, 1)
	go func() { outDone <- out.Start(ctx) }()
	go func() {
		select {
		case <-s.Ready():
			fmt.Fprintln(os.Stderr, readyLine)
		case <-ctx.Done():
		}
	}()
	if err := s.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sensor:", err)
		return 1
	}
	cancel()
	<-outDone
	return 0
}

// Capability bits (linux/capability.h).
const (
	capDacReadSearch = 2
	capSysPtrace     = 19
	capSysAdmin      = 21
	capPerfmon       = 38
	capBPF           = 39
)

// startHelper runs the sensor helper with only the given capabilities in
// its bounding set (so a root process has exactly those).
func startHelper(t *testing.T, caps string) (cmd *exec.Cmd, stdin io.WriteCloser, stdout, stderr *bufio.Scanner) {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv (util-linux) is needed")
	}
	cmd = exec.Command(setpriv, "--bounding-set", "-all,"+caps, "--inh-caps", "-all", "--",
		os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=sensor")
	stdin, _ = cmd.StdinPipe()
	op, _ := cmd.StdoutPipe()
	ep, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	stdout, stderr = bufio.NewScanner(op), bufio.NewScanner(ep)
	stdout.Buffer(nil, 1<<20)
	return cmd, stdin, stdout, stderr
}

func capEff(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no CapEff")
	return 0
}

// TestLeastPrivilege runs the sensor with CAP_BPF and CAP_PERFMON plus
// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (for the process table) and
// nothing else: it loads, and it alerts in Falco's JSON format.
func TestLeastPrivilege(t *testing.T) {
	requireRoot(t)
	cmd, _, stdout, stderr := startHelper(t, "+bpf,+perfmon,+sys_ptrace,+dac_read_search")
	var logs []string
	ready := false
	for !ready && stderr.Scan() {
		logs = append(logs, stderr.Text())
		ready = stderr.Text() == readyLine
	}
	if !ready {
		t.Fatalf("helper did not start:\n%s", strings.Join(logs, "\n"))
	}
	go func() {
		for stderr.Scan() {
		}
	}()
	want := uint64(1)<<capBPF | 1<<capPerfmon | 1<<capSysPtrace | 1<<capDacReadSearch
	if got := capEff(t, cmd.Process.Pid); got != want {
		t.Fatalf("helper CapEff %#x, want %#x", got, want)
	}

	nc := copyBinary(t, "/bin/true", t.TempDir(), "nc")
	marker := fmt.Sprintf("quell-privilege-test-%d", os.Getpid())
	run := exec.Command(nc, "-h", marker)
	if err := run.Run(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		for stdout.Scan() {
			lines <- stdout.Text()
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("helper output ended without the alert")
			}
			var a map[string]any
			if err := json.Unmarshal([]byte(line), &a); err != nil {
				t.Fatalf("not JSON: %q", line)
			}
			fields, _ := a["output_fields"].(map[string]any)
			if a["rule"] != "Launch Suspicious Network Tool on Host" || !strings.Contains(fmt.Sprint(fields["proc.cmdline"]), marker) {
				continue
			}
			for _, k := range []string{"time", "rule", "priority", "source", "output", "output_fields", "tags", "hostname"} {
				if _, ok := a[k]; !ok {
					t.Errorf("Falco JSON lacks %q: %s", k, line)
				}
			}
			if a["priority"] != "Notice" || a["source"] != "syscall" {
				t.Errorf("priority %v source %v", a["priority"], a["source"])
			}
			if fields["proc.pid"] != float64(run.Process.Pid) || fields["user.name"] != "root" {
				t.Errorf("fields %v", fields)
			}
			return
		case <-deadline:
			t.Fatal("no alert from the reduced-privilege sensor")
		}
	}
}

// TestWithoutBPFCapability expects a clear error when CAP_BPF is missing.
func TestWithoutBPFCapability(t *testing.T) {
	requireRoot(t)
	cmd, _, _, stderr := startHelper(t, "+perfmon,+sys_ptrace,+dac_read_search")
	var logs []string
	for stderr.Scan() {
		logs = append(logs, stderr.Text())
	}
	err := cmd.Wait()
	all := strings.Join(logs, "\n")
	if err == nil || !strings.Contains(all, "CAP_BPF") {
		t.Fatalf("want a failure naming CAP_BPF, got %v:\n%s", err, all)
	}
	t.Logf("error: %s", all)
}
