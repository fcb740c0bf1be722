package server

import (
	"errors"
	"net/http"
	"time"

	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond"
)

var errNoResponder = &apiError{Status: http.StatusNotImplemented, Code: "not_configured", Message: "no cluster is configured: quell records alerts but does not respond"}

func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) {
	id, ok := s.responderIncident(w, r)
	if !ok {
		return
	}
	recs, err := s.opts.Responder.Restore(r.Context(), id, actor(r.Context()))
	if errors.Is(err, playbook.ErrNotLeader) {
		w.Header().Set("Retry-After", "1")
		writeError(w, errNotLeader)
		return
	}
	if err != nil {
		s.log.Error("restore failed", "incident", id, "err", err)
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
		id, ok := s.responderIncident(w, r)
		if !ok {
			return
		}
		n, err := s.opts.Responder.Approve(r.Context(), id, actor(r.Context()), veto)
		switch {
		case errors.Is(err, playbook.ErrNotLeader):
			w.Header().Set("Retry-After", "1")
			writeError(w, errNotLeader)
		case errors.Is(err, playbook.ErrNothingPending):
			writeError(w, &apiError{Status: http.StatusConflict, Code: "nothing_pending", Message: "incident has no pending approval"})
		case err != nil:
			s.log.Error("approval failed", "incident", id, "err", err)
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

// handleResponse runs one action a person requests, through the engine.
func (s *Server) handleResponse(w http.ResponseWriter, r *http.Request) {
	if s.opts.Responder == nil {
		writeError(w, errNoResponder)
		return
	}
	var req respond.Request
	if err := decodeJSON(r, &req, true); err != nil {
		writeError(w, err)
		return
	}
	// The answer waits for the response, which the engine bounds and
	// which may outlast the server's write timeout.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
		s.log.Warn("manual response may outlast the write timeout", "err", err)
	}
	id, err := s.opts.Responder.Manual(r.Context(), req, actor(r.Context()))
	if errors.Is(err, playbook.ErrNotLeader) {
		w.Header().Set("Retry-After", "1")
		writeError(w, errNotLeader)
		return
	}
	if errors.Is(err, playbook.ErrBadRequest) {
		writeError(w, badRequest(err.Error(), ""))
		return
	}
	if err != nil && id == 0 {
		s.log.Error("manual response failed", "err", err)
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

// responderIncident reads the incident id of the path and checks that the
// incident exists and a responder is configured, answering otherwise.
func (s *Server) responderIncident(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := incidentID(r)
	if err != nil {
		writeError(w, err)
		return 0, false
	}
	if s.opts.Responder == nil {
		writeError(w, errNoResponder)
		return 0, false
	}
	if _, err := s.opts.Store.Get(r.Context(), id); err != nil {
		writeError(w, storeError(err, id))
		return 0, false
	}
	return id, true
}
