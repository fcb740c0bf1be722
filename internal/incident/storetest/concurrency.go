package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/incident"
)

func testConcurrentIngest(t *testing.T, open Opener) {
	s := openStore(t, open)
	const (
		workers = 4
		batches = 8
		size    = 50
		targets = 5
		outputs = 37 // distinct outputs per target, so many alerts are duplicates
	)
	target := func(i int) incident.Target { return node(fmt.Sprintf("worker-%d", i)) }

	// Every batch touches every target, so concurrent batches contend.
	distinct := map[string]map[string]bool{} // key -> outputs
	var all [][]incident.Alert
	for w := range workers {
		for b := range batches {
			var batch []incident.Alert
			for i := range size {
				n := (w*batches+b)*size + i
				tg := target(n % targets)
				out := fmt.Sprintf("output %d", n%outputs)
				batch = append(batch, alert(shell, "Warning", time.Duration(n)*time.Millisecond, tg, out))
				if distinct[tg.Key()] == nil {
					distinct[tg.Key()] = map[string]bool{}
				}
				distinct[tg.Key()][out] = true
			}
			all = append(all, batch)
		}
	}

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		dups   int
		errs   []error
		work   = make(chan []incident.Alert)
		logErr = func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	)
	for range workers {
		wg.Go(func() {
			for batch := range work {
				res, err := s.Ingest(t.Context(), batch, window)
				if err != nil {
					logErr(err)
					continue
				}
				mu.Lock()
				for _, r := range res {
					if r.Deduplicated {
						dups++
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, b := range all {
		work <- b
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("Ingest errors: %v", errs)
	}

	got, err := s.List(t.Context(), incident.Filter{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	wantCounts := map[string][2]int{}
	for key, outs := range distinct {
		wantCounts[key] = [2]int{len(outs), workers * batches * size / targets}
	}
	gotCounts := map[string][2]int{}
	totalDedups := 0
	for _, in := range got {
		if _, dup := gotCounts[in.Key]; dup {
			t.Errorf("two incidents for %s", in.Key)
		}
		gotCounts[in.Key] = [2]int{in.AlertCount, in.AlertCount + in.DedupCount}
		totalDedups += in.DedupCount
		if n := len(timeline(t, s, in.ID)); n != in.AlertCount {
			t.Errorf("%s: %d timeline entries, AlertCount %d", in.Key, n, in.AlertCount)
		}
	}
	if diff := cmp.Diff(wantCounts, gotCounts); diff != "" {
		t.Errorf("per target [recorded, recorded+deduplicated] (-want +got):\n%s", diff)
	}
	if totalDedups != dups {
		t.Errorf("incidents count %d duplicates, results said %d", totalDedups, dups)
	}
}

func testDurability(t *testing.T, open Opener) {
	s := open(t)
	closed := false
	t.Cleanup(func() {
		if !closed {
			s.Close()
		}
	})
	id := ingest(t, s, alert(shell, "Notice", 0, web("web-1"), "a"), alert(netcat, "Error", time.Second, web("web-2"), "b"))[0].IncidentID
	if _, err := s.Append(t.Context(), id, incident.Entry{Type: incident.EntryNote, Actor: "alice", Summary: "n"}); err != nil {
		t.Fatalf("Append: %v", err)
	}
	transition(t, s, id, incident.StateActing)
	if _, err := s.Once(t.Context(), "k"); err != nil {
		t.Fatalf("Once: %v", err)
	}
	before, entries := get(t, s, id), timeline(t, s, id)
	closed = true
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2 := openStore(t, open)
	if diff := cmp.Diff(before, get(t, s2, id)); diff != "" {
		t.Errorf("incident after reopening (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(entries, timeline(t, s2, id), jsonEqual); diff != "" {
		t.Errorf("timeline after reopening (-before +after):\n%s", diff)
	}
	if isNew, err := s2.Once(t.Context(), "k"); err != nil || isNew {
		t.Errorf("Once after reopening = %v, %v; want false, nil", isNew, err)
	}
	// Correlation state survives too: an identical alert is a duplicate.
	r := ingest(t, s2, alert(shell, "Notice", time.Minute, web("web-1"), "a"))[0]
	if r.IncidentID != id || !r.Deduplicated {
		t.Errorf("identical alert after reopening: %+v, want deduplicated into %d", r, id)
	}
}
