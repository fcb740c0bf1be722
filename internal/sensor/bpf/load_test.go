//go:build linux

package bpf

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("eBPF tests must run as root under CI")
		}
		t.Skip("needs root to load eBPF programs")
	}
}

// TestLoadExecConnect loads the programs and sees this test's own exec and
// connect in the ring buffer.
func TestLoadExecConnect(t *testing.T) {
	requireRoot(t)
	l, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer l.Close()
	for name, err := range l.Failed {
		t.Errorf("program %s failed: %v", name, err)
	}
	for name, err := range l.Degraded {
		t.Errorf("program %s degraded: %v", name, err)
	}
	rd, err := l.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	marker := "quell-bpf-test-" + strconv.Itoa(os.Getpid())
	cmd := exec.Command("/bin/sh", "-c", "exit 0", marker)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()

	var sawExec, sawExit, sawConnect bool
	deadline := time.Now().Add(30 * time.Second)
	var r Record
	var rec ringbuf.Record
	for !(sawExec && sawExit && sawConnect) {
		if time.Now().After(deadline) {
			t.Fatalf("no records (exec %v exit %v connect %v)", sawExec, sawExit, sawConnect)
		}
		// Records arrive without wakeups below 256 KiB: poll.
		rd.SetDeadline(time.Now().Add(10 * time.Millisecond))
		if err := rd.ReadInto(&rec); errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		} else if err != nil {
			t.Fatalf("read (exec %v exit %v connect %v): %v", sawExec, sawExit, sawConnect, err)
		}
		if err := Decode(rec.RawSample, &r); err != nil {
			t.Fatal(err)
		}
		switch {
		case r.Kind == KindExec && bytes.Contains(r.Args, []byte(marker)):
			sawExec = true
			if r.Pid != uint32(cmd.Process.Pid) || r.Ppid != uint32(os.Getpid()) {
				t.Errorf("exec pid %d ppid %d, want %d %d", r.Pid, r.Ppid, cmd.Process.Pid, os.Getpid())
			}
			if string(r.Filename) != "/bin/sh" || string(r.Comm) != "sh" {
				t.Errorf("exec filename %q comm %q", r.Filename, r.Comm)
			}
			wd, _ := os.Getwd()
			if got := string(r.AppendCwd(nil)); got != wd || r.CwdIncomplete {
				t.Errorf("cwd %q (incomplete %v), want %q", got, r.CwdIncomplete, wd)
			}
			t.Logf("exec: %+v leaf=%q parent=%q args=%q", r.Header, r.CgroupLeaf, r.CgroupParent, r.Args)
		case r.Kind == KindExit && r.Pid == uint32(cmd.Process.Pid):
			sawExit = true
		case r.Kind == KindConnect && r.Pid == uint32(os.Getpid()) && r.Dport == port:
			sawConnect = true
			if r.Daddr.String() != "127.0.0.1" || r.Protocol != 6 {
				t.Errorf("connect daddr %v proto %d", r.Daddr, r.Protocol)
			}
		}
	}
	if n, err := l.Lost(); err != nil {
		t.Error(err)
	} else {
		t.Logf("lost %d", n)
	}
}

// TestEveryProgramLoads loads each program variant on its own, including
// the fallbacks Load does not need on this kernel, so that a fallback that
// no longer passes the verifier is caught here.
func TestEveryProgramLoads(t *testing.T) {
	requireRoot(t)
	spec, err := loadQuell()
	if err != nil {
		t.Fatal(err)
	}
	for name := range spec.Programs {
		t.Run(name, func(t *testing.T) {
			one := spec.Copy()
			for n := range one.Programs {
				if n != name {
					delete(one.Programs, n)
				}
			}
			coll, err := ebpf.NewCollection(one)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			coll.Close()
		})
	}
}
