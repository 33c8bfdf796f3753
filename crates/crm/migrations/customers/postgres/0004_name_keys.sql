-- Each contact's, company's and lead's name as duplicates compare it (`customers::merge::name_key`),
-- so one record's likely duplicates by name are an index read, not a search. Filled by the
-- duplicates scan and kept by the `customers.name_keys` consumer after each change.
CREATE TABLE name_keys (
    object TEXT NOT NULL,
    record_id TEXT NOT NULL,
    name_key TEXT NOT NULL,
    PRIMARY KEY (object, record_id)
);
CREATE INDEX ix_name_keys_key ON name_keys (object, name_key);
-- Scans before this one wrote no keys: forgotten, so one record's check searches by name until
-- the next scan (nightly, or asked for) fills them.
DELETE FROM duplicate_scans;
