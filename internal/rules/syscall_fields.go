package rules

import "fmt"

// Scalar syscall fields. String fields come first, then numeric and boolean
// fields, then addresses; the mark* values separate the groups.
const (
	EvtType Field = iota
	EvtRes
	EvtBuffer
	EvtArgs
	EvtCategory
	EvtHostname
	EvtDir
	ProcName
	ProcExe
	ProcExePath
	ProcCmdline
	ProcArgs
	ProcCwd
	ProcSname
	ProcEnv
	ProcVpgidName
	ProcVpgidExe
	ThreadCapPermitted
	ThreadCapEffective
	ThreadCapInheritable
	UserName
	UserLoginName
	UserHomedir
	UserShell
	GroupName
	ContainerID
	ContainerName
	ContainerImage
	ContainerImageRepository
	ContainerImageTag
	ContainerImageDigest
	ContainerImageID
	ContainerType
	ContainerMounts
	ContainerIP
	K8sNsName
	K8sPodName
	K8sPodUID
	K8sPodSandboxID
	K8sPodIP
	K8sPodLabels
	FdName
	FdNameRaw
	FdDirectory
	FdFilename
	FdType
	FdTypeChar
	FdL4Proto
	FdSockFamily
	FdSIPName
	FdCIPName
	FdRIPName
	FdLIPName
	FsPathName
	FsPathSource
	FsPathTarget

	markInt

	EvtRawTime
	EvtNum
	EvtRawRes
	EvtCPU
	ProcPid
	ProcVpid
	ProcTTY
	ProcSid
	ProcVpgid
	ProcLoginShellID
	ProcExeIno
	ProcExeInoCtime
	ProcExeInoMtime
	ProcExeInoCtimeDurationProcStart
	ProcDuration
	ProcPpidDuration
	ThreadTid
	ThreadVtid
	UserUID
	UserLoginUID
	GroupGID
	ContainerStartTS
	ContainerDuration
	FdNum
	FdSPort
	FdCPort
	FdRPort
	FdLPort
	FdIno
	FdDev
	EvtFailed
	EvtIsOpenRead
	EvtIsOpenWrite
	EvtIsOpenExec
	EvtIsOpenCreate
	ProcIsVpgidLeader
	ProcIsSessionLeader
	ProcIsExeUpperLayer
	ProcIsExeWritable
	ProcIsExeFromMemfd
	ContainerPrivileged
	ContainerHostPID
	ContainerHostNetwork
	ContainerHostIPC
	FdConnected
	FdIsServer
	FdNameChanged
	FdIsUpperLayer

	markIP

	FdSIP
	FdCIP
	FdRIP
	FdLIP

	numSyscallFields
)

const (
	numStrFields = int(markInt)
	numIntFields = int(markIP - markInt - 1)
	numIPFields  = int(numSyscallFields - markIP - 1)
)

// Compile-time check that the presence bitset is large enough.
var _ = [128 - int(numSyscallFields)]struct{}{}

type fieldInfo struct {
	name string
	kind kind
	idx  int // index into the event's storage array for kind
}

func (fi fieldInfo) slot(k kind) int {
	store := func(k kind) kind {
		if k == kindBool {
			return kindInt
		}
		return k
	}
	if store(fi.kind) != store(k) {
		panic(fmt.Sprintf("rules: field %s is a %s, not a %s", fi.name, fi.kind, k))
	}
	return fi.idx
}

var syscallFieldNames = [numSyscallFields]string{
	EvtType: "evt.type", EvtRes: "evt.res", EvtBuffer: "evt.buffer", EvtArgs: "evt.args",
	EvtCategory: "evt.category", EvtHostname: "evt.hostname", EvtDir: "evt.dir",
	ProcName: "proc.name", ProcExe: "proc.exe", ProcExePath: "proc.exepath",
	ProcCmdline: "proc.cmdline", ProcArgs: "proc.args", ProcCwd: "proc.cwd",
	ProcSname: "proc.sname", ProcEnv: "proc.env", ProcVpgidName: "proc.vpgid.name",
	ProcVpgidExe: "proc.vpgid.exe", ThreadCapPermitted: "thread.cap_permitted",
	ThreadCapEffective: "thread.cap_effective", ThreadCapInheritable: "thread.cap_inheritable",
	UserName: "user.name", UserLoginName: "user.loginname", UserHomedir: "user.homedir",
	UserShell: "user.shell", GroupName: "group.name", ContainerID: "container.id",
	ContainerName: "container.name", ContainerImage: "container.image",
	ContainerImageRepository: "container.image.repository", ContainerImageTag: "container.image.tag",
	ContainerImageDigest: "container.image.digest", ContainerImageID: "container.image.id",
	ContainerType: "container.type", ContainerMounts: "container.mounts", ContainerIP: "container.ip",
	K8sNsName: "k8s.ns.name", K8sPodName: "k8s.pod.name", K8sPodUID: "k8s.pod.uid",
	K8sPodSandboxID: "k8s.pod.sandbox_id", K8sPodIP: "k8s.pod.ip", K8sPodLabels: "k8s.pod.labels",
	FdName: "fd.name", FdNameRaw: "fd.nameraw", FdDirectory: "fd.directory", FdFilename: "fd.filename",
	FdType: "fd.type", FdTypeChar: "fd.typechar", FdL4Proto: "fd.l4proto", FdSockFamily: "fd.sockfamily",
	FdSIPName: "fd.sip.name", FdCIPName: "fd.cip.name", FdRIPName: "fd.rip.name", FdLIPName: "fd.lip.name",
	FsPathName: "fs.path.name", FsPathSource: "fs.path.source", FsPathTarget: "fs.path.target",

	EvtRawTime: "evt.rawtime", EvtNum: "evt.num", EvtRawRes: "evt.rawres", EvtCPU: "evt.cpu",
	ProcPid: "proc.pid", ProcVpid: "proc.vpid", ProcTTY: "proc.tty", ProcSid: "proc.sid",
	ProcVpgid: "proc.vpgid", ProcLoginShellID: "proc.loginshellid", ProcExeIno: "proc.exe_ino",
	ProcExeInoCtime: "proc.exe_ino.ctime", ProcExeInoMtime: "proc.exe_ino.mtime",
	ProcExeInoCtimeDurationProcStart: "proc.exe_ino.ctime_duration_proc_start",
	ProcDuration:                     "proc.duration", ProcPpidDuration: "proc.ppid.duration",
	ThreadTid: "thread.tid", ThreadVtid: "thread.vtid", UserUID: "user.uid",
	UserLoginUID: "user.loginuid", GroupGID: "group.gid", ContainerStartTS: "container.start_ts",
	ContainerDuration: "container.duration", FdNum: "fd.num", FdSPort: "fd.sport",
	FdCPort: "fd.cport", FdRPort: "fd.rport", FdLPort: "fd.lport", FdIno: "fd.ino", FdDev: "fd.dev",
	EvtFailed: "evt.failed", EvtIsOpenRead: "evt.is_open_read", EvtIsOpenWrite: "evt.is_open_write",
	EvtIsOpenExec: "evt.is_open_exec", EvtIsOpenCreate: "evt.is_open_create",
	ProcIsVpgidLeader: "proc.is_vpgid_leader", ProcIsSessionLeader: "proc.is_session_leader",
	ProcIsExeUpperLayer: "proc.is_exe_upper_layer", ProcIsExeWritable: "proc.is_exe_writable",
	ProcIsExeFromMemfd: "proc.is_exe_from_memfd", ContainerPrivileged: "container.privileged",
	ContainerHostPID: "container.host_pid", ContainerHostNetwork: "container.host_network",
	ContainerHostIPC: "container.host_ipc", FdConnected: "fd.connected", FdIsServer: "fd.is_server",
	FdNameChanged: "fd.name_changed", FdIsUpperLayer: "fd.is_upper_layer",

	FdSIP: "fd.sip", FdCIP: "fd.cip", FdRIP: "fd.rip", FdLIP: "fd.lip",
}

// syscallFields describes every scalar field, indexed by Field.
var syscallFields [numSyscallFields]fieldInfo

// syscallFieldByName maps a scalar field name to its Field.
var syscallFieldByName = map[string]Field{}

func init() {
	for f := Field(0); f < numSyscallFields; f++ {
		name := syscallFieldNames[f]
		fi := fieldInfo{name: name}
		switch {
		case f < markInt:
			fi.kind, fi.idx = kindString, int(f)
		case f < EvtFailed:
			fi.kind, fi.idx = kindInt, int(f-markInt-1)
		case f < markIP:
			fi.kind, fi.idx = kindBool, int(f-markInt-1)
		default:
			fi.kind, fi.idx = kindIP, int(f-markIP-1)
		}
		if name != "" {
			syscallFieldByName[name] = f
		}
		syscallFields[f] = fi
	}
}

// FieldByName returns the scalar syscall field with the given name.
func FieldByName(name string) (Field, bool) {
	f, ok := syscallFieldByName[name]
	return f, ok
}

// Name returns the field's name in the rules language.
func (f Field) Name() string { return syscallFields[f].name }
