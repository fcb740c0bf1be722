-- One index on entries serves the timeline (incident_id), retention
-- (incident_id) and deduplication (unique per incident; NULLs are
-- distinct), so a batch of alerts dirties one index page per incident it
-- touches instead of two (entries_incident and dedup_keys).
CREATE UNIQUE INDEX entries_dedup ON entries (incident_id, dedup);
DROP INDEX entries_incident;
DROP TABLE dedup_keys;
