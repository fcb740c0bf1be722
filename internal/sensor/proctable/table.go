package proctable

import (
	"os"
	"strconv"
)

// Proc is one process as the table knows it.
type Proc struct {
	Pid, Ppid, Sid, Vpid uint32
	UID, GID, LoginUID   uint32
	TTY                  uint32
	// Name is the kernel's comm (proc.name), Exe argv[0] (proc.exe),
	// ExePath the executable's path (proc.exepath), Args argv[1:] joined
	// by spaces (proc.args) and Cmdline Name followed by Args
	// (proc.cmdline).
	Name, Exe, ExePath, Args, Cmdline string
	// Cwd is the working directory when it could be read, else "".
	Cwd string
	// ContainerID is the full container ID or "host".
	ContainerID string
}

// MakeCmdline returns proc.cmdline for name and args.
func MakeCmdline(name, args string) string {
	if args == "" {
		return name
	}
	return name + " " + args
}

// Table maps pids to processes.
type Table struct {
	procRoot string
	max      int
	m        map[uint32]*Proc
	// Misses counts lookups that had to read /proc; Evictions entries
	// dropped because the table was full.
	Misses, Evictions uint64
}

// New returns an empty table reading procRoot (normally "/proc") and
// holding at most max processes.
func New(procRoot string, max int) *Table {
	return &Table{procRoot: procRoot, max: max, m: make(map[uint32]*Proc, 1024)}
}

// Len returns the number of processes in the table.
func (t *Table) Len() int { return len(t.m) }

// Seed adds every process in /proc. It returns how many were added.
func (t *Table) Seed() (int, error) {
	d, err := os.Open(t.procRoot)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		pid, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			continue
		}
		if p, err := ReadProc(t.procRoot, uint32(pid)); err == nil {
			t.Put(p)
			n++
		}
	}
	return n, nil
}

// Put adds or replaces a process.
func (t *Table) Put(p *Proc) {
	if _, ok := t.m[p.Pid]; !ok && len(t.m) >= t.max {
		// Full: drop an arbitrary entry (map order) rather than grow.
		for pid := range t.m {
			delete(t.m, pid)
			t.Evictions++
			break
		}
	}
	t.m[p.Pid] = p
}

// Remove forgets a process that exited.
func (t *Table) Remove(pid uint32) { delete(t.m, pid) }

// Peek returns the process without falling back to /proc.
func (t *Table) Peek(pid uint32) *Proc { return t.m[pid] }

// Get returns the process, reading /proc when the table does not know it;
// nil if it is gone.
func (t *Table) Get(pid uint32) *Proc {
	if p, ok := t.m[pid]; ok {
		return p
	}
	if pid == 0 {
		return nil
	}
	t.Misses++
	p, err := ReadProc(t.procRoot, pid)
	if err != nil {
		return nil
	}
	t.Put(p)
	return p
}

// Sweep removes processes that no longer exist, in case their exit was
// not seen. It returns how many were removed.
func (t *Table) Sweep() int {
	n := 0
	for pid := range t.m {
		if _, err := os.Stat(t.procRoot + "/" + strconv.FormatUint(uint64(pid), 10)); os.IsNotExist(err) {
			delete(t.m, pid)
			n++
		}
	}
	return n
}
