package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"quell.dev/quell/internal/incident"
)

// ingestResponse answers every ingest endpoint.
type ingestResponse struct {
	Accepted  int              `json:"accepted"`
	Incidents []ingestIncident `json:"incidents"`
}

type ingestIncident struct {
	ID           int64 `json:"id"`
	New          bool  `json:"new"`
	Deduplicated bool  `json:"deduplicated"`
}

// handleFalco takes one Falco alert, as Falco's http_output and
// Falcosidekick send it, or a JSON array of them, as a log shipper
// batching Falco's JSON output sends them. An alert's cluster is the
// ?cluster= parameter's, else its own k8s.cluster.name or cluster output
// field's, else the default cluster.
func (s *Server) handleFalco(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var given *Cluster // the parameter's
	if name := r.URL.Query().Get(clusterParam); name != "" {
		var err error
		if given, err = s.clusters.fromQuery(r); err != nil {
			s.reject(w, err)
			return
		}
	}
	body, err := readBody(r)
	if err != nil {
		s.reject(w, err)
		return
	}
	var fs []falcoAlert
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		err = decodeBytes(body, &fs, false)
		switch {
		case err == nil && len(fs) == 0:
			err = badRequest("the array must hold at least one Falco alert", "")
		case err == nil && len(fs) > maxBatch:
			err = badRequest(fmt.Sprintf("at most %d alerts per request, got %d", maxBatch, len(fs)), "")
		}
	} else {
		fs = make([]falcoAlert, 1)
		err = decodeBytes(body, &fs[0], false)
	}
	if err != nil {
		s.reject(w, err)
		return
	}
	alerts := make([]incident.Alert, len(fs))
	for i := range fs {
		c := given
		if c == nil {
			c, err = s.falcoCluster(&fs[i])
		}
		if err == nil {
			alerts[i], err = fs[i].toAlert(c.Name, start)
		}
		if err != nil {
			var ae *apiError
			if len(fs) > 1 && errors.As(err, &ae) {
				ae.Where = fmt.Sprintf("[%d].%s", i, ae.Where)
				ae.Message = fmt.Sprintf("[%d]: %s", i, ae.Message)
			}
			s.reject(w, err)
			return
		}
	}
	s.ingest(w, r, "falco", alerts, start)
}

// ownAlert is quell's documented alert schema for other tools (docs/api.md).
type ownAlert struct {
	Rule     string         `json:"rule"`
	Priority string         `json:"priority"`
	Source   string         `json:"source"`
	Time     *time.Time     `json:"time"`
	Output   string         `json:"output"`
	Tags     []string       `json:"tags"`
	Hostname string         `json:"hostname"`
	Fields   map[string]any `json:"fields"`
	Target   *ownTarget     `json:"target"`
}

type ownTarget struct {
	Namespace    string `json:"namespace"`
	Pod          string `json:"pod"`
	Container    string `json:"container"`
	Node         string `json:"node"`
	WorkloadKind string `json:"workload_kind"`
	Workload     string `json:"workload"`
}

type ownBatch struct {
	Alerts []ownAlert `json:"alerts"`
}

// maxBatch bounds the alerts of one request.
const maxBatch = 5000

func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c, err := s.clusters.fromQuery(r)
	if err != nil {
		s.reject(w, err)
		return
	}
	var b ownBatch
	if err := decodeJSON(r, &b, true); err != nil {
		s.reject(w, err)
		return
	}
	sensor := r.URL.Path == "/v1/sensor/alerts"
	if sensor {
		s.sensors.seen(actor(r.Context()), r.Header.Get(HeaderSensorHost), c.Name, r.Header.Get(HeaderSensorDropped), len(b.Alerts))
	}
	if len(b.Alerts) == 0 {
		if sensor { // a heartbeat
			writeJSON(w, http.StatusAccepted, ingestResponse{Incidents: []ingestIncident{}})
			return
		}
		s.reject(w, badRequest(`field "alerts" must hold at least one alert`, "alerts"))
		return
	}
	if len(b.Alerts) > maxBatch {
		s.reject(w, badRequest(fmt.Sprintf("at most %d alerts per request, got %d", maxBatch, len(b.Alerts)), "alerts"))
		return
	}
	alerts := make([]incident.Alert, 0, len(b.Alerts))
	for i := range b.Alerts {
		a, err := b.Alerts[i].toAlert(c.Name, start)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				ae.Where = fmt.Sprintf("alerts[%d].%s", i, ae.Where)
				ae.Message = fmt.Sprintf("alerts[%d]: %s", i, ae.Message)
			}
			s.reject(w, err)
			return
		}
		alerts = append(alerts, a)
	}
	src := "api"
	if sensor {
		src = "sensor"
	}
	for i := range alerts {
		alerts[i].Source = src
	}
	s.ingest(w, r, src, alerts, start)
}

func (o *ownAlert) toAlert(cluster string, now time.Time) (incident.Alert, error) {
	if o.Rule == "" {
		return incident.Alert{}, badRequest(`field "rule" is required`, "rule")
	}
	if !validPriority(o.Priority) {
		return incident.Alert{}, badRequest(fmt.Sprintf("field \"priority\": %q is not a Falco priority (Emergency ... Debug)", o.Priority), "priority")
	}
	a := incident.Alert{Rule: o.Rule, Priority: o.Priority, Time: now, Output: o.Output, Tags: o.Tags, Hostname: o.Hostname, Fields: o.Fields}
	if o.Time != nil {
		a.Time = *o.Time
	}
	src := o.Source
	if src == "" {
		src = "syscall"
	}
	a.Target = targetFromFields(cluster, src, o.Hostname, o.Fields)
	if t := o.Target; t != nil {
		a.Target = incident.Target{Cluster: cluster, Kind: incident.TargetCluster, Namespace: t.Namespace, Container: t.Container, Node: t.Node}
		switch {
		case t.Workload != "" && t.Namespace != "" && t.WorkloadKind != "":
			a.Target.Kind, a.Target.Name, a.Target.WorkloadKind, a.Target.Pod = incident.TargetWorkload, t.Workload, t.WorkloadKind, t.Pod
		case t.Pod != "" && t.Namespace != "":
			a.Target.Kind, a.Target.Name, a.Target.Pod = incident.TargetPod, t.Pod, t.Pod
		case t.Node != "":
			a.Target.Kind, a.Target.Name = incident.TargetNode, t.Node
		case t.Pod != "" || t.Workload != "":
			return incident.Alert{}, badRequest(`field "target": a pod or workload needs "namespace" (and a workload "workload_kind")`, "target")
		}
	}
	return a, nil
}

// Ingest stores alerts from an in-process source (the pod watch) exactly
// as the HTTP endpoints do: targets resolved in their clusters (within
// ResolveTimeout), group-committed, sinks told. It returns once the
// alerts are durably stored.
func (s *Server) Ingest(ctx context.Context, alerts []incident.Alert) ([]incident.IngestResult, error) {
	s.resolve(ctx, alerts)
	return s.batcher.submit(ctx, alerts)
}

// ingest stores the alerts and answers with what happened.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, endpoint string, alerts []incident.Alert, start time.Time) {
	results, err := s.Ingest(r.Context(), alerts)
	switch {
	case errors.Is(err, errOverloaded):
		s.metrics.dropped.WithLabelValues("overloaded").Inc()
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "overloaded", Message: "ingest queue full; retry", RetryAfter: "1"})
		return
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "request cancelled before the alerts were stored"})
		return
	case err != nil:
		s.metrics.dropped.WithLabelValues("store").Inc()
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "alerts could not be stored; retry"})
		return
	}
	s.metrics.ingestLatency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	resp := ingestResponse{Accepted: len(alerts), Incidents: make([]ingestIncident, len(results))}
	for i, res := range results {
		resp.Incidents[i] = ingestIncident{ID: res.IncidentID, New: res.NewIncident, Deduplicated: res.Deduplicated}
	}
	writeJSON(w, http.StatusAccepted, resp)
}

// reject answers a bad request and counts it.
func (s *Server) reject(w http.ResponseWriter, err error) {
	var ae *apiError
	reason := "invalid"
	if errors.As(err, &ae) {
		reason = ae.Code
	}
	s.metrics.dropped.WithLabelValues(reason).Inc()
	writeError(w, err)
}

// committed runs after every group commit: metrics, then the sinks.
func (s *Server) committed(alerts []incident.Alert, results []incident.IngestResult, took time.Duration) {
	s.metrics.commitLatency.Observe(took.Seconds())
	s.metrics.commitSize.Observe(float64(len(alerts)))
	// Count per label set first: a commit holds many alerts of few rules,
	// and each series lookup hashes its labels.
	type labels struct{ source, rule, priority string }
	counts := make(map[labels]int, 8)
	var dedups, opened int
	for i := range alerts {
		a := &alerts[i]
		counts[labels{a.Source, a.Rule, a.Priority}]++
		if results[i].Deduplicated {
			dedups++
		}
		if results[i].NewIncident {
			opened++
		}
	}
	for l, n := range counts {
		s.metrics.alerts.WithLabelValues(l.source, l.rule, l.priority).Add(float64(n))
	}
	if dedups > 0 {
		s.metrics.deduplicated.Add(float64(dedups))
	}
	if opened > 0 {
		s.metrics.incidents.Add(float64(opened))
	}
	for _, sink := range s.opts.Sinks {
		sink.Committed(alerts, results)
	}
	s.routeCommitted(alerts, results)
}
