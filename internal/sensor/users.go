package sensor

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"time"

	"quell.dev/quell/internal/sensor/container"
)

// users resolves uids to names from the host's /etc/passwd and, for
// container processes, the container's own (read through /proc/<pid>/root
// once per container). Owned by the pipeline goroutine.
type users struct {
	procRoot   string
	host       map[uint32]string
	hostLoaded time.Time
	containers map[string]map[uint32]string
}

func newUsers(procRoot string) *users {
	return &users{procRoot: procRoot, containers: map[string]map[uint32]string{}}
}

// name returns the user name of uid for a process in containerID, "" if
// unknown.
func (u *users) name(uid uint32, containerID string, pid uint32) string {
	if containerID == container.Host {
		if time.Since(u.hostLoaded) > 30*time.Second {
			if m, err := readPasswd("/etc/passwd"); err == nil || u.host == nil {
				u.host = m
			}
			u.hostLoaded = time.Now()
		}
		return u.host[uid]
	}
	m, ok := u.containers[containerID]
	if !ok {
		var err error
		m, err = readPasswd(u.procRoot + "/" + strconv.FormatUint(uint64(pid), 10) + "/root/etc/passwd")
		if err != nil && len(u.containers) > 4096 {
			clear(u.containers)
		}
		if err == nil {
			u.containers[containerID] = m
		}
	}
	if n, ok := m[uid]; ok {
		return n
	}
	if uid == 0 {
		return "root"
	}
	return ""
}

// readPasswd maps uids to names from a passwd file.
func readPasswd(path string) (map[uint32]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return map[uint32]string{}, err
	}
	defer f.Close()
	m := map[uint32]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// name:password:uid:gid:gecos:home:shell
		parts := strings.SplitN(sc.Text(), ":", 4)
		if len(parts) < 3 {
			continue
		}
		uid, err := strconv.ParseUint(parts[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := m[uint32(uid)]; !dup {
			m[uint32(uid)] = parts[0]
		}
	}
	return m, sc.Err()
}
