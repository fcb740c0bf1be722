package sqlstore

import (
	"iter"
	"math/bits"
	"strings"
)

// openStates is the SQL list of non-final states; it must match the
// partial index incidents_open_key.
const openStates = "('open', 'acting', 'contained', 'failed')"

// Rows per multi-row INSERT in Ingest; well under both databases' limits
// on bound parameters.
const (
	entryChunk  = 100
	updateChunk = 100
)

// queries are the fixed statements of a Store, in the dialect's placeholder
// syntax.
type queries struct {
	get, exists, timeline string

	// Ingest.
	head, windowed, insertIncident string
	heads                          string // PostgreSQL only
	insertRule, lockKeys           string
	dedupHashes                    string

	// Writes.
	lockIncident, setState, touch, insertEntry string
	once, deleteOnce                           string
	deleteFinal                                []string
}

func newQueries(d dialect) queries {
	forUpdate := ""
	if d == postgres {
		forUpdate = " FOR NO KEY UPDATE"
	}
	// SQLite would copy every row of the timeline into a sorter; this way
	// it sorts only the ids, then reads the rows in id order.
	timeline := "SELECT " + entryCols + " FROM entries WHERE id IN (SELECT id FROM entries WHERE incident_id = ?) ORDER BY id"
	if d == postgres {
		timeline = "SELECT " + entryCols + " FROM entries WHERE incident_id = ? ORDER BY id"
	}
	final := "SELECT id FROM incidents WHERE state IN ('resolved', 'false-positive') AND last_seen < ?"
	q := queries{
		get:      "SELECT " + incidentCols + " FROM incidents WHERE id = ?",
		exists:   "SELECT 1 FROM incidents WHERE id = ?",
		timeline: timeline,

		head: "SELECT " + ingestCols + " FROM incidents WHERE key = ? AND state IN " + openStates +
			" ORDER BY id DESC LIMIT 1" + forUpdate,
		heads: "SELECT k.key, i.id, i.severity, i.rules, i.alert_count, i.dedup_count, i.first_seen, i.last_seen" +
			" FROM unnest(?::text[]) AS k(key) CROSS JOIN LATERAL (SELECT " + ingestCols + " FROM incidents" +
			" WHERE key = k.key AND state IN " + openStates + " ORDER BY id DESC LIMIT 1" + forUpdate + ") AS i",
		windowed: "SELECT " + ingestCols + " FROM incidents WHERE key = ? AND state IN " + openStates +
			" AND last_seen >= ? AND first_seen <= ? ORDER BY id DESC LIMIT 1" + forUpdate,
		insertIncident: "INSERT INTO incidents (key, title, state, severity, cluster, namespace, target, rules," +
			" alert_count, dedup_count, first_seen, last_seen, created_at, updated_at)" +
			" VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
		insertRule:  "INSERT INTO incident_rules (incident_id, rule) VALUES (?, ?) ON CONFLICT DO NOTHING",
		lockKeys:    "SELECT pg_advisory_xact_lock(k) FROM unnest(?::bigint[]) AS k",
		dedupHashes: "SELECT dedup FROM entries WHERE incident_id = ? AND dedup IS NOT NULL",

		lockIncident: "SELECT state FROM incidents WHERE id = ?" + forUpdate,
		setState:     "UPDATE incidents SET state = ?, updated_at = ? WHERE id = ?",
		touch:        "UPDATE incidents SET updated_at = ? WHERE id = ?",
		insertEntry:  "INSERT INTO entries (incident_id, at, type, actor, summary, data) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
		once:         "INSERT INTO once_keys (key, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
		deleteOnce:   "DELETE FROM once_keys WHERE created_at < ?",
		deleteFinal: []string{
			"DELETE FROM entries WHERE incident_id IN (" + final + ")",
			"DELETE FROM incident_rules WHERE incident_id IN (" + final + ")",
			"DELETE FROM incidents WHERE id IN (" + final + ")",
		},
	}
	for _, p := range []*string{
		&q.get, &q.exists, &q.timeline, &q.head, &q.heads, &q.windowed, &q.insertIncident,
		&q.insertRule, &q.lockKeys, &q.dedupHashes,
		&q.lockIncident, &q.setState, &q.touch, &q.insertEntry, &q.once, &q.deleteOnce,
	} {
		*p = rebind(d, *p)
	}
	for i := range q.deleteFinal {
		q.deleteFinal[i] = rebind(d, q.deleteFinal[i])
	}
	return q
}

// ingestCols are the columns Ingest reads of an existing incident.
const ingestCols = "id, severity, rules, alert_count, dedup_count, first_seen, last_seen"

// insertEntries is a multi-row INSERT of n alert entries with their dedup
// key hashes. With dedup it skips the alerts whose hash the incident
// already has and returns the (incident_id, dedup) of those inserted.
func insertEntries(n int, dedup bool) string {
	q := "INSERT INTO entries (incident_id, at, type, actor, summary, data, dedup) VALUES " + values(n, 7)
	if dedup {
		q += " ON CONFLICT DO NOTHING RETURNING incident_id, dedup"
	}
	return q
}

// updateIncidents is an UPDATE of n incidents' Ingest columns. Its first
// parameter is updated_at, then per incident: id, severity, rules,
// alert_count, dedup_count, first_seen, last_seen. PostgreSQL needs the
// VALUES typed (an untyped parameter there would be text).
func updateIncidents(d dialect, n int) string {
	vals := values(n, 7)
	if d == postgres {
		group := "(?::bigint, ?::bigint, ?::text, ?::bigint, ?::bigint, ?::bigint, ?::bigint)"
		vals = strings.TrimSuffix(strings.Repeat(group+", ", n), ", ")
	}
	return "UPDATE incidents SET severity = v.column2, rules = v.column3, alert_count = v.column4," +
		" dedup_count = v.column5, first_seen = v.column6, last_seen = v.column7, updated_at = ?" +
		" FROM (VALUES " + vals + ") AS v WHERE incidents.id = v.column1"
}

// values is n groups of cols placeholders.
func values(n, cols int) string {
	group := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(group)
	}
	return b.String()
}

// pieces splits rows into runs for multi-row statements: runs of chunk
// rows, then the rest in runs of descending powers of two, so that a
// statement prepared once for each of those sizes (sizes) serves any count.
func pieces[E any](rows []E, chunk int) iter.Seq[[]E] {
	return func(yield func([]E) bool) {
		for len(rows) > 0 {
			n := chunk
			if len(rows) < chunk {
				n = 1 << (bits.Len(uint(len(rows))) - 1)
			}
			if !yield(rows[:n]) {
				return
			}
			rows = rows[n:]
		}
	}
}

// sizes are the run lengths pieces uses for chunk.
func sizes(chunk int) []int {
	out := []int{chunk}
	for p := 1; p < chunk; p *= 2 {
		out = append(out, p)
	}
	return out
}
