package bench

import (
	"context"
	"fmt"
	"time"

	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/rules/replay"
)

// execLine is a container exec no built-in rule matches, and toolLine one
// that "Launch Suspicious Network Tool in Container" does.
const (
	execLine = `{"source":"syscall","fields":{"evt.type":"execve","proc.name":"nginx","proc.exe":"/usr/sbin/nginx","proc.exepath":"/usr/sbin/nginx",` +
		`"proc.cmdline":"nginx -g daemon off;","proc.pid":4242,"proc.pname":"containerd-shim","user.uid":101,"user.name":"nginx","user.loginuid":-1,` +
		`"container.id":"ee97d9c4186f","container.name":"web","container.image.repository":"docker.io/library/nginx","k8s.ns.name":"default","k8s.pod.name":"web-1"}}`
	toolLine = `{"source":"syscall","fields":{"evt.type":"execve","proc.name":"nc","proc.exe":"/usr/bin/nc","proc.exepath":"/usr/bin/nc",` +
		`"proc.cmdline":"nc -lvp 4444","proc.pid":4243,"proc.pname":"sh","user.uid":0,"user.name":"root","user.loginuid":-1,` +
		`"container.id":"ee97d9c4186f","container.name":"web","container.image.repository":"docker.io/library/nginx","k8s.ns.name":"default","k8s.pod.name":"web-1"}}`
)

// Rules runs exec events through the built-in rules on one goroutine for
// d each, without and with a match.
func Rules(ctx context.Context, d time.Duration) ([]Result, error) {
	eng, diags := rules.LoadEngine(false)
	if err := diags.Err(); err != nil {
		return nil, err
	}
	var out []Result
	for _, c := range []struct {
		what, line string
		match      bool
	}{{"no match", execLine, false}, {"a match", toolLine, true}} {
		var ev rules.SyscallEvent
		if _, _, err := replay.Decode([]byte(c.line), &ev); err != nil {
			return nil, fmt.Errorf("decode bench event: %w", err)
		}
		buf := make([]*rules.Rule, 0, 8)
		if got := len(eng.MatchSyscall(buf, &ev)) > 0; got != c.match {
			return nil, fmt.Errorf("bench event (%s) matched %v", c.what, got)
		}
		n, start := 0, time.Now()
		for time.Since(start) < d && ctx.Err() == nil {
			for range 1000 {
				buf = eng.MatchSyscall(buf[:0], &ev)
			}
			n += 1000
		}
		took := time.Since(start)
		out = append(out, Result{Figure: "rules: exec events/s, " + c.what, Value: perSecond(n, took),
			Detail: fmt.Sprintf("%d built-in rules, one goroutine, %d events", len(eng.Rules()), n)})
	}
	return out, ctx.Err()
}
