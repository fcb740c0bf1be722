package proctable

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSeedAndGet(t *testing.T) {
	tb := New("/proc", 1<<16)
	n, err := tb.Seed()
	if err != nil || n == 0 {
		t.Fatalf("Seed: %d, %v", n, err)
	}
	self := tb.Peek(uint32(os.Getpid()))
	if self == nil {
		t.Fatal("own process not seeded")
	}
	if self.Ppid != uint32(os.Getppid()) || self.UID != uint32(os.Getuid()) {
		t.Errorf("self: %+v", self)
	}
	if want, _ := os.Getwd(); self.Cwd != want {
		t.Errorf("cwd %q, want %q", self.Cwd, want)
	}
	if !strings.HasPrefix(self.Cmdline, self.Name) {
		t.Errorf("cmdline %q does not start with name %q", self.Cmdline, self.Name)
	}
}

func TestGetFallsBackToProc(t *testing.T) {
	cmd := exec.Command("sleep", "30.5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// Wait until the exec is complete (argv in place).
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cmdline")
		if string(b) == "sleep\x0030.5\x00" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sleep did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb := New("/proc", 16)
	p := tb.Get(uint32(cmd.Process.Pid))
	if p == nil {
		t.Fatal("Get: nil")
	}
	if p.Name != "sleep" || p.Args != "30.5" || p.Cmdline != "sleep 30.5" {
		t.Errorf("got %+v", p)
	}
	if tb.Misses != 1 {
		t.Errorf("misses %d", tb.Misses)
	}
	tb.Remove(p.Pid)
	if tb.Peek(p.Pid) != nil {
		t.Error("Remove did not remove")
	}
}

func TestSplitArgs(t *testing.T) {
	exe, args := SplitArgs([]byte("nc\x00-l\x00-p\x004444\x00"))
	if exe != "nc" || args != "-l -p 4444" {
		t.Errorf("got %q %q", exe, args)
	}
	if exe, args := SplitArgs(nil); exe != "" || args != "" {
		t.Errorf("empty: %q %q", exe, args)
	}
}

func TestBounded(t *testing.T) {
	tb := New("/nonexistent", 2)
	for pid := uint32(1); pid <= 5; pid++ {
		tb.Put(&Proc{Pid: pid})
	}
	if tb.Len() != 2 || tb.Evictions != 3 {
		t.Errorf("len %d evictions %d", tb.Len(), tb.Evictions)
	}
}
