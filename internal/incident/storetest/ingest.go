package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
)

// result is an IngestResult with the incident named by its order of
// appearance (0, 1, ...) instead of its ID.
type result struct {
	Incident int
	New      bool
	Dup      bool
}

const (
	shell  = "Terminal shell in container"
	netcat = "Launch Suspicious Network Tool in Container"
)

func testIngestCorrelation(t *testing.T, open Opener) {
	mins := func(n int) time.Duration { return time.Duration(n) * time.Minute }
	a1 := alert(shell, "Notice", 0, web("web-1"), "shell in web-1")
	tests := []struct {
		name    string
		batches [][]incident.Alert
		want    []result
		wantInc []incident.Incident
	}{{
		name:    "first alert opens an incident",
		batches: [][]incident.Alert{{a1}},
		want:    []result{{0, true, false}},
		wantInc: []incident.Incident{{
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 1, FirstSeen: t0, LastSeen: t0,
		}},
	}, {
		name: "same target within window joins and accumulates rules",
		batches: [][]incident.Alert{{a1, alert(netcat, "Warning", mins(5), web("web-1"), "nc")},
			{alert(shell, "Notice", mins(9), web("web-1"), "shell again")}},
		want: []result{{0, true, false}, {0, false, false}, {0, false, false}},
		wantInc: []incident.Incident{{
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityMedium, Target: web("web-1"), Rules: []string{shell, netcat},
			AlertCount: 3, FirstSeen: t0, LastSeen: t0.Add(mins(9)),
		}},
	}, {
		name:    "pods of one workload join",
		batches: [][]incident.Alert{{a1, alert(shell, "Notice", mins(1), web("web-2"), "shell in web-2")}},
		want:    []result{{0, true, false}, {0, false, false}},
		wantInc: []incident.Incident{{
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 2, FirstSeen: t0, LastSeen: t0.Add(mins(1)),
		}},
	}, {
		name:    "different targets open separate incidents",
		batches: [][]incident.Alert{{a1, alert(netcat, "Error", mins(1), db(), "nc"), alert(shell, "Notice", mins(2), web("web-1"), "x")}},
		want:    []result{{0, true, false}, {1, true, false}, {0, false, false}},
		wantInc: []incident.Incident{{
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 2, FirstSeen: t0, LastSeen: t0.Add(mins(2)),
		}, {
			Key: db().Key(), Title: netcat + " on StatefulSet shop/db", State: incident.StateOpen,
			Severity: incident.SeverityHigh, Target: db(), Rules: []string{netcat},
			AlertCount: 1, FirstSeen: t0.Add(mins(1)), LastSeen: t0.Add(mins(1)),
		}},
	}, {
		name:    "identical alert in one batch is deduplicated",
		batches: [][]incident.Alert{{a1, alert(shell, "Notice", mins(1), web("web-1"), "shell in web-1")}},
		want:    []result{{0, true, false}, {0, false, true}},
		wantInc: []incident.Incident{{
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 1, DedupCount: 1, FirstSeen: t0, LastSeen: t0.Add(mins(1)),
		}},
	}, {
		name: "identical alert in later batches is deduplicated",
		batches: [][]incident.Alert{{a1}, {alert(shell, "Notice", mins(2), web("web-1"), "shell in web-1")},
			{alert(shell, "Notice", mins(3), web("web-1"), "shell in web-1")}},
		want: []result{{0, true, false}, {0, false, true}, {0, false, true}},
		wantInc: []incident.Incident{{
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 1, DedupCount: 2, FirstSeen: t0, LastSeen: t0.Add(mins(3)),
		}},
	}, {
		name:    "same output from another pod is recorded",
		batches: [][]incident.Alert{{a1}, {alert(shell, "Notice", mins(1), web("web-2"), "shell in web-1")}},
		want:    []result{{0, true, false}, {0, false, false}},
		wantInc: []incident.Incident{{
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 2, FirstSeen: t0, LastSeen: t0.Add(mins(1)),
		}},
	}, {
		name:    "window expiry opens a new incident",
		batches: [][]incident.Alert{{a1}, {alert(shell, "Notice", mins(11), web("web-1"), "shell in web-1")}},
		want:    []result{{0, true, false}, {1, true, false}},
		wantInc: []incident.Incident{{
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 1, FirstSeen: t0, LastSeen: t0,
		}, {
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 1, FirstSeen: t0.Add(mins(11)), LastSeen: t0.Add(mins(11)),
		}},
	}, {
		name:    "window expiry within one batch opens a new incident",
		batches: [][]incident.Alert{{a1, alert(shell, "Notice", mins(20), web("web-1"), "later")}},
		want:    []result{{0, true, false}, {1, true, false}},
		wantInc: []incident.Incident{{
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 1, FirstSeen: t0, LastSeen: t0,
		}, {
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 1, FirstSeen: t0.Add(mins(20)), LastSeen: t0.Add(mins(20)),
		}},
	}, {
		name: "alerts chained within the window keep one incident",
		batches: [][]incident.Alert{{a1}, {alert(shell, "Notice", mins(10), web("web-1"), "b")},
			{alert(shell, "Notice", mins(19), web("web-1"), "c")}},
		want: []result{{0, true, false}, {0, false, false}, {0, false, false}},
		wantInc: []incident.Incident{{
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 3, FirstSeen: t0, LastSeen: t0.Add(mins(19)),
		}},
	}, {
		name:    "late alert within the window joins",
		batches: [][]incident.Alert{{a1, alert(shell, "Notice", mins(8), web("web-1"), "b")}, {alert(shell, "Notice", -mins(5), web("web-1"), "early")}},
		want:    []result{{0, true, false}, {0, false, false}, {0, false, false}},
		wantInc: []incident.Incident{{
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 3, FirstSeen: t0.Add(-mins(5)), LastSeen: t0.Add(mins(8)),
		}},
	}, {
		name: "late alert joins the older incident it belongs to",
		batches: [][]incident.Alert{{a1}, {alert(shell, "Notice", mins(30), web("web-1"), "b")},
			{alert(shell, "Notice", mins(3), web("web-1"), "late")}},
		want: []result{{0, true, false}, {1, true, false}, {0, false, false}},
		wantInc: []incident.Incident{{
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 2, FirstSeen: t0, LastSeen: t0.Add(mins(3)),
		}, {
			Key: web("").Key(), Title: shell + " on Deployment shop/web", State: incident.StateOpen,
			Severity: incident.SeverityLow, Target: web("web-1"), Rules: []string{shell},
			AlertCount: 1, FirstSeen: t0.Add(mins(30)), LastSeen: t0.Add(mins(30)),
		}},
	}, {
		name: "severity rises to the highest priority and never falls",
		batches: [][]incident.Alert{{alert("A", "Notice", 0, node("worker-1"), "a")},
			{alert("B", "Error", mins(1), node("worker-1"), "b"), alert("C", "Warning", mins(2), node("worker-1"), "c")},
			{alert("D", "Emergency", mins(3), node("worker-1"), "d"), alert("E", "debug", mins(4), node("worker-1"), "e")}},
		want: []result{{0, true, false}, {0, false, false}, {0, false, false}, {0, false, false}, {0, false, false}},
		wantInc: []incident.Incident{{
			Key: node("worker-1").Key(), Title: "A on node worker-1", State: incident.StateOpen,
			Severity: incident.SeverityCritical, Target: node("worker-1"), Rules: []string{"A", "B", "C", "D", "E"},
			AlertCount: 5, FirstSeen: t0, LastSeen: t0.Add(mins(4)),
		}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, open)
			var (
				got []result
				ids []int64
			)
			ordinal := map[int64]int{}
			for _, b := range tc.batches {
				for _, r := range ingest(t, s, b...) {
					n, ok := ordinal[r.IncidentID]
					if !ok {
						n = len(ids)
						ordinal[r.IncidentID] = n
						ids = append(ids, r.IncidentID)
					}
					got = append(got, result{n, r.NewIncident, r.Deduplicated})
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			var gotInc []incident.Incident
			for _, id := range ids {
				gotInc = append(gotInc, *get(t, s, id))
			}
			if diff := cmp.Diff(tc.wantInc, gotInc, ignoreBookkeeping); diff != "" {
				t.Errorf("incidents (-want +got):\n%s", diff)
			}
			for i, in := range gotInc {
				var alerts int
				for _, e := range timeline(t, s, in.ID) {
					if e.Type == incident.EntryAlert {
						alerts++
					}
				}
				if alerts != in.AlertCount {
					t.Errorf("incident %d: %d alert entries, AlertCount %d", i, alerts, in.AlertCount)
				}
			}
		})
	}
}

func testIngestEmpty(t *testing.T, open Opener) {
	s := openStore(t, open)
	res, err := s.Ingest(t.Context(), nil, window)
	if err != nil || len(res) != 0 {
		t.Errorf("Ingest(nil) = %v, %v; want no results, no error", res, err)
	}
}

func testFinalNotJoined(t *testing.T, open Opener) {
	tests := []struct {
		state incident.State
		join  bool
	}{
		{incident.StateActing, true},
		{incident.StateContained, true},
		{incident.StateFailed, true},
		{incident.StateResolved, false},
		{incident.StateFalsePositive, false},
	}
	for _, tc := range tests {
		t.Run(string(tc.state), func(t *testing.T) {
			s := openStore(t, open)
			first := ingest(t, s, alert(shell, "Notice", 0, web("web-1"), "a"))[0]
			transition(t, s, first.IncidentID, tc.state)
			next := ingest(t, s, alert(shell, "Notice", time.Minute, web("web-1"), "b"))[0]
			if joined := next.IncidentID == first.IncidentID; joined != tc.join || next.NewIncident == tc.join {
				t.Errorf("after %s: second alert result %+v (first incident %d), want joined=%v", tc.state, next, first.IncidentID, tc.join)
			}
			if got := get(t, s, first.IncidentID); got.State != tc.state {
				t.Errorf("first incident state %s, want %s", got.State, tc.state)
			}
		})
	}
}
