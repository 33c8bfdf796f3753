-- Compound indexes: an index over several of an object's fields, in the order declared, of its
-- live records, declared by an admin so that a filtered aggregate or page no rollup answers is
-- read from the index alone (see store::compound). `columns` holds the columns it reads, as JSON.
CREATE TABLE meta_compound_indexes (
    id TEXT PRIMARY KEY,
    object_id TEXT NOT NULL REFERENCES meta_objects (id),
    fields TEXT NOT NULL,
    columns TEXT NOT NULL,
    index_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT
);
CREATE INDEX ix_meta_compound_indexes_object ON meta_compound_indexes (object_id);
