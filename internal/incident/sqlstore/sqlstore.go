// Package sqlstore implements incident.Store on database/sql for two
// databases: SQLite (embedded, pure Go, no cgo) and PostgreSQL.
//
// Open takes a DSN: sqlite://PATH (a file, created if missing),
// sqlite://:memory: (a private in-memory database that lives as long as the
// Store; tests and demos only), or postgres://... / postgresql://... (any
// URL pgx accepts). Open applies the embedded, versioned migrations before
// it returns; several processes may open the same database at once.
//
// Durability: every write is one transaction, and once a method returns nil
// the data survives a crash or a power loss. SQLite runs in WAL mode with
// synchronous=FULL, so each commit fsyncs the WAL; NORMAL would only
// survive a process crash, not a power loss. A background goroutine
// checkpoints the WAL into the database file off the commit path. Ingest is meant to be called
// with batches of alerts (group commit), which makes that one fsync per
// batch instead of per alert. PostgreSQL keeps its own durability settings
// (synchronous_commit should stay on in production).
//
// Concurrency: a Store is safe for concurrent use. With SQLite all writes go
// through one connection (SQLite has one writer at a time anyway) and take
// the write lock at BEGIN, while reads use a separate pool that never waits
// for the writer. With PostgreSQL, Ingest takes a transaction-scoped
// advisory lock per target key, so concurrent batches (from this or other
// processes) never open two incidents for the same target, and row locks
// order Ingest with Transition.
//
// Head cache (SQLite only): a Store remembers, per target key, the newest
// non-final incident as it last wrote it (the columns Ingest reads and the
// dedup hashes of its recorded alerts, within fixed bounds), so Ingest
// needs no lookup per key and no dedup round trip for alerts joining such
// an incident. This assumes the Store is the database's only writer, which
// is how quell runs SQLite (one server process). Transition and
// DeleteBefore invalidate it; a write by any other connection (another
// process, or another Store on the same file) changes SQLite's
// data_version, which Ingest checks inside every transaction and which
// empties the cache, so a second writer costs speed, not correctness. The
// cache changes only after a commit, and a failed transaction empties it.
// PostgreSQL is never cached: several servers may share one database.
//
// Correlation: an alert joins the newest non-final incident with its target
// key whose span [FirstSeen-window, LastSeen+window] contains the alert's
// time (so alerts arriving slightly out of order still join); otherwise it
// opens a new incident. A recorded alert's dedup key is stored, as a
// truncated SHA-256 hash, in its timeline entry, under a unique index per
// incident; that one index also serves timeline reads, so a batch dirties
// one index page per incident it touches. An alert with a zero time is taken to happen at ingest time.
// Times are stored as Unix nanoseconds and returned in UTC; times outside
// the years 1678 to 2262 are rejected.
//
// Retention: DeleteBefore removes final incidents last seen before t with
// their timelines (dedup keys included) and rules, and also the Once keys recorded
// before t.
//
// Errors are wrapped with the operation; incident.ErrNotFound and
// incident.ErrConflict are returned (wrapped) as the incident package
// documents.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"quell.dev/quell/internal/incident"
)

// dialect is the database family behind a Store.
type dialect int

const (
	sqlite dialect = iota
	postgres
)

func (d dialect) String() string {
	if d == postgres {
		return "postgres"
	}
	return "sqlite"
}

// Store is an incident.Store on SQLite or PostgreSQL. It is safe for
// concurrent use; Close releases its connections.
type Store struct {
	dialect dialect
	w       *sql.DB // writes (and, for :memory:, reads too)
	r       *sql.DB // reads
	q       queries
	stmts   stmts
	ckpt    *checkpointer // SQLite file databases only
	now     func() time.Time
	// wmu serializes SQLite write transactions with the head cache
	// updates that follow their commits; PostgreSQL uses neither.
	wmu   sync.Mutex
	cache *headCache // SQLite only
	group groupCommit
}

// stmts are the hot statements of Ingest, prepared once on the writer.
// Each is prepared on the writer pool; Tx.StmtContext reuses it on the
// SQLite writer connection (PostgreSQL's driver caches statements per
// connection by itself).
type stmts struct {
	head, windowed, insertIncident, insertRule *sql.Stmt
	dedupHashes                                *sql.Stmt
	dataVersion                                *sql.Stmt // SQLite only
	heads                                      *sql.Stmt // PostgreSQL only
	// Multi-row statements by row count (see pieces).
	entries, entriesDedup sized
	updates               sized
}

// sized is a multi-row statement prepared for each row count in sizes.
type sized map[int]*sql.Stmt

func (s *Store) prepareSized(ctx context.Context, chunk int, build func(n int) string) (sized, error) {
	out := sized{}
	for _, n := range sizes(chunk) {
		q := rebind(s.dialect, build(n))
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			out.close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		out[n] = st
	}
	return out, nil
}

func (z sized) close() error {
	var err error
	for _, st := range z {
		err = errors.Join(err, st.Close())
	}
	return err
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&s.stmts.head, s.q.head},
		{&s.stmts.windowed, s.q.windowed},
		{&s.stmts.insertIncident, s.q.insertIncident},
		{&s.stmts.insertRule, s.q.insertRule},
		{&s.stmts.dedupHashes, s.q.dedupHashes},
		{&s.stmts.dataVersion, "PRAGMA data_version"},
		{&s.stmts.heads, s.q.heads},
	} {
		if p.st == &s.stmts.dataVersion && s.dialect != sqlite || p.st == &s.stmts.heads && s.dialect != postgres {
			continue
		}
		st, err := s.w.PrepareContext(ctx, p.q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.q, err)
		}
		*p.st = st
	}
	var err error
	if s.stmts.entries, err = s.prepareSized(ctx, entryChunk, func(n int) string { return insertEntries(n, false) }); err != nil {
		return err
	}
	if s.stmts.entriesDedup, err = s.prepareSized(ctx, entryChunk, func(n int) string { return insertEntries(n, true) }); err != nil {
		return err
	}
	if s.stmts.updates, err = s.prepareSized(ctx, updateChunk, func(n int) string { return updateIncidents(s.dialect, n) }); err != nil {
		return err
	}
	return nil
}

var _ incident.Store = (*Store)(nil)

// busyTimeout is how long a SQLite connection waits for another writer
// (another process on the same file) before giving up.
const busyTimeout = 10 * time.Second

// Open connects to the database named by dsn and migrates it to the
// current schema.
func Open(ctx context.Context, dsn string) (*Store, error) {
	s, err := open(dsn)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := s.connect(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: connect: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

// connect opens the first write connection. While several processes
// open a new SQLite file at once, setting up the connection (the switch to
// WAL) can fail with SQLITE_BUSY without waiting for the busy timeout;
// connect then tries again, for up to busyTimeout.
func (s *Store) connect(ctx context.Context) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := s.w.PingContext(ctx)
		var se interface{ Code() int }
		if err == nil || s.dialect != sqlite || !errors.As(err, &se) || se.Code()&0xff != sqliteBusy || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sqliteBusy is SQLite's primary result code SQLITE_BUSY.
const sqliteBusy = 5

func open(dsn string) (*Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		return openSQLite(strings.TrimPrefix(dsn, "sqlite://"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(dsn)
	default:
		return nil, fmt.Errorf("unsupported DSN %q: want sqlite://PATH or postgres://...", redact(dsn))
	}
}

func openSQLite(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite DSN has no path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite path %q: '?' and '#' are not allowed", path)
	}
	s := &Store{dialect: sqlite, q: newQueries(sqlite), now: time.Now, cache: newHeadCache()}
	if path == ":memory:" {
		// One connection: every new connection to :memory: is a new,
		// empty database.
		db, err := sql.Open("sqlite", ":memory:?_foreign_keys=1&_txlock=immediate")
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.w, s.r = db, db
		return s, nil
	}
	ms := busyTimeout.Milliseconds()
	w, err := sql.Open("sqlite", fmt.Sprintf("%s?_busy_timeout=%d&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=1&_txlock=immediate&_pragma=temp_store(MEMORY)&_pragma=cache_size(-32768)&_pragma=wal_autocheckpoint(16384)", path, ms))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", fmt.Sprintf("%s?_busy_timeout=%d&_query_only=1", path, ms))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	c, err := sql.Open("sqlite", fmt.Sprintf("%s?_busy_timeout=%d", path, ms))
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	c.SetMaxOpenConns(1)
	s.w, s.r = w, r
	s.ckpt = startCheckpointer(c)
	return s, nil
}

func openPostgres(dsn string) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may quote the DSN, password included.
		return nil, errors.New("invalid postgres DSN")
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &Store{dialect: postgres, w: db, r: db, q: newQueries(postgres), now: time.Now}, nil
}

// redact hides the password of a URL-shaped DSN for error messages.
func redact(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return dsn
	}
	user := dsn[scheme+3 : at]
	if i := strings.Index(user, ":"); i >= 0 {
		user = user[:i] + ":xxxxx"
	}
	return dsn[:scheme+3] + user + dsn[at:]
}

// Close closes the database connections. Calls in flight may fail.
func (s *Store) Close() error {
	var err error
	for _, st := range []*sql.Stmt{s.stmts.head, s.stmts.windowed, s.stmts.insertIncident,
		s.stmts.insertRule, s.stmts.dedupHashes, s.stmts.dataVersion, s.stmts.heads} {
		if st != nil {
			err = errors.Join(err, st.Close())
		}
	}
	err = errors.Join(err, s.stmts.entries.close(), s.stmts.entriesDedup.close(), s.stmts.updates.close())
	err = errors.Join(err, s.ckpt.close(), s.w.Close())
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// rebind turns ? placeholders into $n for PostgreSQL. The queries of this
// package have no ? inside string literals.
func rebind(d dialect, q string) string {
	if d != postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// inTx runs f in a write transaction and commits it.
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	return s.writeTx(ctx, f, nil)
}

// writeTx runs f in a write transaction, commits it and then runs
// committed, if not nil. With SQLite it joins a group commit (see
// groupCommit), under wmu, so that committed sees the head cache in commit
// order; a failed write drops the head cache, as it may have changed it.
func (s *Store) writeTx(ctx context.Context, f func(tx *sql.Tx) error, committed func()) error {
	if s.cache != nil {
		return s.groupWrite(ctx, f, committed)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		s.cache.clear()
		return err
	}
	if err := tx.Commit(); err != nil {
		s.cache.clear()
		return fmt.Errorf("commit: %w", err)
	}
	if committed != nil {
		committed()
	}
	s.ckpt.written()
	return nil
}
