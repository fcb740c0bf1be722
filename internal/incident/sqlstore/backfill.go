package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"quell.dev/quell/internal/incident"
)

// fixup returns the step, if any, that runs in Go right after migration
// version v, in the same transaction.
func fixup(v int) func(ctx context.Context, tx *sql.Tx, d dialect) error {
	if v == 2 {
		return backfillEntryDedup
	}
	return nil
}

// backfillEntryDedup sets entries.dedup of the alert entries recorded
// before migration 2, one incident at a time: an alert entry gets its
// dedup key hash if dedup_keys holds that hash for its incident and no
// earlier entry of the incident took it. Entries whose data does not decode
// as an alert keep NULL.
func backfillEntryDedup(ctx context.Context, tx *sql.Tx, d dialect) error {
	ids, err := collectInt64(ctx, tx, "SELECT DISTINCT incident_id FROM dedup_keys ORDER BY incident_id")
	if err != nil {
		return fmt.Errorf("backfill entry dedup: %w", err)
	}
	for _, id := range ids {
		if err := backfillIncidentDedup(ctx, tx, d, id); err != nil {
			return fmt.Errorf("backfill entry dedup of incident %d: %w", id, err)
		}
	}
	return nil
}

func backfillIncidentDedup(ctx context.Context, tx *sql.Tx, d dialect, id int64) error {
	hashes, err := collectInt64(ctx, tx, rebind(d, "SELECT hash FROM dedup_keys WHERE incident_id = ?"), id)
	if err != nil {
		return err
	}
	unused := make(map[dedupHash]bool, len(hashes))
	for _, h := range hashes {
		unused[dedupHash(h)] = true
	}
	type entry struct {
		id   int64
		hash dedupHash
	}
	var todo []entry
	rows, err := tx.QueryContext(ctx, rebind(d, "SELECT id, data FROM entries WHERE incident_id = ? AND type = ? AND data IS NOT NULL ORDER BY id"),
		id, string(incident.EntryAlert))
	if err != nil {
		return fmt.Errorf("read alert entries: %w", err)
	}
	for rows.Next() {
		var (
			eid  int64
			data string
			a    incident.Alert
		)
		if err := rows.Scan(&eid, &data); err != nil {
			rows.Close()
			return fmt.Errorf("read alert entries: %w", err)
		}
		if json.Unmarshal([]byte(data), &a) != nil {
			continue
		}
		if h := sha(a.DedupKey()); unused[h] {
			unused[h] = false
			todo = append(todo, entry{eid, h})
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("read alert entries: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read alert entries: %w", err)
	}
	set := rebind(d, "UPDATE entries SET dedup = ? WHERE id = ?")
	for _, e := range todo {
		if _, err := tx.ExecContext(ctx, set, int64(e.hash), e.id); err != nil {
			return fmt.Errorf("set dedup of entry %d: %w", e.id, err)
		}
	}
	return nil
}

// collectInt64 runs a query of one integer column and returns its values.
func collectInt64(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
