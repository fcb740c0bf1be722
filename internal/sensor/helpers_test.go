package sensor_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/sensor"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "sensor":
		os.Exit(sensorHelper())
	case "storm":
		os.Exit(stormHelper())
	}
	testenv.Main(m)
}

// requireRoot skips a test that loads eBPF programs when not root; under
// CI it fails instead.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("sensor tests must run as root under CI")
	}
	t.Skip("needs root to load eBPF programs")
}

// chanOutput collects alerts for a test.
type chanOutput struct {
	ch      chan *sensor.Alert
	dropped atomic.Int64
}

func newChanOutput() *chanOutput { return &chanOutput{ch: make(chan *sensor.Alert, 100000)} }

func (o *chanOutput) Send(a *sensor.Alert) {
	select {
	case o.ch <- a:
	default:
		o.dropped.Add(1)
	}
}

// wait returns the first alert for which match is true, failing the test
// after a generous deadline.
func (o *chanOutput) wait(t testing.TB, what string, match func(*sensor.Alert) bool) *sensor.Alert {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case a := <-o.ch:
			if match(a) {
				return a
			}
		case <-deadline:
			t.Fatalf("no alert: %s", what)
			return nil
		}
	}
}

// loadEngine compiles the built-in rules plus the given user rules.
func loadEngine(t testing.TB, userRules string) *rules.Engine {
	t.Helper()
	var files []rules.File
	if userRules != "" {
		files = append(files, rules.File{Name: "test_rules.yaml", Data: []byte(userRules)})
	}
	eng, diags := rules.LoadEngine(false, files...)
	if err := diags.Err(); err != nil {
		t.Fatalf("load rules: %v", err)
	}
	return eng
}

// startSensor runs a sensor until the test ends and waits until it sees
// events.
func startSensor(t testing.TB, opts sensor.Options) *sensor.Sensor {
	t.Helper()
	requireRoot(t)
	if opts.Hostname == "" {
		opts.Hostname = "test-host"
	}
	s, err := sensor.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("sensor stopped: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("sensor start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("sensor not ready after 60s")
	}
	return s
}

// copyBinary copies src to dir/name, executable.
func copyBinary(t testing.TB, src, dir, name string) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(dir, name)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

func field[T any](a *sensor.Alert, name string) T {
	v, _ := a.Fields[name].(T)
	return v
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
