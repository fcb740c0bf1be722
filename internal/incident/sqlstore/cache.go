package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// Bounds of the SQLite head cache. A head whose incident holds more
// recorded alerts than maxHeadHashes is cached without its dedup hashes
// (its alerts are deduplicated in the database); past maxCachedHashes or
// maxCachedHeads in all, entries are evicted.
const (
	maxHeadHashes   = 1 << 16
	maxCachedHashes = 1 << 21
	maxCachedHeads  = 1 << 16
)

// headCache remembers, per target key, the newest non-final incident as
// Ingest last wrote it: the columns Ingest reads and the dedup hashes of
// its recorded alerts. It saves Ingest the per-key lookups and the dedup
// round trips. SQLite only; every use holds Store.wmu, so the cache
// changes in commit order.
//
// It is right only while every write to the database goes through this
// Store. Transition and DeleteBefore invalidate it themselves; a write by
// any other connection (another process or another Store on the same
// file) changes SQLite's data_version, which Ingest checks at the start
// of every transaction, dropping the whole cache when it moved.
type headCache struct {
	version int64 // data_version of the writer connection when last checked
	heads   map[string]*cachedHead
	hashes  int // sum of len(hashes) over heads
}

// cachedHead is the stored state of a key's newest non-final incident.
type cachedHead struct {
	id       int64
	severity int64
	rules    []string
	alerts   int
	dedups   int
	first    int64
	last     int64
	// hashes are the dedup keys recorded in the incident; nil when not all
	// are known.
	hashes  map[dedupHash]struct{}
	counted int // len(hashes) as added to headCache.hashes
}

func newHeadCache() *headCache {
	return &headCache{heads: map[string]*cachedHead{}}
}

// check drops everything if another connection wrote to the database since
// the last check. st is "PRAGMA data_version" for use in the transaction,
// which must hold the write lock.
func (c *headCache) check(ctx context.Context, st *sql.Stmt) error {
	var v int64
	if err := st.QueryRowContext(ctx).Scan(&v); err != nil {
		return fmt.Errorf("read data_version: %w", err)
	}
	if v != c.version {
		c.clear()
		c.version = v
	}
	return nil
}

func (c *headCache) clear() {
	if c == nil {
		return
	}
	clear(c.heads)
	c.hashes = 0
}

// forget drops the entry of key.
func (c *headCache) forget(key string) {
	if c == nil {
		return
	}
	if h, ok := c.heads[key]; ok {
		c.hashes -= h.counted
		delete(c.heads, key)
	}
}

// put records h as the head of key, then evicts until within bounds.
func (c *headCache) put(key string, h *cachedHead) {
	if h.hashes != nil && len(h.hashes) > maxHeadHashes {
		h.hashes = nil
	}
	c.forget(key)
	h.counted = len(h.hashes)
	c.heads[key] = h
	c.hashes += h.counted
	for k := range c.heads {
		if c.hashes <= maxCachedHashes && len(c.heads) <= maxCachedHeads {
			break
		}
		if k != key {
			c.forget(k)
		}
	}
}

// update records the outcome of a committed batch: each key's head as the
// batch left it.
func (c *headCache) update(b *batch) {
	for key, inc := range b.heads {
		if inc == nil {
			continue
		}
		h := &cachedHead{id: inc.id, severity: int64(inc.severity), rules: slices.Clip(inc.rules),
			alerts: inc.alerts, dedups: inc.dedups, first: inc.first, last: inc.last}
		switch {
		case inc.isNew:
			h.hashes = inc.hashes
		case inc.known != nil:
			// inc.known is the cached set itself (or one loaded for this
			// batch); it now gains the batch's hashes. Only recorded
			// hashes are in inc.hashes: known ones were duplicates.
			for k := range inc.hashes {
				inc.known[k] = struct{}{}
			}
			h.hashes = inc.known
		}
		c.put(key, h)
	}
}
