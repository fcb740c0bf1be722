package sqlstore

import (
	"context"
	"database/sql"
	"time"
)

// checkpointEvery is the least time between two background checkpoints.
const checkpointEvery = 200 * time.Millisecond

// checkpointer copies a SQLite WAL back into the database file on its own
// connection, so commits do not pay for it. The writer keeps a high
// wal_autocheckpoint as a backstop should this fall behind.
type checkpointer struct {
	db   *sql.DB
	kick chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

func startCheckpointer(db *sql.DB) *checkpointer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		// PASSIVE waits for no one. A failure (say, another process is
		// checkpointing) loses nothing: the next round or the writer's
		// own autocheckpoint does the work.
		c.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
		select {
		case <-ctx.Done():
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// written tells the checkpointer a transaction committed.
func (c *checkpointer) written() {
	if c == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	if c == nil {
		return nil
	}
	c.stop()
	<-c.done
	return c.db.Close()
}
