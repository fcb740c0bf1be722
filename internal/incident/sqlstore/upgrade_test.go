package sqlstore

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"quell.dev/quell/internal/incident"
)

// TestTwoVersionsSideBySide plays a rolling upgrade on each backend: a
// newer program applies an expand migration (a new column), and this
// program keeps opening the database and reading and writing incidents
// beside it; once the newer program applies a contract migration (it
// drops what this one may use), this program refuses to open the
// database, naming both versions, and changes nothing.
func TestTwoVersionsSideBySide(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		ms, err := migrations(postgres)
		if err != nil {
			t.Fatal(err)
		}
		latest := ms[len(ms)-1].version
		alert := func(out string) incident.Alert {
			return incident.Alert{Source: "falco", Rule: "Shell", Priority: "Notice", Time: time.Now().UTC(), Output: out,
				Target: incident.Target{Cluster: "c", Kind: incident.TargetPod, Namespace: "ns", Name: "p-" + out, Pod: "p-" + out}}
		}
		current := mustOpen(t, dsn)
		if _, err := current.Ingest(ctx, []incident.Alert{alert("before")}, time.Minute); err != nil {
			t.Fatal(err)
		}

		newer, err := open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer newer.Close()
		expand := migration{version: latest + 1, name: "newer_expand", sql: "ALTER TABLE incidents ADD COLUMN newer_note TEXT"}
		all, err := migrations(newer.dialect)
		if err != nil {
			t.Fatal(err)
		}
		if err := newer.apply(ctx, append(all, expand)); err != nil {
			t.Fatalf("the newer program's expand migration: %v", err)
		}
		// This program, running beside the newer one, still works, and so
		// does a restart of it.
		if _, err := current.Ingest(ctx, []incident.Alert{alert("during")}, time.Minute); err != nil {
			t.Fatalf("ingest beside the newer schema: %v", err)
		}
		current.Close()
		restarted, err := Open(ctx, dsn)
		if err != nil {
			t.Fatalf("open beside the newer schema (expand only): %v", err)
		}
		list, err := restarted.List(ctx, incident.Filter{})
		if err != nil || len(list) != 2 {
			t.Fatalf("list beside the newer schema: %d incidents (%v), want 2", len(list), err)
		}
		restarted.Close()

		contract := migration{version: latest + 2, name: "newer_contract", sql: contractMark + "\nALTER TABLE incidents DROP COLUMN newer_note", contract: true}
		if err := newer.apply(ctx, append(all, expand, contract)); err != nil {
			t.Fatalf("the newer program's contract migration: %v", err)
		}
		_, err = Open(ctx, dsn)
		want := "needs a program that knows schema version " + strconv.Itoa(latest+1) + " or later; this one knows up to " + strconv.Itoa(latest)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("open after a contract migration: %v, want an error saying %q", err, want)
		}
		// The newer program still has every incident.
		list, err = newer.List(ctx, incident.Filter{})
		if err != nil || len(list) != 2 {
			t.Errorf("the newer program lists %d incidents (%v), want 2", len(list), err)
		}
	})
}
