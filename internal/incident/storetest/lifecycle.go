package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"quell.dev/quell/internal/incident"
)

// missing is an incident ID no test creates.
const missing = 987654321

func testTimeline(t *testing.T, open Opener) {
	s := openStore(t, open)
	a := alert(shell, "Notice", 0, web("web-1"), "first")
	b := alert(netcat, "Error", time.Minute, web("web-2"), "second")
	dup := alert(shell, "Notice", 2*time.Minute, web("web-1"), "first")
	id := ingest(t, s, a, b, dup)[0].IncidentID
	note := incident.Entry{Time: t0.Add(3 * time.Minute), Type: incident.EntryNote, Actor: "alice", Summary: "looking",
		Data: json.RawMessage(`{"ticket": "SEC-1"}`)}
	if _, err := s.Append(t.Context(), id, note); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if _, err := s.Transition(t.Context(), id, incident.StateActing,
		incident.Entry{Time: t0.Add(4 * time.Minute), Actor: "quell", Summary: "terminating pod"}); err != nil {
		t.Fatalf("Transition: %v", err)
	}

	want := []incident.Entry{
		{IncidentID: id, Time: a.Time, Type: incident.EntryAlert, Actor: "falco", Summary: shell, Data: mustJSON(t, a)},
		{IncidentID: id, Time: b.Time, Type: incident.EntryAlert, Actor: "falco", Summary: netcat, Data: mustJSON(t, b)},
		{IncidentID: id, Time: note.Time, Type: incident.EntryNote, Actor: "alice", Summary: "looking", Data: note.Data},
		{IncidentID: id, Time: t0.Add(4 * time.Minute), Type: incident.EntryState, Actor: "quell", Summary: "terminating pod"},
	}
	got := timeline(t, s, id)
	if diff := cmp.Diff(want, got, jsonEqual, cmpopts.IgnoreFields(incident.Entry{}, "ID")); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID <= got[i-1].ID {
			t.Errorf("entry %d has ID %d after %d: not in recording order", i, got[i].ID, got[i-1].ID)
		}
	}
}

func testAppend(t *testing.T, open Opener) {
	s := openStore(t, open)
	id := ingest(t, s, alert(shell, "Notice", 0, web("web-1"), "a"))[0].IncidentID
	in := incident.Entry{Time: t0.Add(time.Minute), Type: incident.EntryEvidence, Actor: "quell",
		Summary: "captured", Data: json.RawMessage(`{"file":"/tmp/x"}`)}
	got, err := s.Append(t.Context(), id, in)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	want := in
	want.IncidentID = id
	if diff := cmp.Diff(want, got, jsonEqual, cmpopts.IgnoreFields(incident.Entry{}, "ID")); diff != "" {
		t.Errorf("Append returned (-want +got):\n%s", diff)
	}
	if got.ID == 0 {
		t.Error("Append returned no entry ID")
	}
	es := timeline(t, s, id)
	if diff := cmp.Diff(got, es[len(es)-1], jsonEqual); diff != "" {
		t.Errorf("last timeline entry (-appended +stored):\n%s", diff)
	}

	// A zero time means now.
	before := time.Now().Add(-time.Second)
	now, err := s.Append(t.Context(), id, incident.Entry{Type: incident.EntryNote, Actor: "bob", Summary: "hi"})
	if err != nil {
		t.Fatalf("Append without time: %v", err)
	}
	if now.Time.Before(before) || now.Time.After(time.Now().Add(time.Second)) {
		t.Errorf("Append without time: time %v, want about now", now.Time)
	}

	_, err = s.Append(t.Context(), missing, in)
	wantErr(t, "Append to a missing incident", err, incident.ErrNotFound)
	bad := []struct {
		name string
		e    incident.Entry
	}{
		{"no type", incident.Entry{Summary: "x"}},
		{"invalid data", incident.Entry{Type: incident.EntryNote, Data: json.RawMessage(`{"x":`)}},
	}
	for _, tc := range bad {
		if _, err := s.Append(t.Context(), id, tc.e); err == nil {
			t.Errorf("Append with %s: no error", tc.name)
		}
	}
	if n := len(timeline(t, s, id)); n != len(es)+1 {
		t.Errorf("timeline has %d entries after failed appends, want %d", n, len(es)+1)
	}
}

func testTransition(t *testing.T, open Opener) {
	tests := []struct {
		name string
		path []incident.State // transitions made first
		to   incident.State
		ok   bool
	}{
		{"open to acting", nil, incident.StateActing, true},
		{"open to contained", nil, incident.StateContained, true},
		{"open to resolved", nil, incident.StateResolved, true},
		{"open to false-positive", nil, incident.StateFalsePositive, true},
		{"open to failed", nil, incident.StateFailed, true},
		{"acting to contained", []incident.State{incident.StateActing}, incident.StateContained, true},
		{"contained to acting", []incident.State{incident.StateContained}, incident.StateActing, true},
		{"failed to acting", []incident.State{incident.StateFailed}, incident.StateActing, true},
		{"resolved reopens", []incident.State{incident.StateResolved}, incident.StateOpen, true},
		{"false-positive reopens", []incident.State{incident.StateFalsePositive}, incident.StateOpen, true},
		{"open to open", nil, incident.StateOpen, false},
		{"acting to open", []incident.State{incident.StateActing}, incident.StateOpen, false},
		{"failed to contained", []incident.State{incident.StateFailed}, incident.StateContained, false},
		{"resolved to acting", []incident.State{incident.StateResolved}, incident.StateActing, false},
		{"false-positive to resolved", []incident.State{incident.StateFalsePositive}, incident.StateResolved, false},
		{"unknown state", nil, incident.State("exploded"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, open)
			id := ingest(t, s, alert(shell, "Notice", 0, web("web-1"), "a"))[0].IncidentID
			for _, st := range tc.path {
				transition(t, s, id, st)
			}
			before := get(t, s, id)
			entries := len(timeline(t, s, id))

			e := incident.Entry{Time: t0.Add(time.Hour), Actor: "alice", Summary: "why", Data: json.RawMessage(`{"reason":"test"}`)}
			got, err := s.Transition(t.Context(), id, tc.to, e)
			if !tc.ok {
				wantErr(t, "Transition", err, incident.ErrConflict)
				if diff := cmp.Diff(before, get(t, s, id)); diff != "" {
					t.Errorf("incident changed by a refused transition (-before +after):\n%s", diff)
				}
				if n := len(timeline(t, s, id)); n != entries {
					t.Errorf("timeline has %d entries after a refused transition, want %d", n, entries)
				}
				return
			}
			if err != nil {
				t.Fatalf("Transition: %v", err)
			}
			want := *before
			want.State = tc.to
			if diff := cmp.Diff(want, *got, cmpopts.IgnoreFields(incident.Incident{}, "UpdatedAt")); diff != "" {
				t.Errorf("Transition returned (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(got, get(t, s, id)); diff != "" {
				t.Errorf("stored incident differs from returned (-returned +stored):\n%s", diff)
			}
			es := timeline(t, s, id)
			wantEntry := incident.Entry{IncidentID: id, Time: e.Time, Type: incident.EntryState, Actor: "alice", Summary: "why", Data: e.Data}
			if diff := cmp.Diff(wantEntry, es[len(es)-1], jsonEqual, cmpopts.IgnoreFields(incident.Entry{}, "ID")); diff != "" {
				t.Errorf("transition entry (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("entry type kept", func(t *testing.T) {
		s := openStore(t, open)
		id := ingest(t, s, alert(shell, "Notice", 0, web("web-1"), "a"))[0].IncidentID
		if _, err := s.Transition(t.Context(), id, incident.StateContained,
			incident.Entry{Type: incident.EntryVerification, Actor: "quell", Summary: "process gone"}); err != nil {
			t.Fatalf("Transition: %v", err)
		}
		es := timeline(t, s, id)
		if got := es[len(es)-1].Type; got != incident.EntryVerification {
			t.Errorf("entry type %q, want %q", got, incident.EntryVerification)
		}
	})
}

func testNotFound(t *testing.T, open Opener) {
	s := openStore(t, open)
	_, err := s.Get(t.Context(), missing)
	wantErr(t, "Get", err, incident.ErrNotFound)
	_, err = s.Timeline(t.Context(), missing)
	wantErr(t, "Timeline", err, incident.ErrNotFound)
	_, err = s.Transition(t.Context(), missing, incident.StateResolved, incident.Entry{})
	wantErr(t, "Transition", err, incident.ErrNotFound)
	got, err := s.List(t.Context(), incident.Filter{})
	if err != nil || len(got) != 0 {
		t.Errorf("List on an empty store = %v, %v; want nothing, no error", got, err)
	}
}

func testOnce(t *testing.T, open Opener) {
	s := openStore(t, open)
	for i, tc := range []struct {
		key  string
		want bool
	}{
		{"audit/abc/ResponseComplete", true},
		{"audit/abc/ResponseComplete", false},
		{"audit/abc/RequestReceived", true},
		{"action/1/terminate", true},
		{"audit/abc/RequestReceived", false},
	} {
		got, err := s.Once(t.Context(), tc.key)
		if err != nil {
			t.Fatalf("Once(%q): %v", tc.key, err)
		}
		if got != tc.want {
			t.Errorf("call %d: Once(%q) = %v, want %v", i, tc.key, got, tc.want)
		}
	}
}

func testDeleteBefore(t *testing.T, open Opener) {
	s := openStore(t, open)
	day := 24 * time.Hour
	oldResolved := ingest(t, s, alert(shell, "Notice", 0, web("web-1"), "a"))[0].IncidentID
	transition(t, s, oldResolved, incident.StateResolved)
	oldFalse := ingest(t, s, alert(shell, "Notice", 0, db(), "a"))[0].IncidentID
	transition(t, s, oldFalse, incident.StateFalsePositive)
	oldOpen := ingest(t, s, alert(shell, "Notice", 0, node("worker-1"), "a"))[0].IncidentID
	recent := ingest(t, s, alert(shell, "Notice", 2*day, node("worker-2"), "a"))[0].IncidentID
	transition(t, s, recent, incident.StateResolved)

	n, err := s.DeleteBefore(t.Context(), t0.Add(day))
	if err != nil {
		t.Fatalf("DeleteBefore: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteBefore removed %d incidents, want 2", n)
	}
	for _, id := range []int64{oldResolved, oldFalse} {
		_, err := s.Get(t.Context(), id)
		wantErr(t, "Get of a deleted incident", err, incident.ErrNotFound)
		_, err = s.Timeline(t.Context(), id)
		wantErr(t, "Timeline of a deleted incident", err, incident.ErrNotFound)
	}
	for _, id := range []int64{oldOpen, recent} {
		get(t, s, id)
		if len(timeline(t, s, id)) == 0 {
			t.Errorf("incident %d lost its timeline", id)
		}
	}
	if n, err := s.DeleteBefore(t.Context(), t0.Add(day)); err != nil || n != 0 {
		t.Errorf("second DeleteBefore = %d, %v; want 0, nil", n, err)
	}
	// The deleted incident's alert is new again.
	if r := ingest(t, s, alert(shell, "Notice", 0, web("web-1"), "a"))[0]; !r.NewIncident || r.Deduplicated {
		t.Errorf("alert of a deleted incident: %+v, want a new incident", r)
	}
}

func testAppendAll(t *testing.T, open Opener) {
	s := openStore(t, open)
	id := ingest(t, s, alert(shell, "Notice", 0, web("web-1"), "a"))[0].IncidentID
	before := timeline(t, s, id)
	in := []incident.Entry{
		{Time: t0.Add(time.Minute), Type: incident.EntryEnrichment, Actor: "quell", Summary: "chain"},
		{Time: t0.Add(time.Minute), Type: incident.EntryDecision, Actor: "quell", Summary: "decided", Data: json.RawMessage(`{"a":1}`)},
	}
	got, err := s.AppendAll(t.Context(), id, in)
	if err != nil {
		t.Fatalf("AppendAll: %v", err)
	}
	es := timeline(t, s, id)
	if diff := cmp.Diff(got, es[len(before):], jsonEqual); diff != "" {
		t.Errorf("timeline after AppendAll (-returned +stored):\n%s", diff)
	}
	if len(got) != 2 || got[0].ID >= got[1].ID || got[1].Summary != "decided" {
		t.Errorf("AppendAll returned %+v, want the two entries in order", got)
	}
	// All or none: an invalid entry keeps the valid one out too.
	_, err = s.AppendAll(t.Context(), id, []incident.Entry{{Type: incident.EntryNote, Summary: "ok"}, {Summary: "no type"}})
	if err == nil {
		t.Error("AppendAll with an entry without type: no error")
	}
	_, err = s.AppendAll(t.Context(), missing, in)
	wantErr(t, "AppendAll to a missing incident", err, incident.ErrNotFound)
	if n := len(timeline(t, s, id)); n != len(es) {
		t.Errorf("timeline has %d entries after failed appends, want %d", n, len(es))
	}
}
