package server

import (
	"strconv"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/notify"
)

// NotifySink announces every newly opened incident through a dispatcher.
type NotifySink struct {
	Dispatcher *notify.Dispatcher
	// URL, when set, is the console base URL; messages link to the incident.
	URL string
}

var _ Sink = (*NotifySink)(nil)

// Committed implements Sink; it only enqueues, never blocks.
func (n *NotifySink) Committed(alerts []incident.Alert, results []incident.IngestResult) {
	for i, r := range results {
		if !r.NewIncident {
			continue
		}
		a := &alerts[i]
		m := notify.Message{Kind: notify.Opened, Incident: incident.Incident{
			ID: r.IncidentID, Key: a.Target.Key(), Title: a.Title(), State: incident.StateOpen,
			Severity: incident.SeverityForPriority(a.Priority), Target: a.Target, Rules: []string{a.Rule},
			AlertCount: 1, FirstSeen: a.Time, LastSeen: a.Time,
		}}
		if n.URL != "" {
			m.URL = n.URL + "/incidents/" + strconv.FormatInt(r.IncidentID, 10)
		}
		n.Dispatcher.Enqueue(m)
	}
}
