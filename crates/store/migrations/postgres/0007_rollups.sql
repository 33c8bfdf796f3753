-- Rollups: aggregates (counts and sums in groups) kept up to date by triggers on the object's
-- table, so a dashboard reads a few hundred rows instead of every record. `definition` holds the
-- columns the triggers read (see store::rollups); `group_by` and `sums` the text as declared.
CREATE TABLE meta_rollups (
    id TEXT PRIMARY KEY,
    object_id TEXT NOT NULL REFERENCES meta_objects (id),
    group_by TEXT NOT NULL,
    sums TEXT NOT NULL,
    definition TEXT NOT NULL,
    table_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT
);
CREATE INDEX ix_meta_rollups_object ON meta_rollups (object_id);
