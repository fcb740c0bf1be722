package sqlstore

import (
	"context"
	"fmt"

	"quell.dev/quell/internal/incident"
)

// CountByState implements incident.Store.
func (s *Store) CountByState(ctx context.Context) (map[incident.State]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM incidents GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count incidents: %w", err)
	}
	defer rows.Close()
	out := map[incident.State]int{}
	for rows.Next() {
		var (
			st string
			n  int
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count incidents: %w", err)
		}
		if !incident.State(st).Valid() {
			return nil, fmt.Errorf("count incidents: unknown state %q in database", st)
		}
		out[incident.State(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count incidents: %w", err)
	}
	return out, nil
}
