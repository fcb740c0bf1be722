package sensor_test

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"quell.dev/quell/internal/sensor"
	"quell.dev/quell/internal/sensor/bpf"
	"quell.dev/quell/internal/sensor/storm"
)

// The exec storm: a separate generator process (this test binary in
// helper mode) launches a program that does nothing (storm.Nop: a minimal
// static executable, so an exec costs no dynamic loading) at a fixed rate,
// or as fast as it can (rate 0), for a few seconds; every stormEvery-th
// launch is instead a copy named nc whose argv carries its launch time,
// which fires a rule, so the benchmark measures exec → alert delivered to
// a local HTTP receiver. The sensor runs in the benchmark process, so its
// CPU is this process's rusage; the generator's is not counted.
//
//	go test -run '^$' -bench ExecStorm -benchtime 1x ./internal/sensor
//
// QUELL_STORM_SECONDS sets the length of each run (default 5);
// QUELL_STORM_BIN the program launched instead (e.g. /bin/true, which
// costs a dynamic loader per exec and reaches far lower rates).
const stormEvery = 100

func stormHelper() int {
	rate, _ := strconv.Atoi(os.Getenv("QUELL_STORM_RATE"))
	secs, _ := strconv.ParseFloat(os.Getenv("QUELL_STORM_SECONDS"), 64)
	r := storm.Run(storm.Options{Program: os.Getenv("QUELL_STORM_BIN"), Rate: rate, Duration: time.Duration(secs * float64(time.Second)),
		Mark: stormEvery, Marked: os.Getenv("QUELL_STORM_NC"),
		MarkArgs: func(at time.Time) []string {
			return []string{"nc", "quell-storm", "t=" + strconv.FormatInt(at.UnixNano(), 10)}
		}})
	fmt.Printf("launched %d %d\n", r.Launched, r.Elapsed.Nanoseconds())
	return 0
}

func BenchmarkExecStorm(b *testing.B) {
	requireRoot(b)
	for _, rate := range []int{1000, 10000, 0} {
		name := "rate=" + strconv.Itoa(rate)
		if rate == 0 {
			name = "rate=max"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				runStorm(b, rate)
			}
		})
	}
}

func runStorm(b *testing.B, rate int) {
	secs := os.Getenv("QUELL_STORM_SECONDS")
	if secs == "" {
		secs = "5"
	}
	dir := b.TempDir()
	bin := os.Getenv("QUELL_STORM_BIN")
	nc, err := storm.Nop(dir, "nc")
	if err == nil && bin == "" {
		bin, err = storm.Nop(dir, "true")
	}
	if err != nil { // another architecture: real programs, fewer launches per second
		bin, nc = cmp.Or(bin, "/bin/true"), copyBinary(b, "/bin/true", dir, "nc")
	}

	var mu sync.Mutex
	var latencies []time.Duration
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch struct {
			Alerts []struct {
				Fields map[string]any `json:"fields"`
			} `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		mu.Lock()
		for _, a := range batch.Alerts {
			cmd, _ := a.Fields["proc.cmdline"].(string)
			if _, ts, ok := strings.Cut(cmd, "quell-storm t="); ok {
				if n, err := strconv.ParseInt(ts, 10, 64); err == nil {
					latencies = append(latencies, now.Sub(time.Unix(0, n)))
				}
			}
		}
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer recv.Close()

	reg := prometheus.NewRegistry()
	out, err := sensor.NewServerOutput(sensor.ServerOptions{URL: recv.URL, Token: "t", Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	var genPid atomic.Int64
	var seen atomic.Int64
	tap := func(e *sensor.Event) {
		if e.Kind == sensor.KindExec && int64(e.Proc.Ppid) == genPid.Load() {
			seen.Add(1)
		}
	}
	s := startSensor(b, sensor.Options{Engine: loadEngine(b, ""), Output: out, Registry: reg, Tap: tap,
		Log: discardLog()})
	outDone := make(chan error, 1)
	octx, ocancel := contextWithCancel()
	go func() { outDone <- out.Start(octx) }()
	defer func() { ocancel(); <-outDone }()

	// Account the time spent in the kernel programs (in the context of
	// the processes they observe, so not in the sensor's CPU).
	if stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME); err == nil {
		defer stats.Close()
	}
	runs0 := runStats(s)
	before := gatherCounters(b, reg)
	cpu0 := rusageCPU()
	t0 := time.Now()
	gen := exec.Command(os.Args[0], "-test.run=^$")
	gen.Env = append(os.Environ(), helperEnv+"=storm", "QUELL_STORM_RATE="+strconv.Itoa(rate),
		"QUELL_STORM_SECONDS="+secs, "QUELL_STORM_BIN="+bin, "QUELL_STORM_NC="+nc)
	stdout, _ := gen.StdoutPipe()
	if err := gen.Start(); err != nil {
		b.Fatal(err)
	}
	genPid.Store(int64(gen.Process.Pid))
	sc := bufio.NewScanner(stdout)
	var launched, genNanos int64
	for sc.Scan() {
		fmt.Sscanf(sc.Text(), "launched %d %d", &launched, &genNanos)
	}
	if err := gen.Wait(); err != nil {
		b.Fatalf("generator: %v", err)
	}
	// Let the pipeline and the output drain, then measure.
	wantAlerts := int(launched / stormEvery)
	for last, lastChange := seen.Load(), time.Now(); time.Since(lastChange) < 3*time.Second; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(latencies)
		mu.Unlock()
		if seen.Load() >= launched && n >= wantAlerts {
			break
		}
		if s := seen.Load(); s != last {
			last, lastChange = s, time.Now()
		}
	}
	wall := time.Since(t0)
	cpu := rusageCPU() - cpu0

	execRate := float64(launched) / (float64(genNanos) / 1e9)
	cpuPct := 100 * cpu.Seconds() / wall.Seconds()
	mu.Lock()
	lat := slices.Clone(latencies)
	mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return -1
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	rss, hwm := memStatus()
	metrics := gatherCounters(b, reg)
	// The sensor sees every exec on the machine, not only the storm's:
	// CPU is per 1k of all exec events it processed.
	allExecs := metrics["quell_sensor_events_total{kind=exec}"] - before["quell_sensor_events_total{kind=exec}"]
	allRate := allExecs / wall.Seconds()
	b.ReportMetric(execRate, "exec/s")
	b.ReportMetric(allRate, "all-exec/s")
	b.ReportMetric(cpuPct/(allRate/1000), "cpu%/1k-all-exec/s")
	b.ReportMetric(float64(launched), "launched")
	b.ReportMetric(float64(seen.Load()), "seen")
	b.ReportMetric(metrics["quell_sensor_kernel_events_lost_total"], "kernel-lost")
	b.ReportMetric(metrics["quell_sensor_events_dropped_total"], "queue-dropped")
	b.ReportMetric(cpuPct, "cpu%")
	b.ReportMetric(cpuPct/(execRate/1000), "cpu%/1k-exec/s")
	b.ReportMetric(rss/1024, "rss-MB")
	b.ReportMetric(hwm/1024, "peak-rss-MB")
	b.ReportMetric(float64(len(lat)), "alerts")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	runs := runStats(s)
	var progNs []string
	for name, r := range runs {
		d := r.Runs - runs0[name].Runs
		if d == 0 {
			continue
		}
		ns := float64(r.Runtime-runs0[name].Runtime) / float64(d)
		b.ReportMetric(ns, "bpf-"+name+"-ns/run")
		progNs = append(progNs, fmt.Sprintf("%s %.0f ns/run", name, ns))
	}
	slices.Sort(progNs)
	b.ReportMetric(0, "ns/op")
	b.Logf("rate %d: launched %d (%.0f/s) seen %d, lost %v, dropped %v; all execs on the machine %.0f/s; sensor cpu %.1f%% of a core over %v = %.2f%% per 1k exec/s; rss %.1f MB (peak %.1f); alerts %d/%d, exec->delivered p50 %.2f ms p99 %.2f ms; kernel programs: %s",
		rate, launched, execRate, seen.Load(), metrics["quell_sensor_kernel_events_lost_total"],
		metrics["quell_sensor_events_dropped_total"], allRate, cpuPct, wall.Round(time.Millisecond), cpuPct/(allRate/1000),
		rss/1024, hwm/1024, len(lat), wantAlerts, pct(0.5), pct(0.99), strings.Join(progNs, ", "))
}

func runStats(s *sensor.Sensor) map[string]bpf.RunStat {
	m := map[string]bpf.RunStat{}
	for _, r := range s.RunStats() {
		m[r.Program] = r
	}
	return m
}

func rusageCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memStatus returns VmRSS and VmHWM in KiB.
func memStatus() (rss, hwm float64) {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}

// gatherCounters sums each metric family's samples.
func gatherCounters(tb testing.TB, reg *prometheus.Registry) map[string]float64 {
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				out[mf.GetName()] += m.GetCounter().GetValue()
				for _, l := range m.GetLabel() {
					out[mf.GetName()+"{"+l.GetName()+"="+l.GetValue()+"}"] += m.GetCounter().GetValue()
				}
			case m.GetGauge() != nil:
				out[mf.GetName()] += m.GetGauge().GetValue()
			}
		}
	}
	return out
}
