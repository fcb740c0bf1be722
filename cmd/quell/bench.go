package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"quell.dev/quell/internal/bench"
	"quell.dev/quell/internal/demo"
)

var benchParts = []string{"rules", "ingest", "response", "sensor"}

// runBench measures quell's headline figures on this machine and prints
// them (see internal/bench).
func runBench(ctx context.Context, c *cli, args []string) error {
	fs, g := c.devFlagSet("bench")
	seconds := fs.Duration("duration", 10*time.Second, "how long each throughput figure runs")
	incidents := fs.Int("incidents", 100, "incidents per response figure")
	only := fs.String("only", strings.Join(benchParts, ","), "comma-separated figures to measure: "+strings.Join(benchParts, ", "))
	_, log, bo, err := c.devLoad(fs, g, args)
	if err != nil {
		return err
	}
	parts := strings.Split(*only, ",")
	for _, p := range parts {
		if !slices.Contains(benchParts, p) {
			return &exitError{code: 2, err: fmt.Errorf("bench: --only %q: want some of %s", p, strings.Join(benchParts, ", "))}
		}
	}
	if *incidents < 1 || *seconds <= 0 {
		return &exitError{code: 2, err: fmt.Errorf("bench: --incidents and --duration must be positive")}
	}
	dir, err := os.MkdirTemp("", "quell-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(c.stdout, "machine: %d CPUs, %s, %s %s/%s\n", runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	var results []bench.Result
	for _, p := range parts {
		fmt.Fprintf(c.stderr, "measuring %s...\n", p)
		var rs []bench.Result
		switch p {
		case "rules":
			rs, err = bench.Rules(ctx, *seconds)
		case "ingest":
			rs, err = bench.Ingest(ctx, dir, *seconds)
		case "response":
			var env *demo.Env
			env, err = demo.Start(ctx, demo.Options{Dir: filepath.Join(dir, "cluster-env"), Build: bo, Log: log, Configure: bench.ResponseConfig})
			if err == nil {
				rs, err = bench.Response(ctx, env, *incidents)
				if serr := env.Stop(); err == nil {
					err = serr
				}
			}
		case "sensor":
			if os.Geteuid() != 0 {
				rs = []bench.Result{{Figure: "sensor", Value: "skipped", Detail: "needs root (eBPF)"}}
				break
			}
			exe, xerr := os.Executable()
			if xerr != nil {
				return xerr
			}
			rs, err = bench.Sensor(ctx, exe, *seconds)
		}
		if err != nil {
			return fmt.Errorf("bench %s: %w", p, err)
		}
		results = append(results, rs...)
	}
	return bench.Print(c.stdout, results)
}

// cpuModel is /proc/cpuinfo's first model name.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
