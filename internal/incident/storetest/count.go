package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
)

func testCountByState(t *testing.T, open Opener) {
	s := openStore(t, open)
	got, err := s.CountByState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("empty store counts %v", got)
	}
	var ids []int64
	for _, pod := range []string{"a", "b", "c"} {
		res, err := s.Ingest(t.Context(), []incident.Alert{{Source: "test", Rule: "r", Priority: "Warning", Time: t0,
			Target: incident.Target{Cluster: "c", Kind: incident.TargetPod, Namespace: "n", Name: pod, Pod: pod}}}, window)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res[0].IncidentID)
	}
	if _, err := s.Transition(t.Context(), ids[0], incident.StateResolved, incident.Entry{Time: t0, Type: incident.EntryState, Actor: "t", Summary: "done"}); err != nil {
		t.Fatal(err)
	}
	got, err = s.CountByState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[incident.State]int{incident.StateOpen: 2, incident.StateResolved: 1}, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}
