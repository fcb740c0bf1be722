package sensor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/sensor"
)

func testAlert(rule string) *sensor.Alert {
	return &sensor.Alert{Rule: rule, Priority: rules.PriorityNotice, Source: "syscall", Time: time.Now(),
		ExecTime: time.Now(), Output: "x", Fields: map[string]any{"proc.name": "nc"}, Target: sensor.Target{Node: "n1"}}
}

// TestServerOutputRetries: a 503 is retried until the server accepts;
// the alert arrives once, in quell's schema, with the token.
func TestServerOutputRetries(t *testing.T) {
	var calls atomic.Int32
	got := make(chan []byte, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.URL.Path != "/v1/sensor/alerts" {
			http.Error(w, "bad", http.StatusUnauthorized)
			return
		}
		if calls.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var buf bytes.Buffer
		buf.ReadFrom(r.Body)
		got <- buf.Bytes()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	out, err := sensor.NewServerOutput(sensor.ServerOptions{URL: srv.URL + "/", Token: "tok", Registry: reg,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- out.Start(ctx) }()
	out.Send(testAlert("r1"))
	var body []byte
	select {
	case body = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("alert not delivered")
	}
	cancel()
	<-done
	var batch struct {
		Alerts []map[string]any `json:"alerts"`
	}
	if err := json.Unmarshal(body, &batch); err != nil || len(batch.Alerts) != 1 {
		t.Fatalf("body %s: %v", body, err)
	}
	a := batch.Alerts[0]
	for _, k := range []string{"rule", "priority", "source", "time", "output", "tags", "hostname", "fields", "target"} {
		if _, ok := a[k]; !ok {
			t.Errorf("alert lacks %q", k)
		}
	}
	if a["priority"] != "Notice" || a["target"].(map[string]any)["node"] != "n1" {
		t.Errorf("alert %v", a)
	}
	m := gatherCounters(t, reg)
	if m["quell_sensor_alerts_sent_total"] != 1 || m["quell_sensor_alert_retries_total"] != 2 {
		t.Errorf("metrics %v", m)
	}
}

// TestServerOutputRejected: a 400 is not retried; the alerts count as
// failed.
func TestServerOutputRejected(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "bad alert", http.StatusBadRequest)
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	out, _ := sensor.NewServerOutput(sensor.ServerOptions{URL: srv.URL, Registry: reg, Log: discardLog()})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- out.Start(ctx) }()
	out.Send(testAlert("r1"))
	deadline := time.Now().Add(30 * time.Second)
	for gatherCounters(t, reg)["quell_sensor_alerts_failed_total"] != 1 {
		if time.Now().After(deadline) {
			t.Fatal("rejection not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if calls.Load() != 1 {
		t.Errorf("%d requests, want 1", calls.Load())
	}
}

// TestServerOutputBufferBounded: while the server is down, alerts beyond
// the buffer are dropped and counted, never blocking Send.
func TestServerOutputBufferBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	out, _ := sensor.NewServerOutput(sensor.ServerOptions{URL: "http://127.0.0.1:1", BufferSize: 10, Registry: reg,
		Log: discardLog()})
	// Not started: nothing drains the buffer.
	for range 25 {
		out.Send(testAlert("r"))
	}
	if got := gatherCounters(t, reg)["quell_sensor_alerts_dropped_total"]; got != 15 {
		t.Errorf("dropped %v, want 15", got)
	}
}

func TestWriterOutputFalcoFormat(t *testing.T) {
	var buf bytes.Buffer
	out := sensor.NewWriterOutput(&buf, 0, nil, discardLog())
	ctx, cancel := context.WithCancel(t.Context())
	out.Send(testAlert("r1"))
	cancel()
	if err := out.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var a map[string]any
	if err := json.Unmarshal(buf.Bytes(), &a); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	for _, k := range []string{"time", "rule", "priority", "source", "output", "output_fields", "tags", "hostname"} {
		if _, ok := a[k]; !ok {
			t.Errorf("lacks %q: %s", k, buf.String())
		}
	}
}

// TestServerOutputNamesItsCluster: with a cluster, every batch goes to
// /v1/sensor/alerts?cluster=NAME.
func TestServerOutputNamesItsCluster(t *testing.T) {
	got := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Path + "?" + r.URL.RawQuery
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	out, err := sensor.NewServerOutput(sensor.ServerOptions{URL: srv.URL, Cluster: "edge 1", Registry: prometheus.NewRegistry(), Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- out.Start(ctx) }()
	defer func() { cancel(); <-done }()
	out.Send(testAlert("r1"))
	select {
	case u := <-got:
		if u != "/v1/sensor/alerts?cluster=edge+1" {
			t.Errorf("posted to %s", u)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("alert not delivered")
	}
}
