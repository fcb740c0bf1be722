// Package container finds the container a process runs in from its cgroup.
//
// Container runtimes name a container's cgroup after its ID. The layouts
// recognised are:
//
//	cgroupfs: /kubepods/besteffort/pod<uid>/<id>, /docker/<id>, /<prefix>/<id> (plain runc)
//	systemd:  .../cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope, libpod-<id>.scope
//
// where <id> is 64 hexadecimal digits. A process in no such cgroup is on
// the host, reported as [Host].
package container

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
)

// Host is the container ID of processes outside containers, as in Falco.
const Host = "host"

// IDLen is the length of a full container ID.
const IDLen = 64

// ShortLen is the length of the short ID Falco reports as container.id.
const ShortLen = 12

var scopePrefixes = [][]byte{
	[]byte("cri-containerd-"), []byte("crio-"), []byte("docker-"), []byte("libpod-"),
}

// FromName returns the container ID a single cgroup directory name
// carries, or "".
func FromName(name []byte) string {
	if isID(name) {
		return string(name)
	}
	if rest, ok := bytes.CutSuffix(name, []byte(".scope")); ok {
		for _, p := range scopePrefixes {
			if id, ok := bytes.CutPrefix(rest, p); ok && isID(id) {
				return string(id)
			}
		}
	}
	return ""
}

// FromNames returns the container ID carried by a cgroup's name or, for a
// cgroup nested inside a container's, its parent's name; Host when neither
// carries one.
func FromNames(leaf, parent []byte) string {
	if id := FromName(leaf); id != "" {
		return id
	}
	if id := FromName(parent); id != "" {
		return id
	}
	return Host
}

// FromPath returns the container ID carried by the innermost matching
// element of a cgroup path, or Host.
func FromPath(path string) string {
	for path != "" && path != "/" {
		i := strings.LastIndexByte(path, '/')
		if id := FromName([]byte(path[i+1:])); id != "" {
			return id
		}
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return Host
}

// FromProc returns the container ID of a running process from
// /proc/<pid>/cgroup, preferring the cgroup v2 line.
func FromProc(procRoot string, pid int) (string, error) {
	f, err := os.Open(procRoot + "/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return fromCgroupFile(f)
}

func fromCgroupFile(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	v1 := Host
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		id := FromPath(parts[2])
		if parts[0] == "0" && parts[1] == "" {
			if id != Host {
				return id, nil
			}
			continue
		}
		if v1 == Host {
			v1 = id
		}
	}
	return v1, sc.Err()
}

// Short returns the 12-character form of id (Host unchanged).
func Short(id string) string {
	if len(id) > ShortLen && id != Host {
		return id[:ShortLen]
	}
	return id
}

func isID(b []byte) bool {
	if len(b) != IDLen {
		return false
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
