package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHealthTransitions feeds a cluster's probe a sequence of outcomes:
// up follows the last one, each change is logged once, and each change to
// up (the first success included) signals backUp once.
func TestHealthTransitions(t *testing.T) {
	down := errors.New("connection refused")
	outcomes := []error{down, down, nil, nil, down, down, nil}
	wantUp := []bool{false, false, true, true, false, false, true}
	wantSignal := []bool{false, false, true, false, false, false, true}
	var logs bytes.Buffer
	i := 0
	h := newHealth("a", func(context.Context) error { return outcomes[i] }, slog.New(slog.NewTextHandler(&logs, nil)))
	if h.Up() {
		t.Fatal("up before any probe")
	}
	for i = range outcomes {
		h.check(t.Context())
		signalled := false
		select {
		case <-h.backUp:
			signalled = true
		default:
		}
		if h.Up() != wantUp[i] || signalled != wantSignal[i] {
			t.Errorf("after outcome %d (%v): up %v signalled %v, want %v %v", i, outcomes[i], h.Up(), signalled, wantUp[i], wantSignal[i])
		}
	}
	var msgs []string
	for line := range strings.Lines(logs.String()) {
		_, msg, _ := strings.Cut(line, "msg=")
		msg, _, _ = strings.Cut(msg, " cluster=")
		msgs = append(msgs, strings.Trim(msg, `"`))
	}
	want := []string{
		"cluster unreachable: its alerts are recorded, nothing is acted on until it answers",
		"cluster reachable",
		"cluster unreachable: its alerts are recorded, nothing is acted on until it answers",
		"cluster reachable again",
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}

	// A probe cut short by the server stopping says nothing.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	h.probe = func(context.Context) error { return context.Canceled }
	h.check(ctx)
	if !h.Up() {
		t.Error("a probe cancelled by the stop marked the cluster down")
	}
}
