package server

import (
	"context"
	"time"
)

// retain deletes closed incidents last seen more than keep ago, checking
// every keep/10 (at most hourly), until ctx is done.
func (s *Server) retain(ctx context.Context, keep time.Duration) {
	every := min(keep/10, time.Hour)
	every = max(every, time.Second)
	for {
		n, err := s.opts.Store.DeleteBefore(ctx, time.Now().Add(-keep))
		if err != nil && ctx.Err() == nil {
			s.log.Warn("retention sweep failed", "err", err)
		} else if n > 0 {
			s.log.Info("retention sweep", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
