package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"quell.dev/quell/internal/testenv"
)

func TestSensorFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--output", "bogus"}, `--output "bogus"`},
		{[]string{"--output", "server"}, "--server is required"},
		{[]string{"--output", "server", "--server", "ftp://x"}, "want http:// or https://"},
	} {
		var out, errb bytes.Buffer
		err := runSensor(t.Context(), newCLI(&out, &errb, nil), tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want %q", tt.args, err, tt.want)
		}
	}
}

// TestSensorCommand runs `quell sensor` against a fake server endpoint
// with a user rules file, and reads its metrics.
func TestSensorCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("must run as root under CI")
		}
		t.Skip("needs root to load eBPF programs")
	}
	dir := t.TempDir()
	const tool = "quell-cmd-nc"
	rulesFile := filepath.Join(dir, "local.yaml")
	os.WriteFile(rulesFile, []byte("- list: network_tool_binaries\n  items: ["+tool+"]\n  override: {items: append}\n"), 0o644)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)

	bodies := make(chan []byte, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/sensor/alerts" || r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(t.Context())
	var out, errb sensorLog
	done := make(chan error, 1)
	go func() {
		done <- runSensor(ctx, newCLI(&out, &errb, nil), []string{"--node", "node-7", "--output", "server",
			"--server", srv.URL, "--token-file", tokenFile, "--rules", rulesFile, "--metrics-listen", metricsAddr,
			"--kubeconfig", ""})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sensor: %v\n%s", err, errb.String())
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + metricsAddr + "/healthz")
		if err == nil && resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			break
		}
		if resp != nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("sensor not ready: %v\n%s", err, errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	bin := filepath.Join(dir, tool)
	data, _ := os.ReadFile("/bin/true")
	os.WriteFile(bin, data, 0o755)
	marker := fmt.Sprintf("marker-%d", os.Getpid())
	if err := exec.Command(bin, marker).Run(); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(60 * time.Second)
	for found := false; !found; {
		select {
		case b := <-bodies:
			var batch struct {
				Alerts []struct {
					Rule   string            `json:"rule"`
					Fields map[string]any    `json:"fields"`
					Target map[string]string `json:"target"`
				} `json:"alerts"`
			}
			if err := json.Unmarshal(b, &batch); err != nil {
				t.Fatal(err)
			}
			for _, a := range batch.Alerts {
				if a.Rule == "Launch Suspicious Network Tool on Host" && strings.Contains(fmt.Sprint(a.Fields["proc.cmdline"]), marker) {
					found = true
					if a.Target["node"] != "node-7" {
						t.Errorf("target %v", a.Target)
					}
				}
			}
		case <-timeout:
			t.Fatalf("no alert for the user-listed tool\n%s", errb.String())
		}
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"quell_sensor_events_total{kind=\"exec\"}", "quell_sensor_events_dropped_total",
		"quell_sensor_kernel_events_lost_total", "quell_sensor_alerts_sent_total", "process_resident_memory_bytes",
		"process_cpu_seconds_total"} {
		if !bytes.Contains(metrics, []byte(m)) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// sensorLog is a buffer safe for the sensor's goroutines and the test.
type sensorLog = testenv.LogBuffer

func TestFirstToken(t *testing.T) {
	for in, want := range map[string]string{
		"abc123\n":                               "abc123",
		"  abc123  ":                             "abc123",
		"# tokens\n\nabc123 sensor\nxyz other\n": "abc123",
		"":                                       "",
		"# only a comment\n":                     "",
	} {
		if got := firstToken(in); got != want {
			t.Errorf("firstToken(%q) = %q, want %q", in, got, want)
		}
	}
}
