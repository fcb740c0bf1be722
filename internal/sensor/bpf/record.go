package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
)

// Record kinds, the header's type field.
const (
	KindExec    = 1
	KindExit    = 2
	KindConnect = 3
)

// Layout of the records written by quell.bpf.c (native byte order);
// layout_test.go checks it against the bpf2go mirrors.
const (
	offKtime    = 0
	offCgroupID = 8
	offType     = 16
	offPid      = 20
	offTid      = 24
	offPpid     = 28
	offUID      = 32
	offGID      = 36
	offLoginUID = 40
	offSid      = 44
	offTTY      = 48
	offVpid     = 52
	offComm     = 56
	headerSize  = 72

	cgroupNameLen = 128
	offCgLeaf     = headerSize
	offCgParent   = offCgLeaf + cgroupNameLen

	offExecFlags    = offCgParent + cgroupNameLen
	offExecArgsLen  = offExecFlags + 4
	offExecCwdLen   = offExecArgsLen + 4
	offExecFilename = offExecCwdLen + 8
	filenameLen     = 256
	offExecCwd      = offExecFilename + filenameLen
	cwdLen          = 512 + 128
	offExecArgs     = offExecCwd + cwdLen
	argsLen         = 2048

	offConnFamily   = offCgParent + cgroupNameLen
	offConnDport    = offConnFamily + 2
	offConnSport    = offConnDport + 2
	offConnProtocol = offConnSport + 2
	offConnDaddr    = offConnProtocol + 2
	offConnSaddr    = offConnDaddr + 16
	connectSize     = offConnSaddr + 16

	flagArgsTruncated = 1
	flagCwdTruncated  = 2
)

// ErrShortRecord means a record is smaller than its kind requires.
var ErrShortRecord = errors.New("short record")

// Header holds the fields exec and connect records carry; exit records
// set only Kind, Ktime, Pid and Tid. Comm is a view into the record and
// valid only while it is.
type Header struct {
	Kind     uint32
	Ktime    uint64 // CLOCK_MONOTONIC nanoseconds
	CgroupID uint64 // cgroup v2 id of the task
	Pid      uint32 // process id (tgid)
	Tid      uint32
	Ppid     uint32
	UID      uint32
	GID      uint32
	LoginUID uint32 // 0xffffffff when unset
	Sid      uint32 // session id
	TTY      uint32 // controlling terminal device, 0 if none
	Vpid     uint32 // pid in the task's own pid namespace
	Comm     []byte
}

// Record is a decoded ring buffer record. Byte slices point into the
// buffer passed to Decode.
type Record struct {
	Header
	// CgroupLeaf and CgroupParent are the names of the task's cgroup v2
	// directory and of its parent (exec and connect).
	CgroupLeaf, CgroupParent []byte

	// Exec: the path passed to execve, argv as NUL-separated bytes, and
	// the working directory's path components, innermost first, each
	// NUL-terminated (see Cwd). CwdIncomplete means the kernel program
	// could not walk the whole path.
	Filename      []byte
	Args          []byte
	ArgsTruncated bool
	CwdParts      []byte
	CwdIncomplete bool

	// Connect: addresses and ports (host order), protocol number.
	Daddr, Saddr netip.Addr
	Dport, Sport uint16
	Protocol     uint8
}

var ne = binary.NativeEndian

// Decode parses b into r, reusing r. The record keeps references into b.
func Decode(b []byte, r *Record) error {
	if len(b) < headerSize {
		return ErrShortRecord
	}
	r.Header = Header{
		Kind:     ne.Uint32(b[offType:]),
		Ktime:    ne.Uint64(b[offKtime:]),
		CgroupID: ne.Uint64(b[offCgroupID:]),
		Pid:      ne.Uint32(b[offPid:]),
		Tid:      ne.Uint32(b[offTid:]),
		Ppid:     ne.Uint32(b[offPpid:]),
		UID:      ne.Uint32(b[offUID:]),
		GID:      ne.Uint32(b[offGID:]),
		LoginUID: ne.Uint32(b[offLoginUID:]),
		Sid:      ne.Uint32(b[offSid:]),
		TTY:      ne.Uint32(b[offTTY:]),
		Vpid:     ne.Uint32(b[offVpid:]),
		Comm:     cstr(b[offComm:headerSize]),
	}
	r.CgroupLeaf, r.CgroupParent, r.Filename, r.Args, r.CwdParts = nil, nil, nil, nil, nil
	r.ArgsTruncated, r.CwdIncomplete = false, false
	switch r.Kind {
	case KindExec:
		if len(b) < offExecArgs {
			return ErrShortRecord
		}
		r.CgroupLeaf = cstr(b[offCgLeaf:offCgParent])
		r.CgroupParent = cstr(b[offCgParent : offCgParent+cgroupNameLen])
		flags := ne.Uint32(b[offExecFlags:])
		r.ArgsTruncated = flags&flagArgsTruncated != 0
		r.CwdIncomplete = flags&flagCwdTruncated != 0
		if c := int(ne.Uint32(b[offExecCwdLen:])); c <= cwdLen {
			r.CwdParts = b[offExecCwd : offExecCwd+c]
		} else {
			r.CwdIncomplete = true
		}
		n := int(ne.Uint32(b[offExecArgsLen:]))
		r.Filename = cstr(b[offExecFilename:offExecArgs])
		if n > len(b)-offExecArgs {
			n = len(b) - offExecArgs
		}
		r.Args = bytes.TrimRight(b[offExecArgs:offExecArgs+n], "\x00")
	case KindConnect:
		if len(b) < connectSize {
			return ErrShortRecord
		}
		r.CgroupLeaf = cstr(b[offCgLeaf:offCgParent])
		r.CgroupParent = cstr(b[offCgParent : offCgParent+cgroupNameLen])
		family := ne.Uint16(b[offConnFamily:])
		r.Dport = ne.Uint16(b[offConnDport:])
		r.Sport = ne.Uint16(b[offConnSport:])
		r.Protocol = uint8(ne.Uint16(b[offConnProtocol:]))
		if family == 2 {
			r.Daddr = netip.AddrFrom4([4]byte(b[offConnDaddr : offConnDaddr+4]))
			r.Saddr = netip.AddrFrom4([4]byte(b[offConnSaddr : offConnSaddr+4]))
		} else {
			r.Daddr = netip.AddrFrom16([16]byte(b[offConnDaddr : offConnDaddr+16])).Unmap()
			r.Saddr = netip.AddrFrom16([16]byte(b[offConnSaddr : offConnSaddr+16])).Unmap()
		}
	}
	return nil
}

// AppendCwd appends the working directory's path, built from CwdParts, to
// dst.
func (r *Record) AppendCwd(dst []byte) []byte {
	parts := bytes.TrimRight(r.CwdParts, "\x00")
	if len(parts) == 0 {
		return append(dst, '/')
	}
	for end := len(parts); end > 0; {
		start := bytes.LastIndexByte(parts[:end], 0) + 1
		dst = append(dst, '/')
		dst = append(dst, parts[start:end]...)
		end = start - 1
	}
	return dst
}

// cstr returns b up to its first NUL.
func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}
