package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/rules"
)

// AuditEvaluator runs the k8s_audit rules over one audit event and returns
// the alerts it raises, targets filled in.
type AuditEvaluator interface {
	EvaluateAudit(ev *rules.AuditEvent, cluster string) ([]incident.Alert, error)
}

// auditHead is the part of the body checked before the rules run.
type auditHead struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

type auditHeader struct {
	AuditID string `json:"auditID"`
	Stage   string `json:"stage"`
}

// handleAudit is the Kubernetes audit webhook backend of one cluster
// (?cluster=, else the default): its events raise alerts in that cluster
// and feed that cluster's observers only. An event delivered again (same
// cluster, auditID and stage, as on a retried batch) is evaluated once
// while it is remembered; past that, the alerts it raises are identical
// and the store counts them as duplicates.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if s.opts.Audit == nil {
		writeError(w, &apiError{Status: http.StatusNotImplemented, Code: "not_configured", Message: "audit rules are not loaded"})
		return
	}
	c, err := s.clusters.fromQuery(r)
	if err != nil {
		s.reject(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.reject(w, err)
		return
	}
	var head auditHead
	if err := decodeBytes(body, &head, false); err != nil {
		s.reject(w, err)
		return
	}
	switch {
	case head.APIVersion != "audit.k8s.io/v1":
		s.reject(w, badRequest(fmt.Sprintf("apiVersion %q is not audit.k8s.io/v1", head.APIVersion), "apiVersion"))
		return
	case head.Kind != "EventList" && head.Kind != "Event":
		s.reject(w, badRequest(fmt.Sprintf("kind %q is neither EventList nor Event", head.Kind), "kind"))
		return
	}
	events, err := rules.DecodeAudit(body)
	if err != nil {
		s.reject(w, badRequest(err.Error(), "items"))
		return
	}
	headers := make([]auditHeader, len(events))
	for i, ev := range events {
		if err := json.Unmarshal(ev.Raw(), &headers[i]); err != nil || headers[i].AuditID == "" || headers[i].Stage == "" {
			s.reject(w, badRequest(fmt.Sprintf("items[%d]: an object with auditID and stage is required", i), fmt.Sprintf("items[%d]", i)))
			return
		}
	}
	var alerts []incident.Alert
	for i, ev := range events {
		if !s.auditSeen.add(c.Name+"/"+headers[i].AuditID+"/"+headers[i].Stage, start) {
			s.metrics.auditEvents.WithLabelValues("duplicate").Inc()
			continue
		}
		s.metrics.auditEvents.WithLabelValues("evaluated").Inc()
		for _, o := range c.AuditObservers {
			o.Observe(ev.Raw())
		}
		got, err := s.opts.Audit.EvaluateAudit(ev, c.Name)
		if err != nil {
			s.log.Warn("audit event not evaluated", "item", i, "audit_id", headers[i].AuditID, "err", err)
			continue
		}
		alerts = append(alerts, got...)
	}
	if len(alerts) == 0 {
		writeJSON(w, http.StatusOK, ingestResponse{Incidents: []ingestIncident{}})
		return
	}
	s.ingest(w, r, "audit", alerts, start)
}

// seenSet remembers keys for a while, bounded in size.
type seenSet struct {
	mu   sync.Mutex
	ttl  time.Duration
	max  int
	keys map[string]time.Time
}

func newSeenSet(ttl time.Duration, max int) *seenSet {
	return &seenSet{ttl: ttl, max: max, keys: map[string]time.Time{}}
}

// add records key and reports whether it was new.
func (s *seenSet) add(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.keys[key]; ok && now.Sub(t) < s.ttl {
		return false
	}
	if len(s.keys) >= s.max {
		for k, t := range s.keys {
			if now.Sub(t) >= s.ttl {
				delete(s.keys, k)
			}
		}
		if len(s.keys) >= s.max { // all fresh: forget an arbitrary half
			n := 0
			for k := range s.keys {
				if n >= s.max/2 {
					break
				}
				delete(s.keys, k)
				n++
			}
		}
	}
	s.keys[key] = now
	return true
}
