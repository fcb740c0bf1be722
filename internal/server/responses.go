package server

import (
	"errors"
	"net/http"
	"time"

	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond"
)

// noResponder answers a request for a cluster quell does not act on
// (empty: it acts on none).
func noResponder(cluster string) *apiError {
	msg := "no access to any cluster is configured: quell records alerts but does not respond"
	if cluster != "" {
		msg = "no access to cluster " + cluster + " is configured: quell records its alerts but does not respond"
	}
	return &apiError{Status: http.StatusNotImplemented, Code: "not_configured", Message: msg}
}

// errOtherCluster answers an engine refusing another cluster's incident
// (the router sends none; a store edited by hand might).
var errOtherCluster = &apiError{Status: http.StatusConflict, Code: "other_cluster", Message: "the incident belongs to another cluster than its engine's"}

func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) {
	id, c, ok := s.responderIncident(w, r)
	if !ok {
		return
	}
	recs, err := c.Responder.Restore(r.Context(), id, actor(r.Context()))
	if ae := refusal(err); ae != nil {
		writeError(w, ae)
		return
	}
	if err != nil {
		s.log.Error("restore failed", "incident", id, "cluster", c.Name, "err", err)
		writeError(w, &apiError{Status: http.StatusBadGateway, Code: "restore_failed", Message: err.Error()})
		return
	}
	if recs == nil {
		recs = []respond.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"restored": recs})
}

// handleApprove approves or vetoes an incident's pending approvals.
func (s *Server) handleApprove(veto bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, c, ok := s.responderIncident(w, r)
		if !ok {
			return
		}
		n, err := c.Responder.Approve(r.Context(), id, actor(r.Context()), veto)
		refused := refusal(err)
		switch {
		case refused != nil:
			writeError(w, refused)
		case errors.Is(err, playbook.ErrNothingPending):
			writeError(w, &apiError{Status: http.StatusConflict, Code: "nothing_pending", Message: "incident has no pending approval"})
		case err != nil:
			s.log.Error("approval failed", "incident", id, "cluster", c.Name, "err", err)
			writeError(w, err)
		default:
			key := "approved"
			if veto {
				key = "vetoed"
			}
			writeJSON(w, http.StatusOK, map[string]int{key: n})
		}
	}
}

// handleResponse runs one action a person requests, through the engine
// of the request's cluster (its "cluster" field, else the default).
func (s *Server) handleResponse(w http.ResponseWriter, r *http.Request) {
	var req respond.Request
	if err := decodeJSON(r, &req, true); err != nil {
		writeError(w, err)
		return
	}
	c, err := s.clusters.lookup(req.Cluster, "cluster")
	if err != nil {
		writeError(w, err)
		return
	}
	if c.Responder == nil {
		writeError(w, noResponder(c.Name))
		return
	}
	req.Cluster = c.Name
	// The answer waits for the response, which the engine bounds and
	// which may outlast the server's write timeout.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
		s.log.Warn("manual response may outlast the write timeout", "err", err)
	}
	id, err := c.Responder.Manual(r.Context(), req, actor(r.Context()))
	if errors.Is(err, playbook.ErrNotLeader) {
		writeError(w, errNotLeader)
		return
	}
	if errors.Is(err, playbook.ErrBadRequest) {
		writeError(w, badRequest(err.Error(), ""))
		return
	}
	if err != nil && id == 0 {
		s.log.Error("manual response failed", "cluster", c.Name, "err", err)
		writeError(w, err)
		return
	}
	inc, gerr := s.opts.Store.Get(r.Context(), id)
	if gerr != nil {
		writeError(w, storeError(gerr, id))
		return
	}
	body := map[string]any{"incident": inc}
	if err != nil {
		body["error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, body)
}

// responderIncident reads the incident id of the path and finds the
// incident's cluster and its responder, answering when there is none.
func (s *Server) responderIncident(w http.ResponseWriter, r *http.Request) (int64, *Cluster, bool) {
	id, err := incidentID(r)
	if err != nil {
		writeError(w, err)
		return 0, nil, false
	}
	if !s.clusters.responds() {
		writeError(w, noResponder(""))
		return 0, nil, false
	}
	inc, err := s.opts.Store.Get(r.Context(), id)
	if err != nil {
		writeError(w, storeError(err, id))
		return 0, nil, false
	}
	c, err := s.clusters.incidentCluster(inc)
	if err != nil {
		writeError(w, err)
		return 0, nil, false
	}
	if c.Responder == nil {
		writeError(w, noResponder(c.Name))
		return 0, nil, false
	}
	return id, c, true
}
