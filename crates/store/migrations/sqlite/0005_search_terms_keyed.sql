-- Search terms keyed by (term, record_id) in the table itself (WITHOUT ROWID): a prefix search
-- reads one range that holds the object too, and each new term is one B-tree insert instead of
-- two (the table and its two indexes were a third of a generated database). Copied in key
-- order, so the new table is written front to back.
CREATE TABLE search_terms_keyed (
    term TEXT NOT NULL,
    record_id TEXT NOT NULL,
    object TEXT NOT NULL,
    PRIMARY KEY (term, record_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO search_terms_keyed (term, record_id, object)
    SELECT term, record_id, object FROM search_terms ORDER BY term, record_id;
DROP TABLE search_terms;
ALTER TABLE search_terms_keyed RENAME TO search_terms;
CREATE INDEX ix_search_terms_record ON search_terms (record_id);
