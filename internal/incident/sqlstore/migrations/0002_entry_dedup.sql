-- The dedup key hash of a recorded alert moves from dedup_keys into its
-- timeline entry (NULL for entries that are not recorded alerts). The
-- program fills it in for existing alert entries right after this
-- migration, from dedup_keys; 0003 then indexes it and drops dedup_keys.
ALTER TABLE entries ADD COLUMN dedup BIGINT;
