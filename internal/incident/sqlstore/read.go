package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"quell.dev/quell/internal/incident"
)

const incidentCols = "id, key, title, state, severity, target, rules, alert_count, dedup_count, first_seen, last_seen, created_at, updated_at"

const entryCols = "id, incident_id, at, type, actor, summary, data"

// Filter limits.
const (
	defaultLimit = 50
	maxLimit     = 500
)

// minTime and maxTime bound the times a Store keeps (Unix nanoseconds
// in an int64).
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// nanos converts t for storage.
func nanos(t time.Time) (int64, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, fmt.Errorf("time %s out of range (years 1678 to 2262)", t.Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

type scanner interface{ Scan(dest ...any) error }

func scanIncident(row scanner) (*incident.Incident, error) {
	var (
		in                                    incident.Incident
		state, target, rules                  string
		sev                                   int64
		first, last, created, updated, alerts int64
		dedups                                int64
	)
	if err := row.Scan(&in.ID, &in.Key, &in.Title, &state, &sev, &target, &rules, &alerts, &dedups, &first, &last, &created, &updated); err != nil {
		return nil, err
	}
	in.State = incident.State(state)
	if !in.State.Valid() {
		return nil, fmt.Errorf("incident %d: unknown state %q in database", in.ID, state)
	}
	in.Severity = incident.Severity(sev)
	if sev < int64(incident.SeverityInfo) || sev > int64(incident.SeverityCritical) {
		return nil, fmt.Errorf("incident %d: unknown severity %d in database", in.ID, sev)
	}
	if err := json.Unmarshal([]byte(target), &in.Target); err != nil {
		return nil, fmt.Errorf("incident %d: decode target: %w", in.ID, err)
	}
	if err := json.Unmarshal([]byte(rules), &in.Rules); err != nil {
		return nil, fmt.Errorf("incident %d: decode rules: %w", in.ID, err)
	}
	in.AlertCount, in.DedupCount = int(alerts), int(dedups)
	in.FirstSeen, in.LastSeen = fromNanos(first), fromNanos(last)
	in.CreatedAt, in.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &in, nil
}

func scanEntry(row scanner) (incident.Entry, error) {
	var (
		e    incident.Entry
		at   int64
		typ  string
		data sql.NullString
	)
	if err := row.Scan(&e.ID, &e.IncidentID, &at, &typ, &e.Actor, &e.Summary, &data); err != nil {
		return e, err
	}
	e.Time = fromNanos(at)
	e.Type = incident.EntryType(typ)
	if data.Valid && data.String != "" {
		e.Data = json.RawMessage(data.String)
	}
	return e, nil
}

// Get returns the incident with id, or an error wrapping
// incident.ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (*incident.Incident, error) {
	in, err := getIncident(ctx, s.r, s.q.get, id)
	if err != nil {
		return nil, fmt.Errorf("get incident %d: %w", id, err)
	}
	return in, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func getIncident(ctx context.Context, db queryer, query string, id int64) (*incident.Incident, error) {
	in, err := scanIncident(db.QueryRowContext(ctx, query, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, incident.ErrNotFound
	}
	return in, err
}

// List returns the incidents matching f, newest (highest ID) first.
func (s *Store) List(ctx context.Context, f incident.Filter) ([]incident.Incident, error) {
	query, args, err := s.listQuery(f)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	defer rows.Close()
	out := []incident.Incident{}
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("list incidents: %w", err)
		}
		out = append(out, *in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return out, nil
}

func (s *Store) listQuery(f incident.Filter) (string, []any, error) {
	var (
		where []string
		args  []any
	)
	if len(f.States) > 0 {
		marks := make([]string, len(f.States))
		for i, st := range f.States {
			if !st.Valid() {
				return "", nil, fmt.Errorf("unknown state %q", st)
			}
			marks[i] = "?"
			args = append(args, string(st))
		}
		where = append(where, "state IN ("+strings.Join(marks, ", ")+")")
	}
	if f.Severity != nil {
		where = append(where, "severity >= ?")
		args = append(args, int64(*f.Severity))
	}
	if f.Namespace != "" {
		where = append(where, "namespace = ?")
		args = append(args, f.Namespace)
	}
	if f.Cluster != "" {
		where = append(where, "cluster = ?")
		args = append(args, f.Cluster)
	}
	if f.Rule != "" {
		where = append(where, "id IN (SELECT incident_id FROM incident_rules WHERE rule = ?)")
		args = append(args, f.Rule)
	}
	if !f.Since.IsZero() {
		n, err := nanos(f.Since)
		if err != nil {
			return "", nil, fmt.Errorf("since: %w", err)
		}
		where = append(where, "last_seen >= ?")
		args = append(args, n)
	}
	if !f.UpdatedSince.IsZero() {
		n, err := nanos(f.UpdatedSince)
		if err != nil {
			return "", nil, fmt.Errorf("updated since: %w", err)
		}
		where = append(where, "updated_at >= ?")
		args = append(args, n)
	}
	if f.AfterID > 0 {
		where = append(where, "id < ?")
		args = append(args, f.AfterID)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = defaultLimit
	case limit > maxLimit:
		limit = maxLimit
	}
	q := "SELECT " + incidentCols + " FROM incidents"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", limit)
	return rebind(s.dialect, q), args, nil
}

// Timeline returns the incident's entries in the order they were recorded.
func (s *Store) Timeline(ctx context.Context, id int64) ([]incident.Entry, error) {
	es, err := s.timeline(ctx, s.r, id)
	if err != nil {
		return nil, fmt.Errorf("timeline of incident %d: %w", id, err)
	}
	return es, nil
}

func (s *Store) timeline(ctx context.Context, db queryer, id int64) ([]incident.Entry, error) {
	rows, err := db.QueryContext(ctx, s.q.timeline, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []incident.Entry{}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) > 0 {
		return out, nil
	}
	// No entries: tell an empty timeline from a missing incident.
	var one int
	err = db.QueryRowContext(ctx, s.q.exists, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, incident.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Export is an incident with its timeline, as Export writes it.
type Export struct {
	Incident incident.Incident `json:"incident"`
	Timeline []incident.Entry  `json:"timeline"`
}

// Export returns the incident with id and its whole timeline as one
// indented JSON document (an Export), read in one consistent snapshot.
func (s *Store) Export(ctx context.Context, id int64) ([]byte, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: s.snapshotIsolation()})
	if err != nil {
		return nil, fmt.Errorf("export incident %d: begin: %w", id, err)
	}
	defer tx.Rollback()
	in, err := getIncident(ctx, tx, s.q.get, id)
	if err != nil {
		return nil, fmt.Errorf("export incident %d: %w", id, err)
	}
	es, err := s.timeline(ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("export incident %d: %w", id, err)
	}
	b, err := json.MarshalIndent(Export{Incident: *in, Timeline: es}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("export incident %d: encode: %w", id, err)
	}
	return b, nil
}

// snapshotIsolation is the isolation level that makes a read-only
// transaction see one snapshot. SQLite read transactions always do; the
// driver accepts only the default level.
func (s *Store) snapshotIsolation() sql.IsolationLevel {
	if s.dialect == postgres {
		return sql.LevelRepeatableRead
	}
	return sql.LevelDefault
}
