package sensor_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"testing"

	"quell.dev/quell/internal/sensor"
)

// TestHostNetworkTool runs a binary named nc on the host and expects the
// host network tool rule with its pid, user and command line.
func TestHostNetworkTool(t *testing.T) {
	out := newChanOutput()
	startSensor(t, sensor.Options{Engine: loadEngine(t, ""), Output: out})

	dir := t.TempDir()
	nc := copyBinary(t, "/bin/true", dir, "nc")
	marker := fmt.Sprintf("quell-host-test-%d", os.Getpid())
	cmd := exec.Command(nc, "-h", marker)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	a := out.wait(t, "Launch Suspicious Network Tool on Host for "+marker, func(a *sensor.Alert) bool {
		return a.Rule == "Launch Suspicious Network Tool on Host" && strings.Contains(field[string](a, "proc.cmdline"), marker)
	})
	if got := field[int64](a, "proc.pid"); got != int64(cmd.Process.Pid) {
		t.Errorf("proc.pid = %d, want %d", got, cmd.Process.Pid)
	}
	if got, want := field[string](a, "proc.cmdline"), "nc -h "+marker; got != want {
		t.Errorf("proc.cmdline = %q, want %q", got, want)
	}
	if got := field[string](a, "proc.exepath"); got != nc {
		t.Errorf("proc.exepath = %q, want %q", got, nc)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if got := field[string](a, "user.name"); got != u.Username {
		t.Errorf("user.name = %q, want %q", got, u.Username)
	}
	if got := field[int64](a, "user.uid"); strconv.FormatInt(got, 10) != u.Uid {
		t.Errorf("user.uid = %d, want %s", got, u.Uid)
	}
	if got := field[int64](a, "proc.ppid"); got != int64(os.Getpid()) {
		t.Errorf("proc.ppid = %d, want %d", got, os.Getpid())
	}
	if got := field[string](a, "container.id"); got != "host" {
		t.Errorf("container.id = %q", got)
	}
	if !strings.Contains(a.Output, "Network tool launched on host") || !strings.Contains(a.Output, "command=nc -h "+marker) {
		t.Errorf("output %q", a.Output)
	}
	if a.Target.Container != "" || a.Target.Node == "" {
		t.Errorf("target %+v", a.Target)
	}
	t.Logf("alert: %s", a.Output)
}

// TestMiner runs a process named like a miner with a stratum URL: both
// mining rules fire.
func TestMiner(t *testing.T) {
	out := newChanOutput()
	startSensor(t, sensor.Options{Engine: loadEngine(t, ""), Output: out})

	miner := copyBinary(t, "/bin/true", t.TempDir(), "xmrig")
	marker := fmt.Sprintf("quell-miner-test-%d", os.Getpid())
	cmd := exec.Command(miner, "-o", "stratum+tcp://pool.example.invalid:3333", marker)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"Known Cryptominer Process Executed": true, "Detect crypto miners using the Stratum protocol": true}
	for len(want) > 0 {
		a := out.wait(t, fmt.Sprintf("mining rules %v for %s", want, marker), func(a *sensor.Alert) bool {
			return want[a.Rule] && strings.Contains(field[string](a, "proc.cmdline"), marker)
		})
		delete(want, a.Rule)
		if a.Priority.String() != "Critical" || field[int64](a, "proc.pid") != int64(cmd.Process.Pid) {
			t.Errorf("%s: priority %s pid %d", a.Rule, a.Priority, field[int64](a, "proc.pid"))
		}
	}
}

// allowLoopback redefines the internal networks without loopback, the way
// a user rules file would, so a local listener counts as a mining pool.
const allowLoopback = `
- list: quell_internal_networks
  items: ['"10.0.0.0/8"', '"172.16.0.0/12"', '"192.168.0.0/16"', '"100.64.0.0/10"', '"169.254.0.0/16"']
`

// TestMiningPoolConnect connects to a loopback listener on a mining-pool
// port, over IPv4 and IPv6.
func TestMiningPoolConnect(t *testing.T) {
	out := newChanOutput()
	startSensor(t, sensor.Options{Engine: loadEngine(t, allowLoopback), Output: out})

	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			host := "127.0.0.1"
			if network == "tcp6" {
				host = "::1"
			}
			var ln net.Listener
			var port int
			for _, p := range []int{3333, 3334, 3335, 3336, 3357, 14433, 14444, 45560, 45700, 5588, 5730} {
				l, err := net.Listen(network, net.JoinHostPort(host, strconv.Itoa(p)))
				if err == nil {
					ln, port = l, p
					break
				}
			}
			if ln == nil {
				if network == "tcp6" {
					t.Skip("no IPv6 loopback listener possible")
				}
				t.Fatal("no mining-pool port free on loopback")
			}
			defer ln.Close()
			c, err := net.Dial(network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			a := out.wait(t, "mining pool connect to "+ln.Addr().String(), func(a *sensor.Alert) bool {
				return a.Rule == "Outbound connection to a mining pool port" && field[int64](a, "proc.pid") == int64(os.Getpid()) &&
					field[int64](a, "fd.sport") == int64(port) && field[string](a, "fd.sip") == host
			})
			if got := field[string](a, "fd.l4proto"); got != "tcp" {
				t.Errorf("fd.l4proto = %q", got)
			}
			if !strings.Contains(a.Output, "->"+host+":"+strconv.Itoa(port)) {
				t.Errorf("output %q", a.Output)
			}
			t.Logf("alert: %s", a.Output)
		})
	}
}
