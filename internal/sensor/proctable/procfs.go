package proctable

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"

	"quell.dev/quell/internal/sensor/container"
)

var errBadStat = errors.New("malformed stat")

// ReadProc reads one process from procRoot/<pid>.
func ReadProc(procRoot string, pid uint32) (*Proc, error) {
	dir := procRoot + "/" + strconv.FormatUint(uint64(pid), 10)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return nil, err
	}
	p := &Proc{Pid: pid, Vpid: pid, LoginUID: ^uint32(0)}
	if err := parseStat(stat, p); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(dir + "/status"); err == nil {
		parseStatus(b, p)
	}
	if b, err := os.ReadFile(dir + "/loginuid"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil {
			p.LoginUID = uint32(v)
		}
	}
	cmdline, _ := os.ReadFile(dir + "/cmdline")
	p.Exe, p.Args = SplitArgs(cmdline)
	p.Cmdline = MakeCmdline(p.Name, p.Args)
	p.ExePath, _ = os.Readlink(dir + "/exe")
	p.ExePath = strings.TrimSuffix(p.ExePath, " (deleted)")
	p.Cwd, _ = os.Readlink(dir + "/cwd")
	p.ContainerID, err = container.FromProc(procRoot, int(pid))
	if err != nil {
		p.ContainerID = container.Host
	}
	return p, nil
}

// SplitArgs splits NUL-separated argv into argv[0] and the rest joined by
// spaces.
func SplitArgs(b []byte) (exe, args string) {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return "", ""
	}
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return string(b), ""
	}
	rest := bytes.ReplaceAll(b[i+1:], []byte{0}, []byte{' '})
	return string(b[:i]), string(rest)
}

// parseStat reads comm, ppid, session and tty_nr from /proc/<pid>/stat.
func parseStat(b []byte, p *Proc) error {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return errBadStat
	}
	p.Name = string(b[open+1 : end])
	f := strings.Fields(string(b[end+1:]))
	// f[0]=state f[1]=ppid f[2]=pgrp f[3]=session f[4]=tty_nr
	if len(f) < 5 {
		return errBadStat
	}
	ppid, _ := strconv.ParseUint(f[1], 10, 32)
	sid, _ := strconv.ParseUint(f[3], 10, 32)
	tty, _ := strconv.ParseInt(f[4], 10, 64)
	p.Ppid, p.Sid, p.TTY = uint32(ppid), uint32(sid), uint32(tty)
	return nil
}

// parseStatus reads the real uid and gid and the innermost namespace pid.
func parseStatus(b []byte, p *Proc) {
	for line := range bytes.Lines(b) {
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		f := strings.Fields(string(val))
		if len(f) == 0 {
			continue
		}
		switch string(key) {
		case "Uid":
			v, _ := strconv.ParseUint(f[0], 10, 32)
			p.UID = uint32(v)
		case "Gid":
			v, _ := strconv.ParseUint(f[0], 10, 32)
			p.GID = uint32(v)
		case "NSpid":
			v, _ := strconv.ParseUint(f[len(f)-1], 10, 32)
			p.Vpid = uint32(v)
		}
	}
}
