-- Expand/contract upgrades: each applied migration records the oldest
-- schema version a running program may know and still work on the
-- database (min_reader). An expand migration (new tables, nullable or
-- defaulted columns, indexes) keeps it; a contract migration (dropping or
-- renaming what older programs use; its file starts with "-- quell:contract")
-- raises it to its own version minus one. A program whose schema is older
-- than the database's keeps running while it is at least min_reader.
ALTER TABLE schema_migrations ADD COLUMN min_reader BIGINT NOT NULL DEFAULT 0;
