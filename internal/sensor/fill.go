package sensor

import (
	"net/netip"
	"strconv"

	"quell.dev/quell/internal/kubemeta"
	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/sensor/container"
)

// fill sets the syscall fields rules can test from e. It reuses ev's
// storage; buf is scratch space for fd.name.
func fill(ev *rules.SyscallEvent, e *Event, hostname string, buf []byte) []byte {
	ev.Reset()
	ev.SetTime(e.Time)
	ev.SetString(rules.EvtHostname, hostname)
	ev.SetString(rules.EvtDir, "<")
	ev.SetBool(rules.EvtFailed, false)
	switch e.Kind {
	case KindExec:
		ev.SetString(rules.EvtType, "execve")
		ev.SetString(rules.EvtCategory, "process")
		ev.SetString(rules.EvtRes, "SUCCESS")
		ev.SetInt(rules.EvtRawRes, 0)
		ev.Args = append(ev.Args, rules.Arg{Name: "res", Value: "0"}, rules.Arg{Name: "exe", Value: e.Proc.Exe},
			rules.Arg{Name: "args", Value: e.Proc.Args}, rules.Arg{Name: "filename", Value: e.Proc.ExePath})
	case KindConnect:
		ev.SetString(rules.EvtType, "connect")
		ev.SetString(rules.EvtCategory, "net")
		buf = fillConnect(ev, e, buf)
	case KindExit:
		ev.SetString(rules.EvtType, "procexit")
		ev.SetString(rules.EvtCategory, "process")
	}

	p := &e.Proc
	ev.SetString(rules.ProcName, p.Name)
	ev.SetString(rules.ProcExe, p.Exe)
	ev.SetString(rules.ProcExePath, p.ExePath)
	ev.SetString(rules.ProcCmdline, p.Cmdline)
	ev.SetString(rules.ProcArgs, p.Args)
	if p.Cwd != "" {
		ev.SetString(rules.ProcCwd, p.Cwd)
	}
	ev.SetInt(rules.ProcPid, int64(p.Pid))
	ev.SetInt(rules.ProcVpid, int64(p.Vpid))
	ev.SetInt(rules.ThreadTid, int64(p.Pid))
	ev.SetInt(rules.ThreadVtid, int64(p.Vpid))
	ev.SetInt(rules.ProcTTY, int64(p.TTY))
	ev.SetInt(rules.ProcSid, int64(p.Sid))
	ev.SetBool(rules.ProcIsSessionLeader, p.Sid == p.Pid)
	ev.SetInt(rules.UserUID, int64(p.UID))
	ev.SetInt(rules.GroupGID, int64(p.GID))
	if p.LoginUID == ^uint32(0) {
		ev.SetInt(rules.UserLoginUID, -1)
	} else {
		ev.SetInt(rules.UserLoginUID, int64(p.LoginUID))
	}
	if e.UserName != "" {
		ev.SetString(rules.UserName, e.UserName)
	}
	if e.LoginName != "" {
		ev.SetString(rules.UserLoginName, e.LoginName)
	}
	ev.Ancestors = append(ev.Ancestors, e.Ancestors...)
	for i := range e.Ancestors {
		if uint32(e.Ancestors[i].Pid) == p.Sid {
			ev.SetString(rules.ProcSname, e.Ancestors[i].Name)
			break
		}
	}
	if p.Sid == p.Pid {
		ev.SetString(rules.ProcSname, p.Name)
	}

	ev.SetString(rules.ContainerID, container.Short(e.ContainerID))
	if e.ContainerID != container.Host {
		fillPod(ev, e.Pod)
	} else {
		ev.SetString(rules.ContainerType, "host")
	}
	return buf
}

func fillPod(ev *rules.SyscallEvent, pod *kubemeta.Pod) {
	if pod == nil {
		return
	}
	ev.SetString(rules.K8sNsName, pod.Namespace)
	ev.SetString(rules.K8sPodName, pod.Name)
	ev.SetString(rules.K8sPodUID, pod.UID)
	if pod.IP != "" {
		ev.SetString(rules.K8sPodIP, pod.IP)
	}
	ev.SetString(rules.ContainerName, pod.Container)
	ev.SetBool(rules.ContainerHostNetwork, pod.HostNetwork)
	if pod.Runtime != "" {
		ev.SetString(rules.ContainerType, pod.Runtime)
	}
	if pod.Image != "" {
		repo, tag, digest := kubemeta.SplitImage(pod.Image)
		ev.SetString(rules.ContainerImage, pod.Image)
		ev.SetString(rules.ContainerImageRepository, repo)
		ev.SetString(rules.ContainerImageTag, tag)
		if digest != "" {
			ev.SetString(rules.ContainerImageDigest, digest)
		}
	}
	if pod.ImageID != "" {
		ev.SetString(rules.ContainerImageID, pod.ImageID)
	}
	for k, v := range pod.Labels {
		ev.Labels = append(ev.Labels, rules.KV{Key: k, Value: v})
	}
}

func fillConnect(ev *rules.SyscallEvent, e *Event, buf []byte) []byte {
	ev.SetString(rules.EvtRes, "SUCCESS")
	v6 := e.Daddr.Is6()
	if v6 {
		ev.SetString(rules.FdType, "ipv6")
		ev.SetString(rules.FdTypeChar, "6")
	} else {
		ev.SetString(rules.FdType, "ipv4")
		ev.SetString(rules.FdTypeChar, "4")
	}
	ev.SetString(rules.FdSockFamily, "ip")
	if e.Protocol == 6 {
		ev.SetString(rules.FdL4Proto, "tcp")
	}
	// The connecting side is the client: fd.cip/fd.lip are local,
	// fd.sip/fd.rip the destination.
	ev.SetIP(rules.FdSIP, e.Daddr)
	ev.SetIP(rules.FdRIP, e.Daddr)
	ev.SetIP(rules.FdCIP, e.Saddr)
	ev.SetIP(rules.FdLIP, e.Saddr)
	ev.SetInt(rules.FdSPort, int64(e.Dport))
	ev.SetInt(rules.FdRPort, int64(e.Dport))
	ev.SetInt(rules.FdCPort, int64(e.Sport))
	ev.SetInt(rules.FdLPort, int64(e.Sport))
	ev.SetBool(rules.FdIsServer, false)
	buf = appendAddrPort(buf[:0], e.Saddr, e.Sport)
	buf = append(buf, "->"...)
	buf = appendAddrPort(buf, e.Daddr, e.Dport)
	name := string(buf)
	ev.SetString(rules.FdName, name)
	ev.SetString(rules.FdNameRaw, name)
	ev.Args = append(ev.Args, rules.Arg{Name: "res", Value: "0"}, rules.Arg{Name: "tuple", Value: name})
	return buf
}

// appendAddrPort writes ip:port as Falco does (no brackets for IPv6).
func appendAddrPort(b []byte, ip netip.Addr, port uint16) []byte {
	b = ip.AppendTo(b)
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(port), 10)
}
