package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NodeName is the demo's node: the API object the host scenario cordons
// (no kubelet runs it).
const NodeName = "demo-node"

// startSensor runs `quell sensor` (the command in cmd, e.g. this binary)
// against the demo server as the demo node's sensor, and returns once it
// has loaded its programs, with a function that stops it.
func (s *story) startSensor(ctx context.Context, cmd []string) (stop func(), err error) {
	args := append(cmd[1:len(cmd):len(cmd)], "sensor", "--server", s.srv.url, "--server-ca-file", s.srv.cert, "--token-file", s.srv.tokenFile,
		"--node", NodeName, "--kubeconfig", s.cl.Kubeconfig, "--metrics-listen", "", "--log-format", "json")
	c := exec.Command(cmd[0], args...)
	c.Env = append(os.Environ(), "QUELL_CONFIG=") // its own settings only
	logFile, err := os.Create(filepath.Join(s.dir, "sensor.log"))
	if err != nil {
		return nil, fmt.Errorf("sensor log: %w", err)
	}
	pr, pw := io.Pipe()
	c.Stderr, c.Stdout = io.MultiWriter(logFile, pw), logFile
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start sensor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait(); pw.Close(); logFile.Close() }()
	stop = func() {
		_ = c.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = c.Process.Kill()
			<-exited
		}
	}
	started := make(chan struct{})
	var tail []string
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if len(tail) < 20 {
				tail = append(tail, line)
			}
			if strings.Contains(line, `"msg":"sensor started"`) {
				close(started)
				io.Copy(io.Discard, pr) // keep the pipe drained
				return
			}
		}
	}()
	select {
	case <-started:
		return stop, nil
	case err := <-exited:
		return nil, fmt.Errorf("sensor exited: %v\n%s", err, strings.Join(tail, "\n"))
	case <-time.After(60 * time.Second):
		stop()
		return nil, errors.New("sensor did not start within 60s:\n" + strings.Join(tail, "\n"))
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
}

// hostTool: someone runs a network tool (nc) on a node. With the sensor
// running, it sees the exec; otherwise the alert it would send is
// replayed. The response is host-level: the node is cordoned, then the
// cordon is restored.
func (s *story) hostTool(ctx context.Context, admin kubernetes.Interface, sensorCmd []string) error {
	if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: NodeName,
		Labels: map[string]string{"kubernetes.io/hostname": NodeName}}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	start := time.Now()
	if len(sensorCmd) > 0 {
		stop, err := s.startSensor(ctx, sensorCmd)
		if err != nil {
			return err
		}
		defer stop()
		s.n.say("quell sensor running as node " + NodeName + " (eBPF exec and connect events, rules on the node; log: " + filepath.Join(s.dir, "sensor.log") + ")")
		dir, err := os.MkdirTemp("", "quell-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		nc := filepath.Join(dir, "nc") // a stand-in binary named like the tool: the rule matches the process name
		if err := copyFile("/bin/true", nc); err != nil {
			return err
		}
		start = time.Now()
		if err := exec.CommandContext(ctx, nc, "-lvp", "4444").Run(); err != nil {
			return fmt.Errorf("run %s: %w", nc, err)
		}
		s.n.say("ran `nc -lvp 4444` on the host")
	} else {
		s.n.say("not root: the sensor cannot load its eBPF programs here; replaying the alert it sends when `nc -lvp 4444` runs on a node")
		alert := map[string]any{
			"time": time.Now().UTC().Format(time.RFC3339Nano), "rule": "Launch Suspicious Network Tool on Host", "priority": "Notice",
			"source": "syscall", "hostname": NodeName,
			"output":        "Network tool launched on host (user=root proc.name=nc proc.cmdline=nc -lvp 4444)",
			"output_fields": map[string]any{"proc.name": "nc", "proc.cmdline": "nc -lvp 4444", "user.name": "root"},
			"tags":          []string{"network", "mitre_execution"},
		}
		if err := s.api.PostFalco(ctx, alert); err != nil {
			return fmt.Errorf("post host alert: %w", err)
		}
	}
	inc, err := s.waitIncident(ctx, "Launch Suspicious Network Tool on Host", 20*time.Second)
	if err != nil {
		return err
	}
	s.n.say(fmt.Sprintf("incident #%d opened %s after the launch: %s", inc.ID, time.Since(start).Round(time.Millisecond), inc.Title))
	if err := s.narrateResponse(ctx, inc.ID, start); err != nil {
		return err
	}
	n, err := admin.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	s.n.say(fmt.Sprintf("  node %s unschedulable: %v (new pods go elsewhere; what runs there keeps running)", NodeName, n.Spec.Unschedulable))
	if _, err := s.api.Restore(ctx, inc.ID); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if n, err = admin.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{}); err != nil {
		return err
	}
	s.n.say(fmt.Sprintf("restored incident #%d: node %s unschedulable: %v", inc.ID, NodeName, n.Spec.Unschedulable))
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}

// StartSensor runs the sensor for the demo node (see Options.Sensor) and
// returns a function that stops it.
func (e *Env) StartSensor(ctx context.Context) (stop func(), err error) {
	if len(e.story.sensor) == 0 {
		return nil, errors.New("no sensor command (Options.Sensor)")
	}
	return e.story.startSensor(ctx, e.story.sensor)
}
