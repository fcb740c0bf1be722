package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"time"

	"quell.dev/quell/internal/incident"
)

// dedupHash is a dedup key's hash as stored: the first 64 bits of its
// SHA-256. A collision within one incident (about 1 in 10^7 for an
// incident with a million distinct alerts) would count an alert as a
// duplicate.
type dedupHash int64

// batchInc is an incident touched by one Ingest batch, kept in memory until
// the batch is written.
type batchInc struct {
	id      int64 // 0 for a new incident until it is inserted
	rank    int64 // newer incidents rank higher; new ones above all stored ones
	isNew   bool
	touched bool

	key      string
	title    string
	target   incident.Target
	severity incident.Severity
	rules    []string
	oldRules int // len(rules) as stored
	alerts   int
	dedups   int
	first    int64
	last     int64
	hashes   map[dedupHash]struct{} // dedup keys recorded in this batch
	// known are the dedup keys recorded before this batch, when all are
	// known (SQLite's head cache); nil means ask the database.
	known map[dedupHash]struct{}
}

// matches reports whether an alert at at falls within win of the span.
func (b *batchInc) matches(at, win int64) bool {
	return at >= satAdd(b.first, -win) && at <= satAdd(b.last, win)
}

func (b *batchInc) add(a *incident.Alert, at int64) {
	b.touched = true
	b.severity = max(b.severity, incident.SeverityForPriority(a.Priority))
	if !slices.Contains(b.rules, a.Rule) {
		b.rules = append(b.rules, a.Rule)
	}
	b.first = min(b.first, at)
	b.last = max(b.last, at)
}

// pendingAlert is one alert of a batch, prepared outside the transaction.
type pendingAlert struct {
	key  string
	at   int64
	hash dedupHash
	inc  *batchInc
	new  bool // opened inc
	dup  bool
}

// Ingest records alerts in one transaction; see incident.Store. window
// must be positive.
func (s *Store) Ingest(ctx context.Context, alerts []incident.Alert, window time.Duration) ([]incident.IngestResult, error) {
	if window <= 0 {
		return nil, fmt.Errorf("ingest: window %v must be positive", window)
	}
	if len(alerts) == 0 {
		return []incident.IngestResult{}, nil
	}
	now := s.now()
	nowN, err := nanos(now)
	if err != nil {
		return nil, fmt.Errorf("ingest: clock: %w", err)
	}
	ps := make([]pendingAlert, len(alerts))
	for i := range alerts {
		a := &alerts[i]
		t := a.Time
		if t.IsZero() {
			t = now
		}
		at, err := nanos(t)
		if err != nil {
			return nil, fmt.Errorf("ingest: alert %d: %w", i, err)
		}
		ps[i] = pendingAlert{key: a.Target.Key(), at: at, hash: sha(a.DedupKey())}
	}
	// Encode the alerts for the timeline while the transaction starts and
	// correlates them; dedupStored waits for the result.
	enc := encodeAlerts(alerts, now)
	defer enc.wait()
	var b *batch
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		b, err = s.ingest(ctx, tx, alerts, ps, enc, window.Nanoseconds(), nowN)
		return err
	}, func() {
		if s.cache != nil {
			s.cache.update(b)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	out := make([]incident.IngestResult, len(ps))
	for i, p := range ps {
		out[i] = incident.IngestResult{IncidentID: p.inc.id, NewIncident: p.new, Deduplicated: p.dup}
	}
	return out, nil
}

// batch is the state of one Ingest transaction.
type batch struct {
	s       *Store
	tx      *sql.Tx
	win     int64
	heads   map[string]*batchInc // newest non-final incident per key, nil if none
	byKey   map[string][]*batchInc
	byID    map[int64]*batchInc
	created []*batchInc
	stored  []*batchInc // loaded from the database, in load order
	txStmts map[*sql.Stmt]*sql.Stmt
}

// stmt returns st for use in the batch's transaction.
func (b *batch) stmt(ctx context.Context, st *sql.Stmt) *sql.Stmt {
	t, ok := b.txStmts[st]
	if !ok {
		t = b.tx.StmtContext(ctx, st)
		b.txStmts[st] = t
	}
	return t
}

func (s *Store) ingest(ctx context.Context, tx *sql.Tx, alerts []incident.Alert, ps []pendingAlert, enc *encoding, win, now int64) (*batch, error) {
	if s.dialect == postgres {
		if err := lockKeys(ctx, tx, s.q.lockKeys, ps); err != nil {
			return nil, err
		}
	}
	b := &batch{s: s, tx: tx, win: win,
		heads: map[string]*batchInc{}, byKey: map[string][]*batchInc{}, byID: map[int64]*batchInc{},
		txStmts: map[*sql.Stmt]*sql.Stmt{}}
	if s.cache != nil {
		if err := s.cache.check(ctx, b.stmt(ctx, s.stmts.dataVersion)); err != nil {
			return nil, err
		}
	}

	if s.dialect == postgres {
		if err := b.loadHeads(ctx, ps); err != nil {
			return nil, err
		}
	}

	// Assign every alert to an incident, in order.
	for i := range ps {
		p, a := &ps[i], &alerts[i]
		inc, err := b.find(ctx, p)
		if err != nil {
			return nil, err
		}
		if inc == nil {
			inc = b.open(a, p)
			p.new = true
		}
		p.inc = inc
		inc.add(a, p.at)
		_, dup := inc.hashes[p.hash]
		if !dup && inc.known != nil {
			_, dup = inc.known[p.hash]
		}
		if dup {
			p.dup = true
		} else {
			inc.hashes[p.hash] = struct{}{}
		}
	}

	data, err := enc.wait()
	if err != nil {
		return nil, err
	}
	if err := b.dedupStored(ctx, alerts, ps, data); err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i].dup {
			ps[i].inc.dedups++
		} else {
			ps[i].inc.alerts++
		}
	}
	if err := b.insertIncidents(ctx, now); err != nil {
		return nil, err
	}
	if err := b.insertEntries(ctx, alerts, ps, data); err != nil {
		return nil, err
	}
	return b, b.updateStored(ctx, now)
}

// lockKeys takes PostgreSQL advisory locks on the batch's target keys, in
// a fixed order so concurrent batches cannot deadlock.
func lockKeys(ctx context.Context, tx *sql.Tx, query string, ps []pendingAlert) error {
	var ks []int64
	for _, p := range ps {
		h := fnv.New64a()
		h.Write([]byte(p.key))
		ks = append(ks, int64(h.Sum64()))
	}
	slices.Sort(ks)
	ks = slices.Compact(ks)
	if _, err := tx.ExecContext(ctx, query, ks); err != nil {
		return fmt.Errorf("lock target keys: %w", err)
	}
	return nil
}

// find returns the incident an alert joins, or nil if it opens one.
func (b *batch) find(ctx context.Context, p *pendingAlert) (*batchInc, error) {
	head, seen := b.heads[p.key]
	if !seen {
		var err error
		head, err = b.loadHead(ctx, p.key)
		if err != nil {
			return nil, err
		}
		b.heads[p.key] = head
	}
	if head == nil {
		return nil, nil // no non-final incident with this key at all
	}
	if head.matches(p.at, b.win) {
		return head, nil // the newest matches, so it is the one
	}
	// Out of order or expired: the newest incident whose span matches,
	// among those seen in this batch (their stored rows may be stale) and
	// those in the database.
	var best *batchInc
	for _, c := range b.byKey[p.key] {
		if c.matches(p.at, b.win) && (best == nil || c.rank > best.rank) {
			best = c
		}
	}
	c, err := b.load(ctx, b.s.stmts.windowed, p.key, satAdd(p.at, -b.win), satAdd(p.at, b.win))
	if err != nil {
		return nil, err
	}
	if c != nil && c.matches(p.at, b.win) && (best == nil || c.rank > best.rank) {
		best = c
	}
	return best, nil
}

// loadHead returns the newest non-final incident of key, from the head
// cache if it has the key, else from the database (with its dedup keys,
// for the cache, unless there are too many).
func (b *batch) loadHead(ctx context.Context, key string) (*batchInc, error) {
	c := b.s.cache
	if c == nil {
		return b.load(ctx, b.s.stmts.head, key)
	}
	if h, ok := c.heads[key]; ok {
		inc := &batchInc{id: h.id, rank: h.id, key: key, severity: incident.Severity(h.severity),
			rules: slices.Clone(h.rules), oldRules: len(h.rules), alerts: h.alerts, dedups: h.dedups,
			first: h.first, last: h.last, hashes: map[dedupHash]struct{}{}, known: h.hashes}
		b.byID[inc.id] = inc
		b.byKey[key] = append(b.byKey[key], inc)
		b.stored = append(b.stored, inc)
		return inc, nil
	}
	inc, err := b.load(ctx, b.s.stmts.head, key)
	if err != nil || inc == nil || inc.known != nil || inc.alerts > maxHeadHashes {
		return inc, err
	}
	rows, err := b.stmt(ctx, b.s.stmts.dedupHashes).QueryContext(ctx, inc.id)
	if err != nil {
		return nil, fmt.Errorf("read dedup keys of incident %d: %w", inc.id, err)
	}
	defer rows.Close()
	known := make(map[dedupHash]struct{}, inc.alerts)
	for rows.Next() {
		var h int64
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("read dedup keys of incident %d: %w", inc.id, err)
		}
		known[dedupHash(h)] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read dedup keys of incident %d: %w", inc.id, err)
	}
	inc.known = known
	return inc, nil
}

// load reads one incident for Ingest, reusing the batch's copy if it has
// one. It returns nil, nil when there is none.
func (b *batch) load(ctx context.Context, st *sql.Stmt, args ...any) (*batchInc, error) {
	var (
		r   storedRow
		key = args[0].(string)
	)
	err := b.stmt(ctx, st).QueryRowContext(ctx, args...).Scan(&r.id, &r.sev, &r.rules, &r.alerts, &r.dedups, &r.first, &r.last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find incident: %w", err)
	}
	return b.adopt(key, &r)
}

// storedRow is an incident's Ingest columns as read.
type storedRow struct {
	id, sev, alerts, dedups, first, last int64
	rules                                string
}

// adopt returns the batch's copy of the stored incident r of key, making
// one if it has none.
func (b *batch) adopt(key string, r *storedRow) (*batchInc, error) {
	if have := b.byID[r.id]; have != nil {
		return have, nil
	}
	if r.sev < int64(incident.SeverityInfo) || r.sev > int64(incident.SeverityCritical) {
		return nil, fmt.Errorf("incident %d: unknown severity %d in database", r.id, r.sev)
	}
	inc := &batchInc{id: r.id, rank: r.id, key: key, severity: incident.Severity(r.sev),
		alerts: int(r.alerts), dedups: int(r.dedups), first: r.first, last: r.last, hashes: map[dedupHash]struct{}{}}
	if err := json.Unmarshal([]byte(r.rules), &inc.rules); err != nil {
		return nil, fmt.Errorf("incident %d: decode rules: %w", r.id, err)
	}
	inc.oldRules = len(inc.rules)
	b.byID[inc.id] = inc
	b.byKey[key] = append(b.byKey[key], inc)
	b.stored = append(b.stored, inc)
	return inc, nil
}

// loadHeads reads and locks the newest non-final incident of every key of
// the batch in one statement (PostgreSQL, which has no head cache), so
// find needs no round trip per key.
func (b *batch) loadHeads(ctx context.Context, ps []pendingAlert) error {
	var keys []string
	for i := range ps {
		if _, seen := b.heads[ps[i].key]; !seen {
			b.heads[ps[i].key] = nil
			keys = append(keys, ps[i].key)
		}
	}
	rows, err := b.stmt(ctx, b.s.stmts.heads).QueryContext(ctx, keys)
	if err != nil {
		return fmt.Errorf("find incidents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key string
			r   storedRow
		)
		if err := rows.Scan(&key, &r.id, &r.sev, &r.rules, &r.alerts, &r.dedups, &r.first, &r.last); err != nil {
			return fmt.Errorf("find incidents: %w", err)
		}
		inc, err := b.adopt(key, &r)
		if err != nil {
			return err
		}
		b.heads[key] = inc
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find incidents: %w", err)
	}
	return nil
}

// open starts a new incident for a; it becomes its key's newest.
func (b *batch) open(a *incident.Alert, p *pendingAlert) *batchInc {
	inc := &batchInc{
		rank:     math.MaxInt64/2 + int64(len(b.created)),
		isNew:    true,
		key:      p.key,
		title:    a.Title(),
		target:   a.Target,
		severity: incident.SeverityForPriority(a.Priority),
		first:    p.at,
		last:     p.at,
		hashes:   map[dedupHash]struct{}{},
	}
	b.created = append(b.created, inc)
	b.heads[p.key] = inc
	b.byKey[p.key] = append(b.byKey[p.key], inc)
	return inc
}

// dedupStored records the alerts joining stored incidents whose recorded
// dedup keys are not known in memory, letting the unique index on
// (incident_id, dedup) skip those recorded before, and marks the skipped
// alerts as duplicates.
func (b *batch) dedupStored(ctx context.Context, alerts []incident.Alert, ps []pendingAlert, data []string) error {
	var todo []int
	for i := range ps {
		if !ps[i].dup && !ps[i].inc.isNew && ps[i].inc.known == nil {
			todo = append(todo, i)
		}
	}
	type idHash struct {
		id   int64
		hash dedupHash
	}
	inserted := map[idHash]bool{}
	for chunk := range pieces(todo, entryChunk) {
		rows, err := b.stmt(ctx, b.s.stmts.entriesDedup[len(chunk)]).QueryContext(ctx, entryArgs(alerts, ps, data, chunk)...)
		if err != nil {
			return fmt.Errorf("record alerts: %w", err)
		}
		for rows.Next() {
			var k idHash
			if err := rows.Scan(&k.id, &k.hash); err != nil {
				rows.Close()
				return fmt.Errorf("record alerts: %w", err)
			}
			inserted[k] = true
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("record alerts: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("record alerts: %w", err)
		}
	}
	for _, i := range todo {
		if !inserted[idHash{ps[i].inc.id, ps[i].hash}] {
			ps[i].dup = true
		}
	}
	return nil
}

// entryArgs are the parameters of insertEntries for the alerts at idx.
func entryArgs(alerts []incident.Alert, ps []pendingAlert, data []string, idx []int) []any {
	args := make([]any, 0, 7*len(idx))
	for _, i := range idx {
		a, p := &alerts[i], &ps[i]
		args = append(args, p.inc.id, p.at, string(incident.EntryAlert), alertActor(a), alertSummary(a), data[i], int64(p.hash))
	}
	return args
}

func (b *batch) insertIncidents(ctx context.Context, now int64) error {
	for _, inc := range b.created {
		target, err := json.Marshal(inc.target)
		if err != nil {
			return fmt.Errorf("open incident: encode target: %w", err)
		}
		rules, err := json.Marshal(inc.rules)
		if err != nil {
			return fmt.Errorf("open incident: encode rules: %w", err)
		}
		err = b.stmt(ctx, b.s.stmts.insertIncident).QueryRowContext(ctx,
			inc.key, inc.title, int64(inc.severity), inc.target.Cluster, inc.target.Namespace, string(target), string(rules),
			inc.alerts, inc.dedups, inc.first, inc.last, now, now).Scan(&inc.id)
		if err != nil {
			return fmt.Errorf("open incident: %w", err)
		}
		if err := b.insertRules(ctx, inc); err != nil {
			return err
		}
	}
	return nil
}

func (b *batch) insertRules(ctx context.Context, inc *batchInc) error {
	for _, r := range inc.rules[inc.oldRules:] {
		if _, err := b.stmt(ctx, b.s.stmts.insertRule).ExecContext(ctx, inc.id, r); err != nil {
			return fmt.Errorf("record rule of incident %d: %w", inc.id, err)
		}
	}
	return nil
}

// insertEntries adds a timeline entry, with its dedup key hash, for every
// alert that opened or joined an incident new in this batch, or joined one
// whose recorded keys are all known in memory (so it is known to be new),
// in batch order.
func (b *batch) insertEntries(ctx context.Context, alerts []incident.Alert, ps []pendingAlert, data []string) error {
	var todo []int
	for i := range ps {
		if !ps[i].dup && (ps[i].inc.isNew || ps[i].inc.known != nil) {
			todo = append(todo, i)
		}
	}
	for chunk := range pieces(todo, entryChunk) {
		if _, err := b.stmt(ctx, b.s.stmts.entries[len(chunk)]).ExecContext(ctx, entryArgs(alerts, ps, data, chunk)...); err != nil {
			return fmt.Errorf("record alerts: %w", err)
		}
	}
	return nil
}

func sha(s string) dedupHash {
	sum := sha256.Sum256([]byte(s))
	return dedupHash(binary.BigEndian.Uint64(sum[:8]))
}

// satAdd is a+d, saturating at the int64 range.
func satAdd(a, d int64) int64 {
	switch {
	case d > 0 && a > math.MaxInt64-d:
		return math.MaxInt64
	case d < 0 && a < math.MinInt64-d:
		return math.MinInt64
	}
	return a + d
}

// updateStored writes back the stored incidents alerts joined, in
// multi-row UPDATEs.
func (b *batch) updateStored(ctx context.Context, now int64) error {
	var todo []*batchInc
	for _, inc := range b.stored {
		if inc.touched {
			todo = append(todo, inc)
		}
	}
	for chunk := range pieces(todo, updateChunk) {
		args := make([]any, 0, 1+7*len(chunk))
		args = append(args, now)
		for _, inc := range chunk {
			rules, err := json.Marshal(inc.rules)
			if err != nil {
				return fmt.Errorf("update incident %d: encode rules: %w", inc.id, err)
			}
			args = append(args, inc.id, int64(inc.severity), string(rules), inc.alerts, inc.dedups, inc.first, inc.last)
		}
		if _, err := b.stmt(ctx, b.s.stmts.updates[len(chunk)]).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("update incidents: %w", err)
		}
	}
	for _, inc := range todo {
		if err := b.insertRules(ctx, inc); err != nil {
			return err
		}
	}
	return nil
}
