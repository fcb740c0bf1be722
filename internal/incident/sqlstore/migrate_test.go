package sqlstore

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
)

// TestEntryDedupBackfill upgrades a database holding alerts recorded under
// schema version 1 (dedup keys in dedup_keys) and checks that they still
// deduplicate afterwards.
func TestEntryDedupBackfill(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		alert := func(out string) incident.Alert {
			return incident.Alert{Source: "falco", Rule: "Terminal shell in container", Priority: "Notice", Time: at, Output: out,
				Target: incident.Target{Cluster: "c", Kind: incident.TargetPod, Namespace: "ns", Name: "web", Pod: "web"}}
		}
		old, err := open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := migrations(old.dialect)
		if err != nil {
			t.Fatal(err)
		}
		if err := old.apply(ctx, ms[:1]); err != nil {
			t.Fatal(err)
		}
		// An incident with two recorded alerts and a note, as version 1
		// wrote them; the second alert's key is missing from dedup_keys.
		var id int64
		if err := old.w.QueryRowContext(ctx, rebind(old.dialect, `INSERT INTO incidents (key, title, state, severity, cluster, namespace, target, rules,
	alert_count, dedup_count, first_seen, last_seen, created_at, updated_at)
	VALUES ('c/pod/ns/web', 't', 'open', 1, 'c', 'ns', '{}', '["Terminal shell in container"]', 2, 0, ?, ?, ?, ?) RETURNING id`),
			at.UnixNano(), at.UnixNano(), at.UnixNano(), at.UnixNano()).Scan(&id); err != nil {
			t.Fatal(err)
		}
		enc, err := encodeAlerts([]incident.Alert{alert("one"), alert("two")}, at).wait()
		if err != nil {
			t.Fatal(err)
		}
		insert := rebind(old.dialect, "INSERT INTO entries (incident_id, at, type, actor, summary, data) VALUES (?, ?, ?, 'falco', 's', ?)")
		for _, e := range []struct {
			typ  incident.EntryType
			data any
		}{{incident.EntryAlert, enc[0]}, {incident.EntryNote, nil}, {incident.EntryAlert, enc[1]}} {
			if _, err := old.w.ExecContext(ctx, insert, id, at.UnixNano(), string(e.typ), e.data); err != nil {
				t.Fatal(err)
			}
		}
		one := alert("one")
		if _, err := old.w.ExecContext(ctx, rebind(old.dialect, "INSERT INTO dedup_keys (incident_id, hash) VALUES (?, ?)"), id, int64(sha(one.DedupKey()))); err != nil {
			t.Fatal(err)
		}
		old.Close()

		s := mustOpen(t, dsn)
		defer s.Close()
		got, err := s.Ingest(ctx, []incident.Alert{alert("one"), alert("two"), alert("three")}, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		want := []incident.IngestResult{
			{IncidentID: id, Deduplicated: true},
			{IncidentID: id}, // its key was not in dedup_keys, so it is recorded again
			{IncidentID: id},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Ingest after upgrade (-want +got):\n%s", diff)
		}
		tl, err := s.Timeline(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var types []incident.EntryType
		for _, e := range tl {
			types = append(types, e.Type)
		}
		if diff := cmp.Diff([]incident.EntryType{"alert", "note", "alert", "alert", "alert"}, types); diff != "" {
			t.Errorf("timeline types (-want +got):\n%s", diff)
		}
	})
}
