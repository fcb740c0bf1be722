package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/incident/storetest"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// backends are the databases every test here runs against: a function
// that returns a DSN to a new, empty database.
var backends = []struct {
	name string
	dsn  func(t testing.TB) string
}{
	{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "quell.db") }},
	{"postgres", testenv.Postgres},
}

// opener opens a new database per test, and the same one again when
// called twice with the same test.
func opener(dsn func(testing.TB) string) storetest.Opener {
	var dsns sync.Map // *testing.T -> string
	return func(t *testing.T) incident.Store {
		d, ok := dsns.Load(t)
		if !ok {
			d = dsn(t)
			dsns.Store(t, d)
		}
		return mustOpen(t, d.(string))
	}
}

func mustOpen(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { storetest.Run(t, opener(b.dsn)) })
	}
	t.Run("sqlite-memory", func(t *testing.T) {
		var seen sync.Map
		storetest.Run(t, func(t *testing.T) incident.Store {
			if _, again := seen.LoadOrStore(t, true); again {
				t.Skip("an in-memory database does not outlive Close")
			}
			return mustOpen(t, "sqlite://:memory:")
		})
	})
}

// eachBackend runs f against a new database of every backend.
func eachBackend(t *testing.T, f func(t *testing.T, dsn string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.dsn(t)) })
	}
}

func TestExport(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := mustOpen(t, dsn)
		defer s.Close()
		a := incident.Alert{Source: "falco", Rule: "Shell", Priority: "Notice", Time: time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC),
			Output: "sh", Target: incident.Target{Cluster: "c", Kind: incident.TargetPod, Namespace: "ns", Name: "p", Pod: "p"}}
		res, err := s.Ingest(t.Context(), []incident.Alert{a}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		id := res[0].IncidentID
		if _, err := s.Append(t.Context(), id, incident.Entry{Type: incident.EntryNote, Summary: "n", Data: json.RawMessage(`{"a":1}`)}); err != nil {
			t.Fatal(err)
		}
		b, err := s.Export(t.Context(), id)
		if err != nil {
			t.Fatalf("Export: %v", err)
		}
		var got Export
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("decode export: %v\n%s", err, b)
		}
		in, _ := s.Get(t.Context(), id)
		es, _ := s.Timeline(t.Context(), id)
		want := Export{Incident: *in, Timeline: es}
		if diff := cmp.Diff(want, got, jsonValue); diff != "" {
			t.Errorf("export (-want +got):\n%s", diff)
		}
		if got.Incident.FirstSeen.Nanosecond() != 123456789 {
			t.Errorf("first seen %v lost nanoseconds", got.Incident.FirstSeen)
		}
		if _, err := s.Export(t.Context(), id+1000); !errors.Is(err, incident.ErrNotFound) {
			t.Errorf("Export of a missing incident: %v, want ErrNotFound", err)
		}
	})
}

// TestConcurrentOpen opens one new database from several goroutines at
// once, as several processes starting together would.
// jsonValue compares JSON documents by value.
var jsonValue = cmp.Transformer("json", func(r json.RawMessage) any {
	var v any
	if err := json.Unmarshal(r, &v); err != nil {
		return string(r)
	}
	return v
})

func TestConcurrentOpen(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				s, err := Open(t.Context(), dsn)
				if err != nil {
					errs <- err
					return
				}
				_, err = s.Once(t.Context(), "x")
				errs <- err
				s.Close()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		s := mustOpen(t, dsn)
		defer s.Close()
		var n int
		if err := s.w.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		ms, _ := migrations(s.dialect)
		if n != len(ms) {
			t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
		}
	})
}

// TestNewerSchemaRefused: a database a newer program contracted (its
// min_reader is past this program's schema) is refused with the versions;
// TestTwoVersionsSideBySide has the expand case that is accepted.
func TestNewerSchemaRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := mustOpen(t, dsn)
		if _, err := s.w.ExecContext(t.Context(), rebind(s.dialect, "INSERT INTO schema_migrations (version, name, applied_at, min_reader) VALUES (?, 'future', 0, ?)"), 9999, 9998); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if s, err := Open(t.Context(), dsn); err == nil {
			s.Close()
			t.Fatal("Open of a database with a newer, contracted schema succeeded")
		} else if !strings.Contains(err.Error(), "database schema version 9999 needs a program that knows schema version 9998 or later") {
			t.Errorf("Open: %v, want the versions named", err)
		}
	})
}

// TestCorruptRows checks that bad values in the database are errors, not
// panics.
func TestCorruptRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		s := mustOpen(t, dsn)
		defer s.Close()
		ctx := t.Context()
		res, err := s.Ingest(ctx, []incident.Alert{{Rule: "r", Priority: "Notice", Time: time.Now(), Target: incident.Target{Cluster: "c"}}}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		id := res[0].IncidentID
		for _, upd := range []string{
			"UPDATE incidents SET state = 'bogus' WHERE id = ?",
			"UPDATE incidents SET state = 'open', severity = 42 WHERE id = ?",
			"UPDATE incidents SET severity = 1, rules = 'not json' WHERE id = ?",
		} {
			if _, err := s.w.ExecContext(ctx, rebind(s.dialect, upd), id); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, id); err == nil {
				t.Errorf("after %q: Get succeeded", upd)
			}
			if _, err := s.List(ctx, incident.Filter{}); err == nil {
				t.Errorf("after %q: List succeeded", upd)
			}
		}
		if _, err := s.Transition(ctx, id, incident.StateResolved, incident.Entry{}); err == nil {
			t.Error("Transition reading back a corrupt incident succeeded")
		}
		if _, err := s.Ingest(ctx, []incident.Alert{{Rule: "r", Priority: "Notice", Time: time.Now(), Target: incident.Target{Cluster: "c"}}}, time.Minute); err == nil {
			t.Error("Ingest joining a corrupt incident succeeded")
		}
	})
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	for _, dsn := range []string{"", "mysql://x", "sqlite://", "sqlite:///tmp/a?b.db", "postgres://%zz"} {
		if s, err := Open(ctx, dsn); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
	s := mustOpen(t, "sqlite://"+filepath.Join(t.TempDir(), "q.db"))
	defer s.Close()
	a := incident.Alert{Rule: "r", Time: time.Now(), Target: incident.Target{Cluster: "c"}}
	if _, err := s.Ingest(ctx, []incident.Alert{a}, 0); err == nil {
		t.Error("Ingest with a zero window succeeded")
	}
	a.Time = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.Ingest(ctx, []incident.Alert{a}, time.Minute); err == nil {
		t.Error("Ingest of an alert in the year 3000 succeeded")
	}
	a.Fields = map[string]any{"c": make(chan int)}
	a.Time = time.Now()
	if _, err := s.Ingest(ctx, []incident.Alert{a}, time.Minute); err == nil {
		t.Error("Ingest of an unencodable alert succeeded")
	}
	if _, err := s.List(ctx, incident.Filter{States: []incident.State{"bogus"}}); err == nil {
		t.Error("List with an unknown state succeeded")
	}
	if _, err := s.Once(ctx, ""); err == nil {
		t.Error("Once with an empty key succeeded")
	}
}

func TestZeroAlertTime(t *testing.T) {
	s := mustOpen(t, "sqlite://:memory:")
	defer s.Close()
	before := time.Now()
	res, err := s.Ingest(t.Context(), []incident.Alert{{Rule: "r", Target: incident.Target{Cluster: "c"}}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.Get(t.Context(), res[0].IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	if in.FirstSeen.Before(before) || in.FirstSeen.After(time.Now()) {
		t.Errorf("alert without time seen at %v, want ingest time", in.FirstSeen)
	}
}

func TestOnceRetention(t *testing.T) {
	s := mustOpen(t, "sqlite://:memory:")
	defer s.Close()
	ctx := t.Context()
	if _, err := s.Once(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteBefore(ctx, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if isNew, _ := s.Once(ctx, "k"); isNew {
		t.Error("recent Once key removed by retention")
	}
	if _, err := s.DeleteBefore(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if isNew, _ := s.Once(ctx, "k"); !isNew {
		t.Error("old Once key kept by retention")
	}
}

func TestRebind(t *testing.T) {
	if got, want := rebind(postgres, "a = ? AND b IN (?, ?)"), "a = $1 AND b IN ($2, $3)"; got != want {
		t.Errorf("rebind = %q, want %q", got, want)
	}
	if got := rebind(sqlite, "a = ?"); got != "a = ?" {
		t.Errorf("rebind for sqlite changed the query: %q", got)
	}
}

func TestRedact(t *testing.T) {
	if got := redact("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Errorf("redact left the password: %q", got)
	}
}
