package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"quell.dev/quell/internal/incident"
)

// streamOverlap is how far back each poll of the stream looks again: a
// write stamped just before the previous poll may commit after it.
const streamOverlap = 2 * time.Second

// handleStream serves server-sent events: an "incident" event with the
// incident (as GET /v1/incidents/{id} has it, without the timeline)
// whenever one is created or changes (an alert, a timeline entry, a
// transition), and a comment every 15 s to keep proxies from closing an
// idle stream. The store is polled every StreamInterval; each change is
// sent once.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	interval := s.opts.StreamInterval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	sent := map[int64]time.Time{} // incident -> updated_at sent
	since := time.Now()
	lastWrite := time.Time{}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second)) // the server's write timeout would end the stream
		next := time.Now()
		list, err := s.opts.Store.List(r.Context(), incident.Filter{UpdatedSince: since.Add(-streamOverlap), Limit: 500})
		if err != nil {
			if r.Context().Err() == nil {
				s.log.Warn("stream: list incidents", "err", err)
			}
			return
		}
		since = next
		slices.Reverse(list) // oldest first
		for _, inc := range list {
			if at, ok := sent[inc.ID]; ok && !inc.UpdatedAt.After(at) {
				continue
			}
			b, err := json.Marshal(inc)
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "event: incident\nid: %d\ndata: %s\n\n", inc.ID, b); err != nil {
				return
			}
			sent[inc.ID], lastWrite = inc.UpdatedAt, time.Now()
		}
		if time.Since(lastWrite) > 15*time.Second {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			lastWrite = time.Now()
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if len(sent) > 10_000 { // forget old sends: at worst one is sent again
			clear(sent)
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}
