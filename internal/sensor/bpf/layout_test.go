//go:build linux

package bpf

import (
	"testing"
	"unsafe"
)

// TestLayout checks record.go's offsets against the structs bpf2go
// generated from the C definitions.
func TestLayout(t *testing.T) {
	var h quellHeader
	var e quellExecEvent
	var c quellConnectEvent
	checks := []struct {
		name      string
		got, want uintptr
	}{
		{"ktime", unsafe.Offsetof(h.Ktime), offKtime},
		{"cgroup_id", unsafe.Offsetof(h.CgroupId), offCgroupID},
		{"type", unsafe.Offsetof(h.Type), offType},
		{"pid", unsafe.Offsetof(h.Pid), offPid},
		{"tid", unsafe.Offsetof(h.Tid), offTid},
		{"ppid", unsafe.Offsetof(h.Ppid), offPpid},
		{"uid", unsafe.Offsetof(h.Uid), offUID},
		{"gid", unsafe.Offsetof(h.Gid), offGID},
		{"loginuid", unsafe.Offsetof(h.Loginuid), offLoginUID},
		{"sid", unsafe.Offsetof(h.Sid), offSid},
		{"tty", unsafe.Offsetof(h.Tty), offTTY},
		{"vpid", unsafe.Offsetof(h.Vpid), offVpid},
		{"comm", unsafe.Offsetof(h.Comm), offComm},
		{"header size", unsafe.Sizeof(h), headerSize},
		{"cg", unsafe.Offsetof(e.Cg), offCgLeaf},
		{"exec flags", unsafe.Offsetof(e.Flags), offExecFlags},
		{"exec args_len", unsafe.Offsetof(e.ArgsLen), offExecArgsLen},
		{"exec cwd_len", unsafe.Offsetof(e.CwdLen), offExecCwdLen},
		{"exec filename", unsafe.Offsetof(e.Filename), offExecFilename},
		{"exec cwd", unsafe.Offsetof(e.Cwd), offExecCwd},
		{"exec args", unsafe.Offsetof(e.Args), offExecArgs},
		{"exec size", unsafe.Sizeof(e), offExecArgs + argsLen},
		{"conn family", unsafe.Offsetof(c.Family), offConnFamily},
		{"conn dport", unsafe.Offsetof(c.Dport), offConnDport},
		{"conn sport", unsafe.Offsetof(c.Sport), offConnSport},
		{"conn protocol", unsafe.Offsetof(c.Protocol), offConnProtocol},
		{"conn daddr", unsafe.Offsetof(c.Daddr), offConnDaddr},
		{"conn saddr", unsafe.Offsetof(c.Saddr), offConnSaddr},
		{"conn size", unsafe.Sizeof(c), connectSize},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: offset %d in C, %d in record.go", c.name, c.got, c.want)
		}
	}
}

func TestAppendCwd(t *testing.T) {
	for _, tt := range []struct{ parts, want string }{
		{"", "/"},
		{"tmp\x00", "/tmp"},
		{"c\x00b\x00a\x00", "/a/b/c"},
	} {
		r := Record{CwdParts: []byte(tt.parts)}
		if got := string(r.AppendCwd(nil)); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.parts, got, tt.want)
		}
	}
}
