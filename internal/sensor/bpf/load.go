//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Program names, as reported in Loaded.Attached and Loaded.Failed.
const (
	ProgExec    = "exec"
	ProgExit    = "exit"
	ProgConnect = "connect"
)

// programs lists, for each event kind, the programs that can provide it,
// best first: the first that loads and attaches is used.
var programs = []struct {
	name     string
	specs    []string
	required bool
}{
	{ProgExec, []string{"handle_exec_cwd", "handle_exec"}, true},
	{ProgExit, []string{"handle_exit"}, false},
	{ProgConnect, []string{"handle_connect"}, false},
}

// ErrPermission means the process may not load eBPF programs.
var ErrPermission = errors.New("loading eBPF programs needs root, or CAP_BPF and CAP_PERFMON")

// ErrNoBTF means the kernel does not describe its types with BTF.
var ErrNoBTF = errors.New("kernel BTF is missing (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF): quell's programs need it")

// Loaded is the set of attached programs and their ring buffer. Close
// detaches everything.
type Loaded struct {
	// Attached names the programs running (ProgExec, ...).
	Attached []string
	// Failed maps each program that could not be loaded or attached to
	// the reason. The exec program is never in it: Load fails instead.
	Failed map[string]error
	// Degraded maps programs running in a fallback variant to why the
	// preferred one failed (exec without the working directory, say).
	Degraded map[string]error

	events *ebpf.Map
	lost   *ebpf.Map
	byName map[string]*ebpf.Program // attached program by event kind
	maps   *ebpf.Collection
	progs  []*ebpf.Collection
	links  []link.Link
}

// Load loads and attaches quell's programs. It fails when the exec program
// cannot run; other programs that fail are listed in Loaded.Failed.
func Load() (*Loaded, error) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, ErrNoBTF
	}
	// One decoded copy of the kernel's BTF for all the loads below; it is
	// garbage once Load returns.
	cache := btf.NewCache()
	if _, err := cache.Kernel(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoBTF, err)
	}
	// Kernels since 5.11 account BPF memory to the cgroup; this only
	// matters on older ones and may fail harmlessly.
	_ = rlimit.RemoveMemlock()

	spec, err := loadQuell()
	if err != nil {
		return nil, fmt.Errorf("read object: %w", err)
	}
	mapsOnly := spec.Copy()
	mapsOnly.Programs = nil
	maps, err := ebpf.NewCollectionWithOptions(mapsOnly, ebpf.CollectionOptions{Cache: cache})
	if err != nil {
		return nil, classify(fmt.Errorf("create maps: %w", err))
	}
	l := &Loaded{Failed: map[string]error{}, Degraded: map[string]error{}, maps: maps,
		events: maps.Maps["events"], lost: maps.Maps["lost"]}
	l.byName = map[string]*ebpf.Program{}
	for _, p := range programs {
		var errs []error
		for _, name := range p.specs {
			prog, err := l.attach(spec, name, cache)
			if err == nil {
				l.byName[p.name] = prog
				break
			}
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		if len(errs) < len(p.specs) {
			l.Attached = append(l.Attached, p.name)
			if len(errs) > 0 {
				l.Degraded[p.name] = errors.Join(errs...)
			}
			continue
		}
		err := classify(errors.Join(errs...))
		if p.required {
			l.Close()
			return nil, fmt.Errorf("program %s: %w", p.name, err)
		}
		l.Failed[p.name] = err
	}
	return l, nil
}

// attach loads one program against the shared maps and attaches it.
func (l *Loaded) attach(spec *ebpf.CollectionSpec, name string, cache *btf.Cache) (*ebpf.Program, error) {
	one := spec.Copy()
	for n := range one.Programs {
		if n != name {
			delete(one.Programs, n)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: l.maps.Maps, Cache: cache})
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	lk, err := link.AttachTracing(link.TracingOptions{Program: coll.Programs[name]})
	if err != nil {
		coll.Close()
		return nil, fmt.Errorf("attach: %w", err)
	}
	l.progs = append(l.progs, coll)
	l.links = append(l.links, lk)
	return coll.Programs[name], nil
}

// classify turns permission errors into ErrPermission.
func classify(err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	return err
}

// Has reports whether the named program is attached.
func (l *Loaded) Has(name string) bool { return slices.Contains(l.Attached, name) }

// NewReader returns a reader of the ring buffer. Closing it makes a
// blocked Read return ringbuf.ErrClosed.
func (l *Loaded) NewReader() (*ringbuf.Reader, error) {
	rd, err := ringbuf.NewReader(l.events)
	if err != nil {
		return nil, fmt.Errorf("open ring buffer: %w", err)
	}
	return rd, nil
}

// EventsFile returns a new file for the ring buffer map, non-blocking, so
// that waiting for records goes through Go's network poller (no thread
// blocked in a system call). The ring buffer is readable when records are
// waiting and the kernel chose to wake readers. The caller closes it.
func (l *Loaded) EventsFile() (*os.File, error) {
	fd, err := unix.Dup(l.events.FD())
	if err != nil {
		return nil, fmt.Errorf("dup ring buffer fd: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ring buffer fd: %w", err)
	}
	return os.NewFile(uintptr(fd), "quell-events"), nil
}

// RunStat is the kernel's accounting of one program: time spent in it and
// runs. Both stay zero unless BPF statistics are enabled
// (sysctl kernel.bpf_stats_enabled=1, or ebpf.EnableStats).
type RunStat struct {
	Program string
	Runtime time.Duration
	Runs    uint64
}

// RunStats returns the statistics of the attached programs.
func (l *Loaded) RunStats() []RunStat {
	var out []RunStat
	for _, p := range programs {
		prog, ok := l.byName[p.name]
		if !ok {
			continue
		}
		st, err := prog.Stats()
		if err != nil {
			continue
		}
		out = append(out, RunStat{Program: p.name, Runtime: st.Runtime, Runs: st.RunCount})
	}
	return out
}

// Lost returns the number of records the kernel dropped because the ring
// buffer was full.
func (l *Loaded) Lost() (uint64, error) {
	var perCPU []uint64
	if err := l.lost.Lookup(uint32(0), &perCPU); err != nil {
		return 0, fmt.Errorf("read lost counter: %w", err)
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n, nil
}

// Close detaches the programs and frees the maps.
func (l *Loaded) Close() error {
	var errs []error
	for _, lk := range l.links {
		errs = append(errs, lk.Close())
	}
	for _, c := range l.progs {
		c.Close()
	}
	l.maps.Close()
	l.links, l.progs = nil, nil
	return errors.Join(errs...)
}
