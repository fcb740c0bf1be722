package rules

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// syscallSource resolves syscall field names.
var syscallSource = &sourceDef[SyscallEvent]{name: SourceSyscall, resolve: resolveSyscallField}

func scalarAccessor(f Field) accessor[SyscallEvent] {
	fi := syscallFields[f]
	a := accessor[SyscallEvent]{name: fi.name, kind: fi.kind}
	idx := fi.idx
	switch fi.kind {
	case kindString:
		a.str = func(e *SyscallEvent) (string, bool) { return e.str[idx], e.present(f) }
	case kindInt, kindBool:
		a.num = func(e *SyscallEvent) (int64, bool) { return e.num[idx], e.present(f) }
	case kindIP:
		a.ip = func(e *SyscallEvent) (netip.Addr, bool) { return e.ip[idx], e.present(f) }
	}
	return a
}

// ancestorField describes the per-ancestor fields.
var ancestorFields = map[string]struct {
	parent string // proc.p* alias for ancestor 1
	kind   kind
	get    func(*Ancestor) (string, int64)
}{
	"proc.aname":    {"proc.pname", kindString, func(a *Ancestor) (string, int64) { return a.Name, 0 }},
	"proc.aexe":     {"proc.pexe", kindString, func(a *Ancestor) (string, int64) { return a.Exe, 0 }},
	"proc.aexepath": {"proc.pexepath", kindString, func(a *Ancestor) (string, int64) { return a.ExePath, 0 }},
	"proc.acmdline": {"proc.pcmdline", kindString, func(a *Ancestor) (string, int64) { return a.Cmdline, 0 }},
	"proc.apid":     {"proc.ppid", kindInt, func(a *Ancestor) (string, int64) { return "", a.Pid }},
}

// selfField maps an ancestor field to the scalar field used for index 0.
var selfField = map[string]Field{
	"proc.aname": ProcName, "proc.aexe": ProcExe, "proc.aexepath": ProcExePath,
	"proc.acmdline": ProcCmdline, "proc.apid": ProcPid,
}

// ancestorAccessor returns the accessor for ancestor n (1 = parent).
func ancestorAccessor(name string, n int) accessor[SyscallEvent] {
	def := ancestorFields[name]
	if n == 0 {
		a := scalarAccessor(selfField[name])
		a.name = name + "[0]"
		return a
	}
	i := n - 1
	a := accessor[SyscallEvent]{name: name + "[" + strconv.Itoa(n) + "]", kind: def.kind}
	get := def.get
	if def.kind == kindString {
		a.str = func(e *SyscallEvent) (string, bool) {
			if i >= len(e.Ancestors) {
				return "", false
			}
			s, _ := get(&e.Ancestors[i])
			return s, s != ""
		}
	} else {
		a.num = func(e *SyscallEvent) (int64, bool) {
			if i >= len(e.Ancestors) {
				return 0, false
			}
			_, v := get(&e.Ancestors[i])
			return v, v > 0
		}
	}
	return a
}

// anyAncestorAccessor matches when any ancestor matches (no index given).
func anyAncestorAccessor(name string) accessor[SyscallEvent] {
	get := ancestorFields[name].get
	a := accessor[SyscallEvent]{name: name, kind: kindList, any: true}
	a.nth = func(e *SyscallEvent, i int) (string, bool) {
		if i >= len(e.Ancestors) {
			return "", false
		}
		s, n := get(&e.Ancestors[i])
		if s == "" && n != 0 {
			s = strconv.FormatInt(n, 10)
		}
		return s, true
	}
	// The whole list is built only to render outputs.
	a.list = func(e *SyscallEvent) ([]string, bool) {
		if len(e.Ancestors) == 0 {
			return nil, false
		}
		out := make([]string, 0, len(e.Ancestors))
		for i := range e.Ancestors {
			s, n := get(&e.Ancestors[i])
			if s == "" && n != 0 {
				s = strconv.FormatInt(n, 10)
			}
			out = append(out, s)
		}
		return out, true
	}
	return a
}

func kvAccessor(name, key string, list func(*SyscallEvent) []KV, glob bool) accessor[SyscallEvent] {
	a := accessor[SyscallEvent]{name: name + "[" + key + "]", kind: kindString}
	a.str = func(e *SyscallEvent) (string, bool) {
		for _, kv := range list(e) {
			if kv.Key == key || glob && globMatch(key, kv.Key, false) {
				return kv.Value, true
			}
		}
		return "", false
	}
	return a
}

func evtArgAccessor(name, arg string) accessor[SyscallEvent] {
	a := accessor[SyscallEvent]{name: name, kind: kindString}
	if n, err := strconv.Atoi(arg); err == nil {
		a.str = func(e *SyscallEvent) (string, bool) {
			if n < 0 || n >= len(e.Args) {
				return "", false
			}
			return e.Args[n].Value, true
		}
		return a
	}
	a.str = func(e *SyscallEvent) (string, bool) {
		for i := range e.Args {
			if e.Args[i].Name == arg {
				return e.Args[i].Value, true
			}
		}
		return "", false
	}
	return a
}

func ipnetAccessor(name string, f Field) accessor[SyscallEvent] {
	a := scalarAccessor(f)
	a.name, a.ipnet = name, true
	return a
}

// either makes an accessor that matches on a or, failing that, on b.
func either(name string, a, b accessor[SyscallEvent]) accessor[SyscallEvent] {
	a.name = name
	a.alt = &b
	return a
}

func resolveSyscallField(name, arg string, hasArg bool) (accessor[SyscallEvent], error) {
	unsupported := func() (accessor[SyscallEvent], error) {
		full := name
		if hasArg {
			full += "[" + arg + "]"
		}
		return accessor[SyscallEvent]{}, &fieldError{field: full, source: SourceSyscall}
	}
	if _, ok := ancestorFields[name]; ok {
		if !hasArg {
			return anyAncestorAccessor(name), nil
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 {
			return accessor[SyscallEvent]{}, errAt(0, "%s needs a numeric ancestor index, not %q", name, arg)
		}
		return ancestorAccessor(name, n), nil
	}
	for anc, def := range ancestorFields {
		if name == def.parent && !hasArg {
			a := ancestorAccessor(anc, 1)
			a.name = name
			return a, nil
		}
	}
	switch {
	case name == "evt.arg" && hasArg:
		return evtArgAccessor(name+"["+arg+"]", arg), nil
	case (strings.HasPrefix(name, "evt.arg.") || strings.HasPrefix(name, "evt.rawarg.")) && !hasArg:
		return evtArgAccessor(name, name[strings.LastIndexByte(name, '.')+1:]), nil
	case name == "evt.rawarg" && hasArg:
		return evtArgAccessor(name+"["+arg+"]", arg), nil
	case (name == "k8s.pod.label" || name == "k8s.pod.labels") && hasArg:
		return kvAccessor("k8s.pod.label", arg, func(e *SyscallEvent) []KV { return e.Labels }, false), nil
	case strings.HasPrefix(name, "k8s.pod.label.") && !hasArg:
		return kvAccessor("k8s.pod.label", strings.TrimPrefix(name, "k8s.pod.label."), func(e *SyscallEvent) []KV { return e.Labels }, false), nil
	case name == "proc.env" && hasArg:
		return kvAccessor(name, arg, func(e *SyscallEvent) []KV { return e.Env }, false), nil
	case name == "container.mount.dest" && hasArg:
		return kvAccessor(name, arg, func(e *SyscallEvent) []KV { return e.Mounts }, true), nil
	}
	if hasArg {
		return unsupported()
	}
	switch name {
	case "evt.time", "evt.time.iso8601", "evt.datetime":
		return timeAccessor(name), nil
	case "evt.source":
		return accessor[SyscallEvent]{name: name, kind: kindString, str: func(*SyscallEvent) (string, bool) { return SourceSyscall, true }}, nil
	case "k8s.pod.id":
		return scalarAccessor(K8sPodUID), nil
	case "fd.ip":
		return either(name, scalarAccessor(FdCIP), scalarAccessor(FdSIP)), nil
	case "fd.port":
		return either(name, scalarAccessor(FdCPort), scalarAccessor(FdSPort)), nil
	case "fd.net":
		return either(name, ipnetAccessor(name, FdCIP), ipnetAccessor(name, FdSIP)), nil
	case "fd.snet":
		return ipnetAccessor(name, FdSIP), nil
	case "fd.cnet":
		return ipnetAccessor(name, FdCIP), nil
	case "fd.rnet":
		return ipnetAccessor(name, FdRIP), nil
	case "fd.lnet":
		return ipnetAccessor(name, FdLIP), nil
	}
	if f, ok := syscallFieldByName[name]; ok {
		return scalarAccessor(f), nil
	}
	return unsupported()
}

func timeAccessor(name string) accessor[SyscallEvent] {
	layout := "15:04:05.000000000"
	switch name {
	case "evt.time.iso8601":
		layout = "2006-01-02T15:04:05.000000000Z"
	case "evt.datetime":
		layout = "2006-01-02 15:04:05.000000000"
	}
	return accessor[SyscallEvent]{name: name, kind: kindString, str: func(e *SyscallEvent) (string, bool) {
		n, ok := e.Int(EvtRawTime)
		if !ok {
			return "", false
		}
		return time.Unix(0, n).UTC().Format(layout), true
	}}
}
