package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
)

// maxGroup bounds the writes one SQLite transaction commits together.
const maxGroup = 256

// groupCommit gathers concurrent SQLite writes into shared transactions:
// one fsync for all of them instead of one each. The first writer to
// arrive while none commits leads: it commits everything pending (its own
// write included), and a successor picks up what arrived meanwhile. Each
// write runs inside its own savepoint, so one that fails is rolled back
// alone and the others still commit.
type groupCommit struct {
	mu      sync.Mutex
	pending []*writeReq
	leading bool
	commits atomic.Int64 // transactions committed, for tests
}

type writeReq struct {
	ctx       context.Context
	f         func(tx *sql.Tx) error
	committed func()
	err       error
	done      chan struct{}
}

// groupWrite runs f as part of a group commit and waits for the commit.
func (s *Store) groupWrite(ctx context.Context, f func(tx *sql.Tx) error, committed func()) error {
	req := &writeReq{ctx: ctx, f: f, committed: committed, done: make(chan struct{})}
	g := &s.group
	g.mu.Lock()
	g.pending = append(g.pending, req)
	if !g.leading {
		g.leading = true
		g.mu.Unlock()
		s.lead()
	} else {
		g.mu.Unlock()
	}
	<-req.done
	return req.err
}

// lead commits one group, then hands what is pending to a successor.
func (s *Store) lead() {
	g := &s.group
	g.mu.Lock()
	n := min(len(g.pending), maxGroup)
	batch := g.pending[:n:n]
	g.pending = g.pending[n:]
	g.mu.Unlock()

	s.commitGroup(batch)

	g.mu.Lock()
	if len(g.pending) == 0 {
		g.leading = false
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	go s.lead()
}

// commitGroup runs batch in one transaction. A write's committed hook runs
// right after its statements, under wmu, so the next write of the group
// sees the head cache as if the previous one had committed alone; a failed
// commit clears the cache, which then holds nothing the database lacks.
func (s *Store) commitGroup(batch []*writeReq) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	finish := func(err error) {
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
			close(r.done)
		}
	}
	tx, err := s.w.BeginTx(context.Background(), nil) // the group outlives any one caller's ctx
	if err != nil {
		finish(fmt.Errorf("begin: %w", err))
		return
	}
	ok := 0
	for _, r := range batch {
		if r.err = r.ctx.Err(); r.err != nil {
			continue
		}
		if r.err = savepoint(tx, r); r.err != nil {
			s.cache.clear() // its hook did not run; earlier hooks' state stays valid
			continue
		}
		if r.committed != nil {
			r.committed()
		}
		ok++
	}
	if ok == 0 {
		tx.Rollback()
		finish(nil)
		return
	}
	if err := tx.Commit(); err != nil {
		s.cache.clear()
		for _, r := range batch {
			if r.err == nil {
				r.err = fmt.Errorf("commit: %w", err)
			}
		}
		finish(nil)
		return
	}
	s.ckpt.written()
	s.group.commits.Add(1)
	finish(nil)
}

// savepoint runs r.f inside a savepoint, rolling back to it on failure.
func savepoint(tx *sql.Tx, r *writeReq) error {
	if _, err := tx.ExecContext(r.ctx, "SAVEPOINT w"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := r.f(tx); err != nil {
		if _, rerr := tx.Exec("ROLLBACK TO w"); rerr != nil {
			return fmt.Errorf("%w (and rolling back: %v)", err, rerr)
		}
		tx.Exec("RELEASE w")
		return err
	}
	if _, err := tx.ExecContext(r.ctx, "RELEASE w"); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}
