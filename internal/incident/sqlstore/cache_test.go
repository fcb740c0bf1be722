package sqlstore

import (
	"path/filepath"
	"testing"
	"time"

	"quell.dev/quell/internal/incident"
)

func cacheAlert(pod, output string, at time.Time) incident.Alert {
	return incident.Alert{Source: "falco", Rule: "Terminal shell in container", Priority: "Notice", Time: at, Output: output,
		Target: incident.Target{Cluster: "c", Kind: incident.TargetPod, Namespace: "ns", Name: pod, Pod: pod}}
}

func ingestOne(t *testing.T, s *Store, a incident.Alert) incident.IngestResult {
	t.Helper()
	res, err := s.Ingest(t.Context(), []incident.Alert{a}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// Two Stores on one SQLite file: each must see the other's writes although
// each caches the incidents it wrote.
func TestHeadCacheOtherWriter(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "quell.db")
	a, b := mustOpen(t, dsn), mustOpen(t, dsn)
	defer a.Close()
	defer b.Close()
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

	r1 := ingestOne(t, a, cacheAlert("p", "one", at))
	if !r1.NewIncident {
		t.Fatalf("first alert: %+v, want a new incident", r1)
	}
	// b records an alert in a's cached incident; a must count its twin as
	// a duplicate.
	if r := ingestOne(t, b, cacheAlert("p", "two", at.Add(time.Second))); r.IncidentID != r1.IncidentID || r.Deduplicated {
		t.Fatalf("b's alert: %+v, want recorded in incident %d", r, r1.IncidentID)
	}
	if r := ingestOne(t, a, cacheAlert("p", "two", at.Add(2*time.Second))); r.IncidentID != r1.IncidentID || !r.Deduplicated {
		t.Fatalf("a's twin of b's alert: %+v, want deduplicated in incident %d", r, r1.IncidentID)
	}
	// b resolves the incident; a must open a new one.
	if _, err := b.Transition(t.Context(), r1.IncidentID, incident.StateResolved, incident.Entry{}); err != nil {
		t.Fatal(err)
	}
	r2 := ingestOne(t, a, cacheAlert("p", "three", at.Add(3*time.Second)))
	if !r2.NewIncident || r2.IncidentID == r1.IncidentID {
		t.Fatalf("alert after resolve by another store: %+v, want a new incident", r2)
	}
	inc, err := a.Get(t.Context(), r2.IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	if inc.AlertCount != 1 || inc.DedupCount != 0 {
		t.Errorf("new incident counts %d/%d, want 1/0", inc.AlertCount, inc.DedupCount)
	}
	old, err := a.Get(t.Context(), r1.IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	if old.AlertCount != 2 || old.DedupCount != 1 {
		t.Errorf("first incident counts %d/%d, want 2/1", old.AlertCount, old.DedupCount)
	}
}

// The same Store: a transition away and back changes which incident is
// the key's newest non-final one.
func TestHeadCacheTransition(t *testing.T) {
	s := mustOpen(t, "sqlite://"+filepath.Join(t.TempDir(), "quell.db"))
	defer s.Close()
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	r1 := ingestOne(t, s, cacheAlert("p", "one", at))
	if _, err := s.Transition(t.Context(), r1.IncidentID, incident.StateResolved, incident.Entry{}); err != nil {
		t.Fatal(err)
	}
	r2 := ingestOne(t, s, cacheAlert("p", "one", at.Add(time.Second)))
	if !r2.NewIncident || r2.Deduplicated {
		t.Fatalf("after resolve: %+v, want a new incident, not a duplicate", r2)
	}
	// Resolve the second, reopen the first: it is the key's only
	// non-final incident again, with its dedup keys.
	if _, err := s.Transition(t.Context(), r2.IncidentID, incident.StateResolved, incident.Entry{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(t.Context(), r1.IncidentID, incident.StateOpen, incident.Entry{}); err != nil {
		t.Fatal(err)
	}
	if r := ingestOne(t, s, cacheAlert("p", "one", at.Add(2*time.Second))); r.IncidentID != r1.IncidentID || !r.Deduplicated {
		t.Fatalf("after reopen: %+v, want deduplicated in incident %d", r, r1.IncidentID)
	}
}

// A reopened Store rebuilds the cache from the database, dedup keys too;
// and background checkpoints do not empty the cache.
func TestHeadCacheReopenAndCheckpoint(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "quell.db")
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s := mustOpen(t, dsn)
	r1 := ingestOne(t, s, cacheAlert("p", "one", at))
	s.Close()

	s = mustOpen(t, dsn)
	defer s.Close()
	if r := ingestOne(t, s, cacheAlert("p", "one", at.Add(time.Second))); r.IncidentID != r1.IncidentID || !r.Deduplicated {
		t.Fatalf("after reopen: %+v, want deduplicated in incident %d", r, r1.IncidentID)
	}
	key := cacheAlert("p", "", at).Target.Key()
	if _, ok := s.cache.heads[key]; !ok {
		t.Fatal("head not cached after Ingest")
	}
	// Let the checkpointer copy the WAL back (it runs after a commit, at
	// most every checkpointEvery), then write again.
	for i := range 3 {
		time.Sleep(checkpointEvery + 50*time.Millisecond)
		ingestOne(t, s, cacheAlert("q", "x", at.Add(time.Duration(i)*time.Second)))
	}
	if _, ok := s.cache.heads[key]; !ok {
		t.Error("checkpoints emptied the head cache")
	}
}
