package sqlstore

import (
	"quell.dev/quell/internal/incident"
)

// alertActor is who recorded an alert's timeline entry: its source.
func alertActor(a *incident.Alert) string {
	if a.Source == "" {
		return "quell"
	}
	return a.Source
}

// alertSummary is the one-line text of an alert's timeline entry: its
// rule. The output and everything else is in the entry's Data.
func alertSummary(a *incident.Alert) string {
	return a.Rule
}
