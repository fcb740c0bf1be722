package sensor_test

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
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
// helper mode, storm_helper_test.go) launches a program that does nothing
// (storm.Nop: a minimal static executable, so an exec costs no dynamic
// loading) at a fixed rate, or as fast as it can (rate 0), for a few
// seconds; every stormEvery-th launch is instead a copy named nc whose
// argv carries its launch time, which fires a rule. The generator also
// receives the sensor's alerts over HTTP, so the benchmark measures exec →
// alert delivered. The sensor runs in the benchmark process, so its CPU is
// this process's rusage; neither the generator's launches nor the
// receiver's work is counted. The sensor's CPU while the machine is idle
// is measured first: "marginal" figures leave it out.
//
//	go test -run '^$' -bench ExecStorm -benchtime 1x ./internal/sensor
//
// QUELL_STORM_SECONDS sets the length of each run (default 5);
// QUELL_STORM_BIN the program launched instead (e.g. /bin/true, which
// costs a dynamic loader per exec and reaches far lower rates).
const stormEvery = 100

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

	gen := startGenerator(b, rate, secs, bin, nc)
	reg := prometheus.NewRegistry()
	out, err := sensor.NewServerOutput(sensor.ServerOptions{URL: gen.url, Token: "t", Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	var seen atomic.Int64
	tap := func(e *sensor.Event) {
		if e.Kind == sensor.KindExec && int64(e.Proc.Ppid) == int64(gen.cmd.Process.Pid) {
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
	idleCPU, idleWall := rusageCPU(), time.Now()
	time.Sleep(2 * time.Second)
	idlePct := 100 * (rusageCPU() - idleCPU).Seconds() / time.Since(idleWall).Seconds()

	runs0 := runStats(s)
	before := gatherCounters(b, reg)
	cpu0 := rusageCPU()
	t0 := time.Now()
	launched, genNanos := gen.launch(b)
	// Let the pipeline drain (every launch seen), and the output deliver
	// the alerts, then measure.
	for last, lastChange := seen.Load(), time.Now(); seen.Load() < launched && time.Since(lastChange) < 3*time.Second; time.Sleep(5 * time.Millisecond) {
		if s := seen.Load(); s != last {
			last, lastChange = s, time.Now()
		}
	}
	wantAlerts := int(launched / stormEvery)
	latencies := gen.latencies(b)
	wall := time.Since(t0)
	cpu := rusageCPU() - cpu0

	execRate := float64(launched) / (float64(genNanos) / 1e9)
	cpuPct := 100 * cpu.Seconds() / wall.Seconds()
	lat := latencies
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
	b.ReportMetric(idlePct, "idle-cpu%")
	b.ReportMetric((cpuPct-idlePct)/(allRate/1000), "marginal-cpu%/1k-exec/s")
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
	b.Logf("rate %d: launched %d (%.0f/s) seen %d, lost %v, dropped %v; all execs on the machine %.0f/s; sensor cpu %.1f%% of a core over %v = %.2f%% per 1k exec/s (idle %.2f%%: marginal %.2f%% per 1k exec/s); rss %.1f MB (peak %.1f); alerts %d/%d, exec->delivered p50 %.2f ms p99 %.2f ms; kernel programs: %s",
		rate, launched, execRate, seen.Load(), metrics["quell_sensor_kernel_events_lost_total"],
		metrics["quell_sensor_events_dropped_total"], allRate, cpuPct, wall.Round(time.Millisecond), cpuPct/(allRate/1000),
		idlePct, (cpuPct-idlePct)/(allRate/1000), rss/1024, hwm/1024, len(lat), wantAlerts, pct(0.5), pct(0.99), strings.Join(progNs, ", "))
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
