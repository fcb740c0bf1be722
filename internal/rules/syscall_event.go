package rules

import (
	"net/netip"
	"time"
)

// SourceSyscall and SourceK8sAudit are the event sources quell evaluates.
const (
	SourceSyscall  = "syscall"
	SourceK8sAudit = "k8s_audit"
)

// Field identifies a scalar syscall field stored directly in a
// SyscallEvent. Fields with arguments (proc.aname[N], evt.arg.NAME,
// k8s.pod.label[K], ...) live in the event's slices instead.
type Field uint16

// Ancestor is one process above the event's process: Ancestors[0] is the
// parent (proc.pname, proc.aname[1]), Ancestors[1] the grandparent, ...
type Ancestor struct {
	Name    string
	Exe     string
	ExePath string
	Cmdline string
	Pid     int64
}

// Arg is one syscall argument (evt.arg.NAME / evt.arg[N]), rendered as text.
type Arg struct {
	Name  string
	Value string
}

// KV is a key/value pair (pod labels, container mounts, environment).
type KV struct {
	Key   string
	Value string
}

// SyscallEvent is one event of the syscall source. Scalar fields are set
// with SetString, SetInt, SetBool and SetIP; a field never set is missing.
// The zero value is an empty event; Reset clears an event for reuse without
// freeing its storage, so a producer can fill the same event in a loop
// without allocating.
type SyscallEvent struct {
	has [2]uint64
	str [numStrFields]string
	num [numIntFields]int64
	ip  [numIPFields]netip.Addr

	// Ancestors lists the process ancestry, parent first.
	Ancestors []Ancestor
	// Args lists the syscall arguments in order.
	Args []Arg
	// Labels are the pod labels (k8s.pod.label[KEY]).
	Labels []KV
	// Env is the process environment (proc.env[VAR]).
	Env []KV
	// Mounts maps container mount sources to destinations
	// (container.mount.dest[SOURCE]).
	Mounts []KV
}

// Reset clears the event, keeping the capacity of its slices.
func (e *SyscallEvent) Reset() {
	e.has = [2]uint64{}
	e.Ancestors = e.Ancestors[:0]
	e.Args = e.Args[:0]
	e.Labels = e.Labels[:0]
	e.Env = e.Env[:0]
	e.Mounts = e.Mounts[:0]
}

func (e *SyscallEvent) set(f Field)          { e.has[f>>6] |= 1 << (f & 63) }
func (e *SyscallEvent) present(f Field) bool { return e.has[f>>6]&(1<<(f&63)) != 0 }

// Has reports whether the scalar field f was set.
func (e *SyscallEvent) Has(f Field) bool { return e.present(f) }

// SetString sets a string field. It panics if f is not a string field.
func (e *SyscallEvent) SetString(f Field, v string) {
	e.str[syscallFields[f].slot(kindString)] = v
	e.set(f)
}

// SetInt sets a numeric field. It panics if f is not numeric.
func (e *SyscallEvent) SetInt(f Field, v int64) {
	e.num[syscallFields[f].slot(kindInt)] = v
	e.set(f)
}

// SetBool sets a boolean field.
func (e *SyscallEvent) SetBool(f Field, v bool) {
	var n int64
	if v {
		n = 1
	}
	e.num[syscallFields[f].slot(kindBool)] = n
	e.set(f)
}

// SetIP sets an address field.
func (e *SyscallEvent) SetIP(f Field, v netip.Addr) {
	e.ip[syscallFields[f].slot(kindIP)] = v
	e.set(f)
}

// SetTime sets evt.rawtime (and so evt.time).
func (e *SyscallEvent) SetTime(t time.Time) { e.SetInt(EvtRawTime, t.UnixNano()) }

// String returns a string field and whether it is present.
func (e *SyscallEvent) String(f Field) (string, bool) {
	return e.str[syscallFields[f].idx], e.present(f)
}

// Int returns a numeric or boolean field and whether it is present.
func (e *SyscallEvent) Int(f Field) (int64, bool) {
	return e.num[syscallFields[f].idx], e.present(f)
}

// IP returns an address field and whether it is present.
func (e *SyscallEvent) IP(f Field) (netip.Addr, bool) {
	return e.ip[syscallFields[f].idx], e.present(f)
}

// Type returns evt.type, "" if unset.
func (e *SyscallEvent) Type() string {
	if !e.present(EvtType) {
		return ""
	}
	return e.str[syscallFields[EvtType].idx]
}

// Time returns evt.rawtime as a time, the zero time if unset.
func (e *SyscallEvent) Time() time.Time {
	n, ok := e.Int(EvtRawTime)
	if !ok {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
