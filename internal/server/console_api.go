package server

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/rules"
)

// RulesInfo is the loaded rules engine; see rules.Engine.
type RulesInfo interface {
	Rules() []*rules.Rule
	Skipped() []rules.Skipped
}

// PlaybooksInfo describes the playbooks; see playbook.Engine.
type PlaybooksInfo interface {
	Describe(loaded []playbook.RuleRef) []playbook.PlaybookView
}

type skippedView struct {
	Rule   string `json:"rule"`
	Where  string `json:"where"`
	Reason string `json:"reason"`
}

func (s *Server) loadedRules() []playbook.RuleRef {
	var out []playbook.RuleRef
	if s.opts.Rules == nil {
		return out
	}
	for _, r := range s.opts.Rules.Rules() {
		out = append(out, playbook.RuleRef{Name: r.Name, Priority: r.Priority.String(), Source: r.Source, Tags: r.Tags})
	}
	return out
}

// handleRules lists the loaded rules and those skipped, with why.
func (s *Server) handleRules(w http.ResponseWriter, r *http.Request) {
	if s.opts.Rules == nil {
		writeError(w, &apiError{Status: http.StatusNotImplemented, Code: "not_configured", Message: "no rules engine"})
		return
	}
	out := struct {
		Rules   []playbook.RuleRef `json:"rules"`
		Skipped []skippedView      `json:"skipped"`
	}{Rules: s.loadedRules(), Skipped: []skippedView{}}
	for _, sk := range s.opts.Rules.Skipped() {
		out.Skipped = append(out.Skipped, skippedView{Rule: sk.Rule, Where: sk.Pos.String(), Reason: sk.Reason})
	}
	writeJSON(w, http.StatusOK, out)
}

// handlePlaybooks describes the playbooks and which rules each takes.
func (s *Server) handlePlaybooks(w http.ResponseWriter, r *http.Request) {
	if s.opts.Playbooks == nil {
		writeError(w, &apiError{Status: http.StatusNotImplemented, Code: "not_configured", Message: "no cluster is configured: no response engine"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"playbooks": s.opts.Playbooks.Describe(s.loadedRules())})
}

// summaryView is the console's overview.
type summaryView struct {
	// Open counts unresolved incidents (not resolved nor false positive)
	// by severity; States counts every incident by state.
	Open   map[string]int `json:"open_by_severity"`
	States map[string]int `json:"by_state"`
	// Alerts are the last 24 hours' alerts per rule, by hour (oldest
	// first), counted on the hour of each incident's last alert.
	Alerts           []ruleSeries      `json:"alerts_by_rule"`
	ActionsToday     int               `json:"actions_today"`
	PendingApprovals []pendingApproval `json:"pending_approvals"`
	Sensors          []SensorStatus    `json:"sensors"`
}

type ruleSeries struct {
	Rule  string  `json:"rule"`
	Hours [24]int `json:"hours"`
	Total int     `json:"total"`
}

type pendingApproval struct {
	Incident int64  `json:"incident"`
	Title    string `json:"title"`
	Action   string `json:"action"`
	Object   string `json:"object"`
}

// handleSummary answers the overview: counts, the last day's alerts per
// rule, actions since midnight UTC and pending approvals (from the
// timelines of incidents changed today, at most 200), and sensors.
func (s *Server) handleSummary(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := time.Now().UTC()
	out := summaryView{Open: map[string]int{}, States: map[string]int{}, Alerts: []ruleSeries{}, PendingApprovals: []pendingApproval{}, Sensors: s.sensors.list()}
	counts, err := s.opts.Store.CountByState(ctx)
	if err != nil {
		writeError(w, err)
		return
	}
	for st, n := range counts {
		out.States[string(st)] = n
	}
	day, err := s.opts.Store.List(ctx, incident.Filter{Since: now.Add(-24 * time.Hour), Limit: 500})
	if err != nil {
		writeError(w, err)
		return
	}
	series := map[string]*ruleSeries{}
	for _, inc := range day {
		if len(inc.Rules) == 0 {
			continue
		}
		rs := series[inc.Rules[0]]
		if rs == nil {
			rs = &ruleSeries{Rule: inc.Rules[0]}
			series[inc.Rules[0]] = rs
		}
		h := 23 - int(now.Sub(inc.LastSeen)/time.Hour)
		if h >= 0 && h < 24 {
			rs.Hours[h] += inc.AlertCount
			rs.Total += inc.AlertCount
		}
	}
	for _, rs := range series {
		out.Alerts = append(out.Alerts, *rs)
	}
	slices.SortFunc(out.Alerts, func(a, b ruleSeries) int { return cmp.Or(b.Total-a.Total, strings.Compare(a.Rule, b.Rule)) })
	open, err := s.opts.Store.List(ctx, incident.Filter{States: []incident.State{incident.StateOpen, incident.StateActing, incident.StateContained, incident.StateFailed}, Limit: 500})
	if err != nil {
		writeError(w, err)
		return
	}
	for _, inc := range open {
		out.Open[inc.Severity.String()]++
	}
	midnight := now.Truncate(24 * time.Hour)
	today, err := s.opts.Store.List(ctx, incident.Filter{UpdatedSince: midnight, Limit: 200})
	if err != nil {
		writeError(w, err)
		return
	}
	for _, inc := range today {
		tl, err := s.opts.Store.Timeline(ctx, inc.ID)
		if err != nil {
			writeError(w, err)
			return
		}
		for _, e := range tl {
			if e.Type == incident.EntryActionSucceeded && !e.Time.Before(midnight) {
				out.ActionsToday++
			}
		}
		if inc.State.Final() {
			continue
		}
		for _, p := range playbook.Pending(tl) {
			out.PendingApprovals = append(out.PendingApprovals, pendingApproval{Incident: inc.ID, Title: inc.Title, Action: p.Action, Object: p.Object})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
