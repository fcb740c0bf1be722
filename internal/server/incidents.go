package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"quell.dev/quell/internal/incident"
)

// incidentView is an incident with its timeline.
type incidentView struct {
	*incident.Incident
	Timeline []incident.Entry `json:"timeline"`
}

type listResponse struct {
	Incidents []incident.Incident `json:"incidents"`
	Next      string              `json:"next,omitempty"` // pass as ?after= for the next page
}

func (s *Server) handleListIncidents(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		writeError(w, err)
		return
	}
	list, err := s.opts.Store.List(r.Context(), f)
	if err != nil {
		s.log.Error("list incidents", "err", err)
		writeError(w, err)
		return
	}
	resp := listResponse{Incidents: list}
	if resp.Incidents == nil {
		resp.Incidents = []incident.Incident{}
	}
	if f.Limit > 0 && len(list) == f.Limit {
		resp.Next = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, resp)
}

// parseFilter reads ?state=a,b&severity=high&namespace=&rule=&since=RFC3339|duration&cluster=&after=ID&limit=N.
func parseFilter(r *http.Request) (incident.Filter, error) {
	q := r.URL.Query()
	f := incident.Filter{Namespace: q.Get("namespace"), Rule: q.Get("rule"), Cluster: q.Get("cluster"), Limit: 50}
	if v := q.Get("state"); v != "" {
		for _, st := range strings.Split(v, ",") {
			if !incident.State(st).Valid() {
				return f, badRequest(fmt.Sprintf("state %q is not one of open, acting, contained, resolved, false-positive, failed", st), "state")
			}
			f.States = append(f.States, incident.State(st))
		}
	}
	if v := q.Get("severity"); v != "" {
		sev, err := incident.ParseSeverity(v)
		if err != nil {
			return f, badRequest(err.Error(), "severity")
		}
		f.Severity = &sev
	}
	if v := q.Get("since"); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			f.Since = t
		} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
			f.Since = time.Now().Add(-d)
		} else {
			return f, badRequest(fmt.Sprintf("since %q is neither an RFC 3339 time nor a duration like 1h", v), "since")
		}
	}
	if v := q.Get("after"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return f, badRequest(fmt.Sprintf("after %q is not an incident id", v), "after")
		}
		f.AfterID = id
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return f, badRequest(fmt.Sprintf("limit %q is not a number from 1 to 500", v), "limit")
		}
		f.Limit = n
	}
	return f, nil
}

// incidentID parses the {id} path value.
func incidentID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest(fmt.Sprintf("incident id %q is not a positive number", r.PathValue("id")), "id")
	}
	return id, nil
}

// storeError maps store errors to API errors.
func storeError(err error, id int64) error {
	switch {
	case errors.Is(err, incident.ErrNotFound):
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf("incident %d not found", id)}
	case errors.Is(err, incident.ErrConflict):
		return &apiError{Status: http.StatusConflict, Code: "conflict", Message: err.Error()}
	}
	return err
}

// view reads an incident and its timeline.
func (s *Server) view(r *http.Request) (incidentView, int64, error) {
	id, err := incidentID(r)
	if err != nil {
		return incidentView{}, 0, err
	}
	inc, err := s.opts.Store.Get(r.Context(), id)
	if err != nil {
		return incidentView{}, id, storeError(err, id)
	}
	tl, err := s.opts.Store.Timeline(r.Context(), id)
	if err != nil {
		return incidentView{}, id, storeError(err, id)
	}
	if tl == nil {
		tl = []incident.Entry{}
	}
	return incidentView{Incident: inc, Timeline: tl}, id, nil
}

func (s *Server) handleGetIncident(w http.ResponseWriter, r *http.Request) {
	v, _, err := s.view(r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	v, id, err := s.view(r)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="quell-incident-%d.json"`, id))
	writeJSON(w, http.StatusOK, v)
}

type noteRequest struct {
	Text string `json:"text"`
}

func (s *Server) handleNote(w http.ResponseWriter, r *http.Request) {
	id, err := incidentID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var n noteRequest
	if err := decodeJSON(r, &n, true); err != nil {
		writeError(w, err)
		return
	}
	if strings.TrimSpace(n.Text) == "" {
		writeError(w, badRequest(`field "text" must not be empty`, "text"))
		return
	}
	e, err := s.opts.Store.Append(r.Context(), id, incident.Entry{Time: time.Now().UTC(), Type: incident.EntryNote, Actor: actor(r.Context()), Summary: n.Text})
	if err != nil {
		writeError(w, storeError(err, id))
		return
	}
	writeJSON(w, http.StatusCreated, e)
}

type transitionRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) handleTransition(to incident.State) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := incidentID(r)
		if err != nil {
			writeError(w, err)
			return
		}
		var req transitionRequest
		if r.ContentLength != 0 {
			if err := decodeJSON(r, &req, true); err != nil {
				writeError(w, err)
				return
			}
		}
		summary := "marked " + string(to)
		if req.Reason != "" {
			summary += ": " + req.Reason
		}
		inc, err := s.opts.Store.Transition(r.Context(), id, to, incident.Entry{Time: time.Now().UTC(), Type: incident.EntryState, Actor: actor(r.Context()), Summary: summary})
		if err != nil {
			writeError(w, storeError(err, id))
			return
		}
		s.metrics.transitions.WithLabelValues(string(to)).Inc()
		writeJSON(w, http.StatusOK, inc)
	}
}
