package main

import (
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// serverProcess is `quell server` running as a child process.
type serverProcess struct {
	cmd  *exec.Cmd
	done chan error
	url  string
}

// startProcess runs the built binary as `quell server` with args added,
// its output appended to logPath, and waits until it is ready. The test's
// end kills it if it still runs.
func startProcess(t *testing.T, logPath string, args ...string) *serverProcess {
	t.Helper()
	log, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	addr := freeAddr(t)
	cmd := exec.Command(quellBinary(t), append([]string{"server", "--listen", addr, "--log-format", "json"}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, done: make(chan error, 1), url: "http://" + addr}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-p.done:
			p.done <- err
		default:
			p.kill(t)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("server log:\n%s", b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-p.done:
			p.done <- err
			b, _ := os.ReadFile(logPath)
			t.Fatalf("quell server exited at start: %v\n%s", err, b)
		default:
		}
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("quell server not ready after 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL, as a crash or an OOM kill would end it, and waits
// for the process to be gone.
func (p *serverProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Logf("kill quell server: %v", err)
	}
	err := <-p.done
	p.done <- err
}
