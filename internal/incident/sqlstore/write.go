package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"quell.dev/quell/internal/incident"
)

// Append adds e to the timeline of incident id and returns it with its ID,
// IncidentID and Time (now if zero) set. e.Type is required and e.Data, if
// any, must be valid JSON.
func (s *Store) Append(ctx context.Context, id int64, e incident.Entry) (incident.Entry, error) {
	out, err := s.AppendAll(ctx, id, []incident.Entry{e})
	if err != nil {
		return incident.Entry{}, err
	}
	return out[0], nil
}

// AppendAll adds es in order in one transaction, like Append each.
func (s *Store) AppendAll(ctx context.Context, id int64, es []incident.Entry) ([]incident.Entry, error) {
	out := make([]incident.Entry, len(es))
	for i, e := range es {
		var err error
		if out[i], err = s.prepareEntry(id, e); err != nil {
			return nil, fmt.Errorf("append to incident %d: entry %d: %w", id, i, err)
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.lock(ctx, tx, id); err != nil {
			return err
		}
		for i := range out {
			if err := s.insertEntry(ctx, tx, &out[i]); err != nil {
				return err
			}
		}
		n, _ := nanos(out[len(out)-1].Time) // checked by prepareEntry
		if _, err := tx.ExecContext(ctx, s.q.touch, n, id); err != nil {
			return fmt.Errorf("update incident: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("append to incident %d: %w", id, err)
	}
	return out, nil
}

// Transition moves incident id to state to and records e; see
// incident.Store. An empty e.Type becomes "state", an empty Actor "quell",
// an empty Summary "state FROM -> TO" and a zero Time now. An unknown state
// is a conflict too.
func (s *Store) Transition(ctx context.Context, id int64, to incident.State, e incident.Entry) (*incident.Incident, error) {
	if !to.Valid() {
		return nil, fmt.Errorf("transition incident %d: unknown state %q: %w", id, to, incident.ErrConflict)
	}
	if e.Type == "" {
		e.Type = incident.EntryState
	}
	e, err := s.prepareEntry(id, e)
	if err != nil {
		return nil, fmt.Errorf("transition incident %d: %w", id, err)
	}
	var out *incident.Incident
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		from, err := s.lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if !incident.CanTransition(from, to) {
			return fmt.Errorf("%s to %s is not allowed: %w", from, to, incident.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, s.q.setState, string(to), s.now().UnixNano(), id); err != nil {
			return fmt.Errorf("set state: %w", err)
		}
		if e.Summary == "" {
			e.Summary = fmt.Sprintf("state %s -> %s", from, to)
		}
		if err := s.insertEntry(ctx, tx, &e); err != nil {
			return err
		}
		out, err = getIncident(ctx, tx, s.q.get, id)
		return err
	}, func() {
		// The key's newest non-final incident may have changed.
		s.cache.forget(out.Key)
	})
	if err != nil {
		return nil, fmt.Errorf("transition incident %d: %w", id, err)
	}
	return out, nil
}

// prepareEntry validates e and fills in its defaults.
func (s *Store) prepareEntry(id int64, e incident.Entry) (incident.Entry, error) {
	if e.Type == "" {
		return e, errors.New("entry has no type")
	}
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		return e, errors.New("entry data is not valid JSON")
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	n, err := nanos(e.Time)
	if err != nil {
		return e, fmt.Errorf("entry: %w", err)
	}
	e.Time = fromNanos(n)
	if e.Actor == "" {
		e.Actor = "quell"
	}
	e.ID, e.IncidentID = 0, id
	return e, nil
}

// lock reads an incident's state, locking its row on PostgreSQL (the
// SQLite write transaction already holds the database lock).
func (s *Store) lock(ctx context.Context, tx *sql.Tx, id int64) (incident.State, error) {
	var st string
	err := tx.QueryRowContext(ctx, s.q.lockIncident, id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", incident.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read incident: %w", err)
	}
	if !incident.State(st).Valid() {
		return "", fmt.Errorf("unknown state %q in database", st)
	}
	return incident.State(st), nil
}

func (s *Store) insertEntry(ctx context.Context, tx *sql.Tx, e *incident.Entry) error {
	var data sql.NullString
	if len(e.Data) > 0 {
		data = sql.NullString{String: string(e.Data), Valid: true}
	}
	err := tx.QueryRowContext(ctx, s.q.insertEntry, e.IncidentID, e.Time.UnixNano(), string(e.Type), e.Actor, e.Summary, data).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("insert entry: %w", err)
	}
	return nil
}

// Once records key and reports whether it was new.
func (s *Store) Once(ctx context.Context, key string) (bool, error) {
	if key == "" {
		return false, errors.New("once: empty key")
	}
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.once, key, s.now().UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("once %q: %w", key, err)
	}
	return n == 1, nil
}

// DeleteBefore removes final incidents last seen before t, with their
// timelines, and the Once keys recorded before t. It returns how many
// incidents it removed.
func (s *Store) DeleteBefore(ctx context.Context, t time.Time) (int, error) {
	n, err := nanos(t)
	if err != nil {
		return 0, fmt.Errorf("delete before: %w", err)
	}
	var deleted int64
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		for _, q := range s.q.deleteFinal {
			res, err := tx.ExecContext(ctx, q, n)
			if err != nil {
				return err
			}
			if deleted, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q.deleteOnce, n)
		return err
	}, s.cache.clear)
	if err != nil {
		return 0, fmt.Errorf("delete before %s: %w", t.Format(time.RFC3339), err)
	}
	return int(deleted), nil
}
