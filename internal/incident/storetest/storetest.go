// Package storetest is the conformance suite for incident.Store: every
// implementation runs Run and must pass all of it.
//
// Run calls open for every subtest. open must return a Store on an empty
// database the first time it is called for a given t, and a Store on the
// same database when called again for the same t after the previous Store
// was closed (the durability test does this). An implementation that keeps
// nothing across Close may t.Skip in that second call. Run closes every
// Store open returns; open must not register its own Close.
package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"quell.dev/quell/internal/incident"
)

// Opener opens a Store; see the package documentation.
type Opener func(t *testing.T) incident.Store

// Run runs the whole suite against the Stores open returns.
func Run(t *testing.T, open func(t *testing.T) incident.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, open Opener)
	}{
		{"IngestCorrelation", testIngestCorrelation},
		{"IngestEmpty", testIngestEmpty},
		{"FinalNotJoined", testFinalNotJoined},
		{"Timeline", testTimeline},
		{"Append", testAppend},
		{"AppendAll", testAppendAll},
		{"Transition", testTransition},
		{"NotFound", testNotFound},
		{"ListFilters", testListFilters},
		{"ListPagination", testListPagination},
		{"Once", testOnce},
		{"CountByState", testCountByState},
		{"DeleteBefore", testDeleteBefore},
		{"ConcurrentIngest", testConcurrentIngest},
		{"Durability", testDurability},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open) })
	}
}

// t0 is the suite's epoch; window its correlation window.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const window = 10 * time.Minute

// openStore opens a Store and closes it when t ends.
func openStore(t *testing.T, open Opener) incident.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// Targets used across the suite.
func web(pod string) incident.Target {
	return incident.Target{Cluster: "prod", Kind: incident.TargetWorkload, Namespace: "shop",
		WorkloadKind: "Deployment", Name: "web", Pod: pod, Node: "worker-1"}
}

func db() incident.Target {
	return incident.Target{Cluster: "prod", Kind: incident.TargetWorkload, Namespace: "shop",
		WorkloadKind: "StatefulSet", Name: "db", Pod: "db-0", Node: "worker-2"}
}

func node(name string) incident.Target {
	return incident.Target{Cluster: "prod", Kind: incident.TargetNode, Name: name, Node: name}
}

// alert builds an alert at t0+at.
func alert(rule, priority string, at time.Duration, target incident.Target, output string) incident.Alert {
	return incident.Alert{
		Source:   "falco",
		Rule:     rule,
		Priority: priority,
		Time:     t0.Add(at),
		Output:   output,
		Tags:     []string{"container"},
		Fields:   map[string]any{"proc.name": "sh"},
		Target:   target,
	}
}

func ingest(t *testing.T, s incident.Store, alerts ...incident.Alert) []incident.IngestResult {
	t.Helper()
	res, err := s.Ingest(t.Context(), alerts, window)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	if len(res) != len(alerts) {
		t.Fatalf("Ingest returned %d results for %d alerts", len(res), len(alerts))
	}
	return res
}

func get(t *testing.T, s incident.Store, id int64) *incident.Incident {
	t.Helper()
	in, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	return in
}

func timeline(t *testing.T, s incident.Store, id int64) []incident.Entry {
	t.Helper()
	es, err := s.Timeline(t.Context(), id)
	if err != nil {
		t.Fatalf("Timeline(%d): %v", id, err)
	}
	return es
}

func transition(t *testing.T, s incident.Store, id int64, to incident.State) *incident.Incident {
	t.Helper()
	in, err := s.Transition(t.Context(), id, to, incident.Entry{Actor: "test"})
	if err != nil {
		t.Fatalf("Transition(%d, %s): %v", id, to, err)
	}
	return in
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ignoreBookkeeping ignores the fields a store assigns.
var ignoreBookkeeping = cmpopts.IgnoreFields(incident.Incident{}, "ID", "CreatedAt", "UpdatedAt")

// jsonEqual compares JSON documents by value, not by bytes.
var jsonEqual = cmp.Transformer("json", func(r json.RawMessage) any {
	if len(r) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(r, &v); err != nil {
		return string(r)
	}
	return v
})

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}
