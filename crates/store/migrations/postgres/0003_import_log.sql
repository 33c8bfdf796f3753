-- Rows already imported, keyed by a hash of the object, the column mapping and the row's cells,
-- so that running a file again (after an interruption, or after fixing the rows an import
-- reported) creates nothing twice.
CREATE TABLE import_log (
    row_hash TEXT PRIMARY KEY,
    object TEXT NOT NULL,
    record_id TEXT,
    outcome TEXT NOT NULL,
    at TEXT NOT NULL
);
