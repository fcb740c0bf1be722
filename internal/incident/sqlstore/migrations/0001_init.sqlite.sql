-- Incidents, their timelines, the dedup keys of recorded alerts, the rules
-- seen (for filtering) and idempotency keys. Times are Unix nanoseconds (UTC).
CREATE TABLE incidents (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	key         TEXT    NOT NULL,
	title       TEXT    NOT NULL,
	state       TEXT    NOT NULL,
	severity    INTEGER NOT NULL,
	cluster     TEXT    NOT NULL,
	namespace   TEXT    NOT NULL,
	target      TEXT    NOT NULL,
	rules       TEXT    NOT NULL,
	alert_count INTEGER NOT NULL,
	dedup_count INTEGER NOT NULL,
	first_seen  INTEGER NOT NULL,
	last_seen   INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
CREATE INDEX incidents_open_key ON incidents (key, id)
	WHERE state IN ('open', 'acting', 'contained', 'failed');
CREATE INDEX incidents_last_seen ON incidents (last_seen);
CREATE INDEX incidents_state ON incidents (state, id);
CREATE INDEX incidents_namespace ON incidents (namespace, id);

CREATE TABLE incident_rules (
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	rule        TEXT    NOT NULL,
	PRIMARY KEY (incident_id, rule)
) WITHOUT ROWID;
CREATE INDEX incident_rules_rule ON incident_rules (rule, incident_id);

CREATE TABLE entries (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	at          INTEGER NOT NULL,
	type        TEXT    NOT NULL,
	actor       TEXT    NOT NULL,
	summary     TEXT    NOT NULL,
	data        TEXT
);
CREATE INDEX entries_incident ON entries (incident_id, id);

CREATE TABLE dedup_keys (
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	hash        INTEGER NOT NULL,
	PRIMARY KEY (incident_id, hash)
) WITHOUT ROWID;

CREATE TABLE once_keys (
	key        TEXT    NOT NULL PRIMARY KEY,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX once_keys_created ON once_keys (created_at);
