package sensor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"quell.dev/quell/internal/kubemeta"
	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/sensor/bpf"
	"quell.dev/quell/internal/sensor/container"
	"quell.dev/quell/internal/sensor/proctable"
)

// maxAncestors bounds the ancestry attached to an event.
const maxAncestors = 16

// pipeline turns records into alerts. It runs on one goroutine and owns
// everything in it.
type pipeline struct {
	s     *Sensor
	opts  *Options
	m     *metrics
	table *proctable.Table
	users *users
	// boot is the wall-clock time of CLOCK_MONOTONIC zero.
	boot time.Time

	rec     bpf.Record
	ev      Event
	sev     rules.SyscallEvent
	matched []*rules.Rule
	buf     []byte
	pod     kubemeta.Pod
	pending []*Event
}

func newPipeline(s *Sensor) (*pipeline, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return nil, err
	}
	boot := time.Now().Add(-time.Duration(ts.Nano()))
	return &pipeline{
		s: s, opts: &s.opts, m: s.metrics, boot: boot,
		table: proctable.New(s.opts.ProcRoot, s.opts.MaxProcs),
		users: newUsers(s.opts.ProcRoot),
	}, nil
}

func (p *pipeline) run(ctx context.Context, queue <-chan *batch, pool *sync.Pool) error {
	var changed <-chan struct{}
	if p.opts.Pods != nil {
		changed = p.opts.Pods.Changed()
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastSweep := time.Now()
	for {
		select {
		case b := <-queue:
			start := 0
			for _, end := range b.ends {
				p.handle(b.buf[start:end])
				start = end
			}
			p.s.queued.Add(-int64(len(b.ends)))
			b.buf, b.ends = b.buf[:0], b.ends[:0]
			pool.Put(b)
		case <-changed:
			p.retryPending(time.Now())
		case now := <-tick.C:
			p.retryPending(now)
			if now.Sub(lastSweep) > time.Minute {
				p.table.Sweep()
				lastSweep = now
			}
			p.s.procs.Store(int64(p.table.Len()))
		case <-ctx.Done():
			for _, e := range p.pending {
				p.evaluate(e)
			}
			p.pending = nil
			p.m.pending.Set(0)
			return nil
		}
	}
}

func (p *pipeline) handle(raw []byte) {
	r := &p.rec
	if err := bpf.Decode(raw, r); err != nil {
		p.m.decodeErrors.Inc()
		return
	}
	switch r.Kind {
	case bpf.KindExec:
		p.m.execs.Inc()
		p.onExec(r)
	case bpf.KindConnect:
		p.m.connects.Inc()
		p.onConnect(r)
	case bpf.KindExit:
		p.m.exits.Inc()
		if p.opts.Tap != nil {
			e := p.reset(KindExit, r)
			if pr := p.table.Peek(r.Pid); pr != nil {
				e.Proc = *pr
			} else {
				e.Proc = p.headerProc(r)
			}
			p.opts.Tap(e)
		}
		p.table.Remove(r.Pid)
	default:
		p.m.decodeErrors.Inc()
	}
}

// reset prepares the reused event for a record.
func (p *pipeline) reset(kind Kind, r *bpf.Record) *Event {
	anc := p.ev.Ancestors[:0]
	p.ev = Event{Kind: kind, Time: p.boot.Add(time.Duration(r.Ktime)), Ancestors: anc}
	return &p.ev
}

func (p *pipeline) headerProc(r *bpf.Record) proctable.Proc {
	name := string(r.Comm)
	return proctable.Proc{
		Pid: r.Pid, Ppid: r.Ppid, Sid: r.Sid, Vpid: r.Vpid, UID: r.UID, GID: r.GID, LoginUID: r.LoginUID,
		TTY: r.TTY, Name: name, Cmdline: name,
	}
}

func (p *pipeline) onExec(r *bpf.Record) {
	cid := container.FromNames(r.CgroupLeaf, r.CgroupParent)
	pr := p.headerProc(r)
	pr.Exe, pr.Args = proctable.SplitArgs(r.Args)
	pr.Cmdline = proctable.MakeCmdline(pr.Name, pr.Args)
	pr.ExePath = string(r.Filename)
	pr.ContainerID = cid
	parent := p.table.Get(r.Ppid)
	pr.Cwd = p.cwd(r, parent)
	if pr.ExePath != "" && !filepath.IsAbs(pr.ExePath) && pr.Cwd != "" {
		pr.ExePath = filepath.Join(pr.Cwd, pr.ExePath)
	}
	stored := pr
	p.table.Put(&stored)

	e := p.reset(KindExec, r)
	e.Proc = pr
	e.ContainerID = cid
	e.ArgsTruncated = r.ArgsTruncated
	e.Ancestors = p.ancestors(e.Ancestors, parent)
	p.names(e)
	p.dispatch(e)
}

func (p *pipeline) onConnect(r *bpf.Record) {
	e := p.reset(KindConnect, r)
	var parent *proctable.Proc
	if pr := p.table.Get(r.Pid); pr != nil {
		e.Proc = *pr
		// Credentials may have changed since exec; the record has the
		// current ones.
		e.Proc.UID, e.Proc.GID, e.Proc.LoginUID = r.UID, r.GID, r.LoginUID
		parent = p.table.Get(pr.Ppid)
	} else {
		e.Proc = p.headerProc(r)
		parent = p.table.Get(r.Ppid)
	}
	e.ContainerID = container.FromNames(r.CgroupLeaf, r.CgroupParent)
	e.Proc.ContainerID = e.ContainerID
	e.Ancestors = p.ancestors(e.Ancestors, parent)
	e.Daddr, e.Saddr, e.Dport, e.Sport, e.Protocol = r.Daddr, r.Saddr, r.Dport, r.Sport, r.Protocol
	p.names(e)
	p.dispatch(e)
}

// cwd returns the working directory from the record, else from /proc,
// else the parent's (where a forked child starts).
func (p *pipeline) cwd(r *bpf.Record, parent *proctable.Proc) string {
	if !r.CwdIncomplete {
		p.buf = r.AppendCwd(p.buf[:0])
		if parent != nil && parent.Cwd == string(p.buf) {
			return parent.Cwd // shared, not allocated again
		}
		return string(p.buf)
	}
	if cwd, err := os.Readlink(p.opts.ProcRoot + "/" + strconv.FormatUint(uint64(r.Pid), 10) + "/cwd"); err == nil {
		return cwd
	}
	if parent != nil {
		return parent.Cwd
	}
	return ""
}

// names resolves the user and login names.
func (p *pipeline) names(e *Event) {
	e.UserName = p.users.name(e.Proc.UID, e.ContainerID, e.Proc.Pid)
	if e.Proc.LoginUID != ^uint32(0) {
		e.LoginName = p.users.name(e.Proc.LoginUID, container.Host, e.Proc.Pid)
	}
}

// ancestors appends the chain of parents starting at parent.
func (p *pipeline) ancestors(dst []rules.Ancestor, parent *proctable.Proc) []rules.Ancestor {
	for a := parent; a != nil && len(dst) < maxAncestors; {
		dst = append(dst, rules.Ancestor{Name: a.Name, Exe: a.Exe, ExePath: a.ExePath, Cmdline: a.Cmdline, Pid: int64(a.Pid)})
		if a.Ppid == 0 || a.Ppid == a.Pid {
			break
		}
		a = p.table.Get(a.Ppid)
	}
	return dst
}

// dispatch evaluates e now, or holds a copy until its pod is known.
func (p *pipeline) dispatch(e *Event) {
	if p.opts.Tap != nil {
		p.opts.Tap(e)
	}
	if p.opts.Pods != nil && e.ContainerID != container.Host {
		pod, ok := p.opts.Pods.Lookup(e.ContainerID)
		if !ok {
			p.hold(e.clone())
			return
		}
		p.pod = pod
		e.Pod = &p.pod
	}
	p.evaluate(e)
}

// hold queues e to wait for its pod; when the queue is full the oldest
// waiting event is evaluated without its pod.
func (p *pipeline) hold(e *Event) {
	if len(p.pending) >= p.opts.MaxPending {
		old := p.pending[0]
		p.pending = p.pending[1:]
		p.m.podTimeouts.Inc()
		p.evaluate(old)
	}
	e.waitUntil = time.Now().Add(p.opts.PodWait)
	p.pending = append(p.pending, e)
	p.m.pending.Set(float64(len(p.pending)))
}

// retryPending evaluates the waiting events whose pod is now known or
// whose wait is over, keeping the order of the rest.
func (p *pipeline) retryPending(now time.Time) {
	if len(p.pending) == 0 {
		return
	}
	kept := p.pending[:0]
	for _, e := range p.pending {
		if pod, ok := p.opts.Pods.Lookup(e.ContainerID); ok {
			e.Pod = &pod
			p.evaluate(e)
			continue
		}
		if now.After(e.waitUntil) {
			p.m.podTimeouts.Inc()
			p.evaluate(e)
			continue
		}
		kept = append(kept, e)
	}
	clear(p.pending[len(kept):])
	p.pending = kept
	p.m.pending.Set(float64(len(p.pending)))
}

func (p *pipeline) evaluate(e *Event) {
	if e.Kind == KindExit {
		return
	}
	p.buf = fill(&p.sev, e, p.opts.Hostname, p.buf)
	p.matched = p.opts.Engine.MatchSyscall(p.matched[:0], &p.sev)
	for _, r := range p.matched {
		p.m.matches.Inc()
		p.opts.Output.Send(newAlert(r, &p.sev, e, p.opts.Hostname, p.opts.Node))
	}
}
