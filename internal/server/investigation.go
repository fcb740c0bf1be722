package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/investigate"
)

// Investigator builds a pod's investigation report; see
// investigate.Investigator.
type Investigator interface {
	Pod(ctx context.Context, ns, name string) (*investigate.Report, error)
}

// AuditObserver is told about every audit event received (its JSON),
// once; see investigate.AuditIndex.
type AuditObserver interface {
	Observe(raw []byte)
}

// investigationView is the body of GET /v1/incidents/{id}/investigation.
type investigationView struct {
	IncidentID int64 `json:"incident_id"`
	// Source is "timeline" for the report the response engine stored,
	// "live" for one built now.
	Source string              `json:"source"`
	Report *investigate.Report `json:"report"`
}

// handleInvestigation answers with the investigation of the incident's
// pod: the newest one stored in its timeline, or else one built now from
// the cluster's current state (the suggested response for the incident's
// severity). Other pods of the workload named by the incident's alerts
// are listed in the report.
func (s *Server) handleInvestigation(w http.ResponseWriter, r *http.Request) {
	v, id, err := s.view(r)
	if err != nil {
		writeError(w, err)
		return
	}
	out := investigationView{IncidentID: id, Source: "timeline"}
	for i := len(v.Timeline) - 1; i >= 0 && out.Report == nil; i-- {
		var rep investigate.Report
		if ent := v.Timeline[i]; ent.Type == incident.EntryInvestigation && json.Unmarshal(ent.Data, &rep) == nil && rep.UID != "" {
			out.Report = &rep
		}
	}
	if out.Report == nil {
		ns, pod := alertedPod(v.Timeline)
		if pod == "" {
			writeError(w, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "the incident's alerts name no pod to investigate"})
			return
		}
		c, err := s.clusters.incidentCluster(v.Incident)
		if err != nil {
			writeError(w, err)
			return
		}
		if c.Investigator == nil {
			writeError(w, &apiError{Status: http.StatusNotImplemented, Code: "not_configured", Message: "no access to cluster " + c.Name + " is configured: pods cannot be investigated"})
			return
		}
		rep, err := c.Investigator.Pod(r.Context(), ns, pod)
		switch {
		case apierrors.IsNotFound(err):
			writeError(w, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "pod " + ns + "/" + pod + " no longer exists and no investigation of it was stored"})
			return
		case errors.Is(err, investigate.ErrNotReady):
			writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: err.Error()})
			return
		case err != nil:
			s.log.Error("investigation failed", "incident", id, "err", err)
			writeError(w, err)
			return
		}
		if s.opts.Suggest != nil {
			rep.Impact.Suggested = s.opts.Suggest(v.Incident.Severity, rep)
		}
		out.Report, out.Source = rep, "live"
	}
	out.Report.Workload.OtherPodsAlerted = otherAlerted(v.Timeline, out.Report)
	writeJSON(w, http.StatusOK, out)
}

// alertedPod is the pod of the newest alert naming one.
func alertedPod(tl []incident.Entry) (ns, pod string) {
	for i := len(tl) - 1; i >= 0; i-- {
		var a incident.Alert
		if tl[i].Type == incident.EntryAlert && json.Unmarshal(tl[i].Data, &a) == nil && a.Target.Pod != "" {
			return a.Target.Namespace, a.Target.Pod
		}
	}
	return "", ""
}

// otherAlerted lists the pods of r's workload, other than r's, that the
// incident's alerts name.
func otherAlerted(tl []incident.Entry, r *investigate.Report) []string {
	var out []string
	for _, ent := range tl {
		var a incident.Alert
		if ent.Type != incident.EntryAlert || json.Unmarshal(ent.Data, &a) != nil {
			continue
		}
		p := a.Target.Pod
		if p == "" || p == r.Pod || a.Target.Namespace != r.Namespace || slices.Contains(out, p) {
			continue
		}
		if r.Workload.Kind != "Pod" && a.Target.WorkloadKind == r.Workload.Kind && a.Target.Name == r.Workload.Name {
			out = append(out, p)
		}
	}
	return out
}
