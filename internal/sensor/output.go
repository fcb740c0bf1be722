package sensor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outputMetrics are shared by the outputs.
type outputMetrics struct {
	sent, failed, dropped, retries prometheus.Counter
	latency                        prometheus.Histogram
}

func newOutputMetrics(reg prometheus.Registerer, kind string) *outputMetrics {
	labels := prometheus.Labels{"output": kind}
	m := &outputMetrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "quell_sensor_alerts_sent_total",
			Help: "Alerts delivered (server: acknowledged with 202).", ConstLabels: labels}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "quell_sensor_alerts_failed_total",
			Help: "Alerts the output gave up on (rejected by the server).", ConstLabels: labels}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "quell_sensor_alerts_dropped_total",
			Help: "Alerts dropped because the output's buffer was full.", ConstLabels: labels}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "quell_sensor_alert_retries_total",
			Help: "Delivery attempts retried after an error.", ConstLabels: labels}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "quell_sensor_alert_delivery_seconds",
			Help: "Time from the kernel event to the alert's delivery.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.failed, m.dropped, m.retries, m.latency)
	}
	return m
}

// WriterOutput prints each alert as one line of Falco JSON. Alerts wait in
// a bounded buffer; Start writes them until its context ends.
type WriterOutput struct {
	w       io.Writer
	queue   chan *Alert
	metrics *outputMetrics
	log     *slog.Logger
}

// NewWriterOutput returns an output writing to w, buffering up to size
// alerts (default 10000).
func NewWriterOutput(w io.Writer, size int, reg prometheus.Registerer, log *slog.Logger) *WriterOutput {
	if size <= 0 {
		size = 10000
	}
	if log == nil {
		log = slog.Default()
	}
	return &WriterOutput{w: w, queue: make(chan *Alert, size), metrics: newOutputMetrics(reg, "stdout"), log: log}
}

// Send queues a; it drops and counts when the buffer is full.
func (o *WriterOutput) Send(a *Alert) {
	select {
	case o.queue <- a:
	default:
		o.metrics.dropped.Inc()
	}
}

// Start writes alerts until ctx is done, then writes what is buffered.
func (o *WriterOutput) Start(ctx context.Context) error {
	bw := bufio.NewWriter(o.w)
	write := func(a *Alert) {
		b, err := a.MarshalFalco()
		if err != nil {
			o.metrics.failed.Inc()
			o.log.Error("encode alert", "rule", a.Rule, "err", err)
			return
		}
		bw.Write(b)
		bw.WriteByte('\n')
		o.metrics.sent.Inc()
		o.metrics.latency.Observe(time.Since(a.ExecTime).Seconds())
	}
	for {
		select {
		case a := <-o.queue:
			write(a)
			for len(o.queue) > 0 {
				write(<-o.queue)
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("write alerts: %w", err)
			}
		case <-ctx.Done():
			for len(o.queue) > 0 {
				write(<-o.queue)
			}
			return bw.Flush()
		}
	}
}

// ServerOptions configure a ServerOutput.
type ServerOptions struct {
	// URL is the server's base URL; alerts go to URL/v1/sensor/alerts.
	URL string
	// Cluster, when set, names the sensor's cluster to a server serving
	// several (?cluster=); empty: the server's default cluster.
	Cluster string
	// Token is the bearer token.
	Token string
	// Client sends the requests; default: a client with a 15s timeout.
	Client *http.Client
	// BufferSize bounds the alerts waiting for delivery; default 10000.
	BufferSize int
	// MaxBatch bounds the alerts per request; default 500.
	MaxBatch int
	// MinBackoff and MaxBackoff bound the wait between retries; defaults
	// 200ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// ShutdownGrace is how long Start keeps delivering after its context
	// ends; default 5s.
	ShutdownGrace time.Duration
	// Heartbeat is how often an idle output posts an empty batch, so the
	// server knows the sensor is connected; default 30s.
	Heartbeat time.Duration
	// Host names this sensor to the server; Dropped, when set, counts
	// what the sensor dropped (events and alerts), reported with each
	// batch.
	Host     string
	Dropped  func() int64
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// ServerOutput sends alerts to quell's server in batches. A batch holds
// what is buffered when the previous request ends (at most MaxBatch), so
// alerts are sent as soon as they come when the rate is low and batched
// when it is high. Failed requests are retried with exponential backoff
// and jitter while new alerts wait in the bounded buffer; when the buffer
// is full new alerts are dropped and counted. A batch the server rejects
// (4xx other than 408 and 429) is not retried.
type ServerOutput struct {
	opts    ServerOptions
	url     string
	queue   chan *Alert
	metrics *outputMetrics
}

// errPermanent marks a rejection that retrying cannot fix.
var errPermanent = errors.New("rejected")

// NewServerOutput checks opts and returns the output; Start runs it.
func NewServerOutput(opts ServerOptions) (*ServerOutput, error) {
	if opts.URL == "" {
		return nil, errors.New("server URL is required")
	}
	if !strings.HasPrefix(opts.URL, "http://") && !strings.HasPrefix(opts.URL, "https://") {
		return nil, fmt.Errorf("server URL %q: want http:// or https://", opts.URL)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 15 * time.Second}
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = 10000
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 500
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 5 * time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	target := strings.TrimSuffix(opts.URL, "/") + "/v1/sensor/alerts"
	if opts.Cluster != "" {
		target += "?" + url.Values{"cluster": {opts.Cluster}}.Encode()
	}
	return &ServerOutput{
		opts: opts, url: target,
		queue: make(chan *Alert, opts.BufferSize), metrics: newOutputMetrics(opts.Registry, "server"),
	}, nil
}

// Send queues a; it drops and counts when the buffer is full.
func (o *ServerOutput) Send(a *Alert) {
	select {
	case o.queue <- a:
	default:
		o.metrics.dropped.Inc()
	}
}

// Start delivers alerts until ctx is done, then for at most ShutdownGrace
// finishes the request in flight and delivers what is buffered. It
// returns nil.
func (o *ServerOutput) Start(ctx context.Context) error {
	// Requests outlive ctx by the grace period, so that shutting down does
	// not abort a request the server may already have committed.
	send, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(o.opts.ShutdownGrace, cancel) })
	defer stop()
	batch := make([]*Alert, 0, o.opts.MaxBatch)
	heartbeat := time.NewTicker(o.opts.Heartbeat)
	defer heartbeat.Stop()
	idle := true // nothing posted since the last tick
	for {
		select {
		case a := <-o.queue:
			batch = o.fill(append(batch[:0], a))
			o.deliver(send, batch)
			idle = false
		case <-heartbeat.C:
			if idle {
				if err := o.post(send, []byte(`{"alerts":[]}`)); err != nil {
					o.opts.Log.Debug("heartbeat failed", "err", err)
				}
			}
			idle = true
		case <-ctx.Done():
			for len(o.queue) > 0 && send.Err() == nil {
				batch = o.fill(batch[:0])
				o.deliver(send, batch)
			}
			return nil
		}
	}
}

// fill adds buffered alerts to batch up to MaxBatch without waiting.
func (o *ServerOutput) fill(batch []*Alert) []*Alert {
	for len(batch) < o.opts.MaxBatch {
		select {
		case a := <-o.queue:
			batch = append(batch, a)
		default:
			return batch
		}
	}
	return batch
}

// deliver posts batch until it is accepted, rejected, or ctx ends.
func (o *ServerOutput) deliver(ctx context.Context, batch []*Alert) {
	body, err := encodeBatch(batch)
	if err != nil {
		o.metrics.failed.Add(float64(len(batch)))
		o.opts.Log.Error("encode alerts", "alerts", len(batch), "err", err)
		return
	}
	backoff := o.opts.MinBackoff
	for {
		err := o.post(ctx, body)
		if err == nil {
			now := time.Now()
			o.metrics.sent.Add(float64(len(batch)))
			for _, a := range batch {
				o.metrics.latency.Observe(now.Sub(a.ExecTime).Seconds())
			}
			return
		}
		if errors.Is(err, errPermanent) {
			o.metrics.failed.Add(float64(len(batch)))
			o.opts.Log.Error("server rejected alerts", "alerts", len(batch), "err", err)
			return
		}
		if ctx.Err() != nil {
			o.metrics.failed.Add(float64(len(batch)))
			o.opts.Log.Warn("alerts undelivered at shutdown", "alerts", len(batch), "err", err)
			return
		}
		o.metrics.retries.Inc()
		wait := backoff/2 + rand.N(backoff/2+1)
		o.opts.Log.Warn("send alerts failed, retrying", "alerts", len(batch), "wait", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, o.opts.MaxBackoff)
	}
}

func (o *ServerOutput) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if o.opts.Host != "" {
		req.Header.Set("X-Quell-Sensor-Host", o.opts.Host)
	}
	if o.opts.Dropped != nil {
		req.Header.Set("X-Quell-Sensor-Dropped", strconv.FormatInt(o.opts.Dropped(), 10))
	}
	if o.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.opts.Token)
	}
	resp, err := o.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("post alerts: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout ||
		resp.StatusCode >= 500:
		return fmt.Errorf("post alerts: %s: %s", resp.Status, bytes.TrimSpace(msg))
	default:
		return fmt.Errorf("%w: %s: %s", errPermanent, resp.Status, bytes.TrimSpace(msg))
	}
}

func encodeBatch(batch []*Alert) ([]byte, error) {
	out := struct {
		Alerts []serverAlert `json:"alerts"`
	}{Alerts: make([]serverAlert, len(batch))}
	for i, a := range batch {
		out.Alerts[i] = a.server()
	}
	return json.Marshal(out)
}

// DroppedFrom sums the sensor's drop counters (events dropped at the
// queue, lost in the kernel, alerts dropped at an output) gathered from g.
func DroppedFrom(g prometheus.Gatherer) func() int64 {
	return func() int64 {
		mfs, err := g.Gather()
		if err != nil {
			return -1
		}
		var n float64
		for _, mf := range mfs {
			switch mf.GetName() {
			case "quell_sensor_events_dropped_total", "quell_sensor_kernel_events_lost_total", "quell_sensor_alerts_dropped_total":
				for _, m := range mf.GetMetric() {
					n += m.GetCounter().GetValue()
				}
			}
		}
		return int64(n)
	}
}
