package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
)

func testListFilters(t *testing.T, open Opener) {
	s := openStore(t, open)
	hour := time.Hour
	staging := web("web-1")
	staging.Cluster = "staging"
	api := incident.Target{Cluster: "prod", Kind: incident.TargetPod, Namespace: "pay", Name: "api", Pod: "api"}

	// One incident per name, created in this order (so with rising IDs).
	names := map[int64]string{}
	add := func(name string, state incident.State, alerts ...incident.Alert) {
		id := ingest(t, s, alerts...)[0].IncidentID
		if state != incident.StateOpen {
			transition(t, s, id, state)
		}
		names[id] = name
	}
	add("A", incident.StateOpen, alert(shell, "Notice", 0, web("web-1"), "a"))
	add("B", incident.StateOpen, alert(netcat, "Error", hour, db(), "b"))
	add("C", incident.StateResolved, alert(shell, "Critical", 2*hour, staging, "c"))
	add("D", incident.StateOpen, alert("Linux Kernel Module Injection", "Warning", 3*hour, node("worker-1"), "d"))
	add("E", incident.StateActing, alert(shell, "Informational", 4*hour, api, "e"), alert(netcat, "Informational", 4*hour, api, "e2"))

	sev := func(s incident.Severity) *incident.Severity { return &s }
	tests := []struct {
		name string
		f    incident.Filter
		want []string
	}{
		{"everything, newest first", incident.Filter{}, []string{"E", "D", "C", "B", "A"}},
		{"state resolved", incident.Filter{States: []incident.State{incident.StateResolved}}, []string{"C"}},
		{"state open", incident.Filter{States: []incident.State{incident.StateOpen}}, []string{"D", "B", "A"}},
		{"states open or acting", incident.Filter{States: []incident.State{incident.StateOpen, incident.StateActing}}, []string{"E", "D", "B", "A"}},
		{"at least high", incident.Filter{Severity: sev(incident.SeverityHigh)}, []string{"C", "B"}},
		{"at least info", incident.Filter{Severity: sev(incident.SeverityInfo)}, []string{"E", "D", "C", "B", "A"}},
		{"namespace", incident.Filter{Namespace: "shop"}, []string{"C", "B", "A"}},
		{"rule seen first", incident.Filter{Rule: shell}, []string{"E", "C", "A"}},
		{"rule seen later", incident.Filter{Rule: netcat}, []string{"E", "B"}},
		{"cluster", incident.Filter{Cluster: "staging"}, []string{"C"}},
		{"since", incident.Filter{Since: t0.Add(2 * hour)}, []string{"E", "D", "C"}},
		{"combined", incident.Filter{Cluster: "prod", Rule: shell, States: []incident.State{incident.StateOpen}}, []string{"A"}},
		{"nothing matches", incident.Filter{Namespace: "nope"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.List(t.Context(), tc.f)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			var gotNames []string
			for _, in := range got {
				gotNames = append(gotNames, names[in.ID])
			}
			if diff := cmp.Diff(tc.want, gotNames); diff != "" {
				t.Errorf("List(%+v) (-want +got):\n%s", tc.f, diff)
			}
		})
	}

	// Changed since: a note on A, after everything else.
	mark := time.Now()
	var a int64
	for id, n := range names {
		if n == "A" {
			a = id
		}
	}
	if _, err := s.Append(t.Context(), a, incident.Entry{Time: time.Now(), Type: incident.EntryNote, Actor: "t", Summary: "n"}); err != nil {
		t.Fatal(err)
	}
	changed, err := s.List(t.Context(), incident.Filter{UpdatedSince: mark})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(changed) != 1 || changed[0].ID != a {
		t.Errorf("updated since the note: %d incidents, want A alone", len(changed))
	}

	// List returns the same incidents as Get.
	all, err := s.List(t.Context(), incident.Filter{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, in := range all {
		if diff := cmp.Diff(get(t, s, in.ID), &in); diff != "" {
			t.Errorf("List and Get differ for %s (-get +list):\n%s", names[in.ID], diff)
		}
	}
}

func testListPagination(t *testing.T, open Opener) {
	s := openStore(t, open)
	var ids []int64 // newest first
	for i := range 7 {
		id := ingest(t, s, alert(shell, "Notice", time.Duration(i)*time.Minute, node(fmt.Sprintf("worker-%d", i)), "x"))[0].IncidentID
		ids = append([]int64{id}, ids...)
	}
	tests := []struct {
		name string
		f    incident.Filter
		want []int64
	}{
		{"default limit", incident.Filter{}, ids},
		{"first page", incident.Filter{Limit: 3}, ids[:3]},
		{"second page", incident.Filter{Limit: 3, AfterID: ids[2]}, ids[3:6]},
		{"last page", incident.Filter{Limit: 3, AfterID: ids[5]}, ids[6:]},
		{"past the end", incident.Filter{Limit: 3, AfterID: ids[6]}, nil},
		{"large limit", incident.Filter{Limit: 100000}, ids},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.List(t.Context(), tc.f)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			var gotIDs []int64
			for _, in := range got {
				gotIDs = append(gotIDs, in.ID)
			}
			if diff := cmp.Diff(tc.want, gotIDs); diff != "" {
				t.Errorf("List(%+v) IDs (-want +got):\n%s", tc.f, diff)
			}
		})
	}
}
