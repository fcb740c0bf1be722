package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migrations are migrations/NNNN_name.sql (both databases) or
// migrations/NNNN_name.sqlite.sql and NNNN_name.postgres.sql (one each),
// each optionally followed by a step in Go (fixup) that needs what SQL
// lacks. Versions only grow; an applied migration is never edited.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the PostgreSQL advisory lock key that serialises
// migrations between processes ("quell" in ASCII, plus 1).
const migrationLock = 0x7175656c6c01

type migration struct {
	version int
	name    string
	sql     string
	// contract: older programs cannot work on the database once it is
	// applied (it drops or renames what they use); see 0004.
	contract bool
}

// contractMark starts the file of a contract migration.
const contractMark = "-- quell:contract"

// minReaderVersion is the migration that adds schema_migrations.min_reader.
const minReaderVersion = 4

// migrations returns d's migrations in version order.
func migrations(d dialect) ([]migration, error) {
	return loadMigrations(migrationFS, "migrations", d)
}

func loadMigrations(fsys fs.FS, dir string, d dialect) ([]migration, error) {
	files, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	byVersion := map[int]migration{}
	for _, f := range files {
		name := strings.TrimSuffix(f.Name(), ".sql")
		if name == f.Name() {
			continue
		}
		base, ok := name, true
		for _, other := range []dialect{sqlite, postgres} {
			if b, found := strings.CutSuffix(name, "."+other.String()); found {
				base, ok = b, other == d
			}
		}
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version number", f.Name())
		}
		if prev, dup := byVersion[v]; dup {
			return nil, fmt.Errorf("migration %s: version %d already used by %s", f.Name(), v, prev.name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, f.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", f.Name(), err)
		}
		byVersion[v] = migration{version: v, name: base, sql: string(b), contract: strings.HasPrefix(string(b), contractMark)}
	}
	out := make([]migration, 0, len(byVersion))
	for _, m := range byVersion {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies the migrations the database lacks, all in one
// transaction. Concurrent openers are serialised by the write lock taken at
// BEGIN (SQLite) or an advisory lock (PostgreSQL).
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations(s.dialect)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return fmt.Errorf("no %s migrations embedded", s.dialect)
	}
	return s.apply(ctx, ms)
}

// apply applies those of ms the database lacks; ms is in version order.
func (s *Store) apply(ctx context.Context, ms []migration) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.dialect == postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT NOT NULL PRIMARY KEY,
	name       TEXT   NOT NULL,
	applied_at BIGINT NOT NULL
)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		minReader := 0
		if current >= minReaderVersion {
			if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(min_reader), 0) FROM schema_migrations").Scan(&minReader); err != nil {
				return fmt.Errorf("read schema min_reader: %w", err)
			}
		}
		if latest := ms[len(ms)-1].version; current > latest {
			// A newer program migrated the database: this one runs on it
			// while no contract migration since made it incompatible.
			if latest < minReader {
				return fmt.Errorf("database schema version %d needs a program that knows schema version %d or later; this one knows up to %d: upgrade it", current, minReader, latest)
			}
			return nil
		}
		for _, m := range ms {
			if m.version <= current {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply %04d_%s: %w", m.version, m.name, err)
			}
			if f := fixup(m.version); f != nil {
				if err := f(ctx, tx, s.dialect); err != nil {
					return fmt.Errorf("apply %04d_%s: %w", m.version, m.name, err)
				}
			}
			insert, args := "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", []any{m.version, m.name, s.now().UnixNano()}
			if m.version >= minReaderVersion {
				if m.contract {
					minReader = m.version - 1
				}
				insert, args = "INSERT INTO schema_migrations (version, name, applied_at, min_reader) VALUES (?, ?, ?, ?)", append(args, minReader)
			}
			if _, err := tx.ExecContext(ctx, rebind(s.dialect, insert), args...); err != nil {
				return fmt.Errorf("record %04d_%s: %w", m.version, m.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
