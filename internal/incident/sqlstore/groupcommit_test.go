package sqlstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"quell.dev/quell/internal/incident"
)

// TestGroupCommitIsolatesFailures runs many writes at once on every
// backend — appends, Once keys, and transitions of which half are
// forbidden — and checks that each write's result is its own: the allowed
// ones are stored, the forbidden ones fail with ErrConflict and leave
// nothing, whatever group they were committed with.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := mustOpen(t, b.dsn(t))
			defer s.Close()
			const n = 40
			ids := make([]int64, n)
			for i := range n {
				res, err := s.Ingest(t.Context(), []incident.Alert{{Source: "test", Rule: "r", Priority: "Critical", Time: time.Now(),
					Output: "o", Target: incident.Target{Cluster: "c", Kind: incident.TargetPod, Namespace: "ns", Name: fmt.Sprintf("p%d", i), Pod: fmt.Sprintf("p%d", i)}}}, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				ids[i] = res[0].IncidentID
			}
			before := s.group.commits.Load()
			var wg sync.WaitGroup
			errs := make([]error, n)
			fresh := make([]bool, n)
			for i := range n {
				wg.Go(func() {
					if _, err := s.Append(t.Context(), ids[i], incident.Entry{Type: incident.EntryNote, Summary: "note"}); err != nil {
						t.Error(err)
					}
				})
				wg.Go(func() {
					var err error
					if fresh[i], err = s.Once(t.Context(), fmt.Sprintf("key-%d", i%(n/2))); err != nil {
						t.Error(err)
					}
				})
				wg.Go(func() {
					to := incident.StateActing
					if i%2 == 1 {
						to = incident.StateOpen // open -> open is not a transition
					}
					_, errs[i] = s.Transition(t.Context(), ids[i], to, incident.Entry{})
				})
			}
			wg.Wait()
			if b.name == "sqlite" {
				// 100 successful writes (half the transitions fail); the
				// groups must have shared commits.
				if c := s.group.commits.Load() - before; c >= 100 {
					t.Errorf("%d commits for 100 successful writes: no group shared one", c)
				} else {
					t.Logf("%d commits for 100 successful writes", c)
				}
			}
			newKeys := 0
			for i := range n {
				if fresh[i] {
					newKeys++
				}
				inc, err := s.Get(t.Context(), ids[i])
				if err != nil {
					t.Fatal(err)
				}
				tl, err := s.Timeline(t.Context(), ids[i])
				if err != nil {
					t.Fatal(err)
				}
				states, notes := 0, 0
				for _, e := range tl {
					switch e.Type {
					case incident.EntryState:
						states++
					case incident.EntryNote:
						notes++
					}
				}
				if i%2 == 0 && (errs[i] != nil || inc.State != incident.StateActing || states != 1) {
					t.Errorf("incident %d: transition err %v, state %s, %d state entries; want nil, acting, 1", i, errs[i], inc.State, states)
				}
				if i%2 == 1 && (!errors.Is(errs[i], incident.ErrConflict) || inc.State != incident.StateOpen || states != 0) {
					t.Errorf("incident %d: transition err %v, state %s, %d state entries; want a conflict, open, 0", i, errs[i], inc.State, states)
				}
				if notes != 1 {
					t.Errorf("incident %d: %d notes, want 1", i, notes)
				}
			}
			if newKeys != n/2 {
				t.Errorf("%d Once calls reported a new key, want %d", newKeys, n/2)
			}
		})
	}
}
