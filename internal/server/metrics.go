package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus series, registered on the registry
// given to New (never the global one).
type metrics struct {
	alerts        *prometheus.CounterVec
	deduplicated  prometheus.Counter
	dropped       *prometheus.CounterVec
	incidents     prometheus.Counter
	transitions   *prometheus.CounterVec
	ingestLatency *prometheus.HistogramVec
	commitLatency prometheus.Histogram
	commitSize    prometheus.Histogram
	auditEvents   *prometheus.CounterVec
	// resolveTimeouts counts batches whose targets a cluster did not
	// resolve within the server's ResolveTimeout.
	resolveTimeouts *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quell_alerts_received_total", Help: "Alerts received, by source, rule and priority.",
		}, []string{"source", "rule", "priority"}),
		deduplicated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quell_alerts_deduplicated_total", Help: "Alerts identical to one already in their incident: counted, not recorded again.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quell_ingest_rejected_total", Help: "Ingest requests rejected, by reason.",
		}, []string{"reason"}),
		incidents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quell_incidents_opened_total", Help: "Incidents opened.",
		}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quell_incident_transitions_total", Help: "Incident state changes, by new state.",
		}, []string{"state"}),
		ingestLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "quell_ingest_duration_seconds", Help: "Time from request received to durably stored, by endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"endpoint"}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "quell_store_commit_duration_seconds", Help: "Duration of one group commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		commitSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "quell_store_commit_alerts", Help: "Alerts per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		auditEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quell_audit_events_total", Help: "Audit events received, by outcome (evaluated, duplicate).",
		}, []string{"outcome"}),
		resolveTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quell_resolve_timeouts_total", Help: "Ingest batches whose pod targets a cluster did not resolve in time (left as pods), by cluster.",
		}, []string{"cluster"}),
	}
	reg.MustRegister(m.alerts, m.deduplicated, m.dropped, m.incidents, m.transitions,
		m.ingestLatency, m.commitLatency, m.commitSize, m.auditEvents, m.resolveTimeouts)
	return m
}
