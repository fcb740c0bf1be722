package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"quell.dev/quell/internal/sensor/storm"
)

// Sensor runs `exe sensor --output stdout` (root only; its alerts are
// discarded) and has `exe` GeneratorCommand launch `true` for d, as fast
// as it goes (see Generate): exec events per second the sensor read against those launched
// (it sees the machine's other processes too, so seen >= launched means
// none was lost), its drop counters, its CPU per 1,000 exec/s and RSS.
func Sensor(ctx context.Context, exe string, d time.Duration) ([]Result, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.CommandContext(ctx, exe, "sensor", "--output", "stdout", "--metrics-listen", addr, "--log-format", "json")
	cmd.Env = append(os.Environ(), "QUELL_CONFIG=")
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sensor: %w", err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	started := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		ok := false
		for sc.Scan() {
			if !ok && strings.Contains(sc.Text(), `"msg":"sensor started"`) {
				ok = true
				started <- true
			}
		}
		if !ok {
			started <- false
		}
	}()
	select {
	case ok := <-started:
		if !ok {
			return nil, fmt.Errorf("the sensor exited before starting (root is needed)")
		}
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("the sensor did not start within 60s")
	}
	metrics := "http://" + addr + "/metrics"
	before, err := scrape(ctx, metrics)
	if err != nil {
		return nil, err
	}
	cpu0, err := cpuTicks(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	// The launches come from a fresh, small process (this binary's
	// generator mode): forking a big process is what would be measured
	// otherwise.
	start := time.Now()
	gen, err := exec.CommandContext(ctx, exe, GeneratorCommand, d.String()).Output()
	if err != nil {
		return nil, fmt.Errorf("exec generator: %w", err)
	}
	took := time.Since(start)
	n, err := strconv.Atoi(strings.TrimSpace(string(gen)))
	if err != nil {
		return nil, fmt.Errorf("exec generator printed %q", gen)
	}
	time.Sleep(500 * time.Millisecond) // the last events through the ring buffer
	after, err := scrape(ctx, metrics)
	if err != nil {
		return nil, err
	}
	cpu1, err := cpuTicks(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	rss, _ := rssKiB(cmd.Process.Pid)
	seen := after[`quell_sensor_events_total{kind="exec"}`] - before[`quell_sensor_events_total{kind="exec"}`]
	dropped := 0.0
	for k, v := range after {
		if strings.HasPrefix(k, "quell_sensor_events_dropped_total") || strings.HasPrefix(k, "quell_sensor_kernel_events_lost_total") {
			dropped += v - before[k]
		}
	}
	rate := float64(n) / took.Seconds()
	cpu := float64(cpu1-cpu0) / 100 / took.Seconds() * 100 // clock ticks at 100 Hz -> % of a core
	lost := max(0, n-int(seen))
	return []Result{
		{Figure: "sensor: exec events/s", Value: fmt.Sprintf("%.0f/s launched, %.0f/s read", rate, seen/took.Seconds()),
			Detail: fmt.Sprintf("%d launched, %.0f read (the host's other processes included), %d lost, %.0f dropped", n, seen, lost, dropped)},
		{Figure: "sensor: CPU per 1k exec/s", Value: fmt.Sprintf("%.1f %% of a core", cpu/(rate/1000)),
			Detail: fmt.Sprintf("%.1f %% at %.0f exec/s; RSS %d MB", cpu, rate, rss/1024)},
	}, nil
}

// scrape reads the counters of a Prometheus text endpoint.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape sensor metrics: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// cpuTicks is a process's user plus system time in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s, nil
}

func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// GeneratorCommand is the hidden command of quell that runs Generate.
const GeneratorCommand = "__exec-storm"

// Generate launches a program that does nothing (storm.Nop, a minimal
// static executable; /bin/true on an architecture it has none for) from 2
// goroutines (fork, exec, wait) for d, as fast as they go, and returns how
// many ran.
func Generate(d time.Duration) int {
	prog := "/bin/true"
	if dir, err := os.MkdirTemp("", "quell-storm-"); err == nil {
		defer os.RemoveAll(dir)
		if p, err := storm.Nop(dir, "true"); err == nil {
			prog = p
		}
	}
	return int(storm.Run(storm.Options{Program: prog, Duration: d}).Launched)
}
