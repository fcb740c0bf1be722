package sqlstore

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
)

// TestDedupOlderIncident sends alerts that join an incident other than
// their key's newest, which Ingest deduplicates in the database (the
// unique index on entries) rather than in memory.
func TestDedupOlderIncident(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := mustOpen(t, dsn)
		defer s.Close()
		at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		a := func(out string, d time.Duration) incident.Alert {
			return incident.Alert{Source: "falco", Rule: "Terminal shell in container", Priority: "Notice", Time: at.Add(d), Output: out,
				Target: incident.Target{Cluster: "c", Kind: incident.TargetPod, Namespace: "ns", Name: "web", Pod: "web"}}
		}
		first, err := s.Ingest(t.Context(), []incident.Alert{a("one", 0), a("two", 0)}, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		later, err := s.Ingest(t.Context(), []incident.Alert{a("one", time.Hour)}, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		old, newer := first[0].IncidentID, later[0].IncidentID
		if old == newer {
			t.Fatalf("an alert an hour later joined incident %d", old)
		}
		got, err := s.Ingest(t.Context(), []incident.Alert{a("two", time.Minute), a("three", time.Minute), a("three", time.Minute), a("one", time.Hour)}, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		want := []incident.IngestResult{
			{IncidentID: old, Deduplicated: true},
			{IncidentID: old},
			{IncidentID: old, Deduplicated: true},
			{IncidentID: newer, Deduplicated: true},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Ingest (-want +got):\n%s", diff)
		}
		inc, err := s.Get(t.Context(), old)
		if err != nil {
			t.Fatal(err)
		}
		if inc.AlertCount != 3 || inc.DedupCount != 2 {
			t.Errorf("older incident counts %d/%d, want 3/2", inc.AlertCount, inc.DedupCount)
		}
	})
}
