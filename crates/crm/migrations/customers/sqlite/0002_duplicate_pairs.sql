-- The duplicates queue: pairs of records of one object that may be one customer, found by the
-- batch scan (`customers::queue`); a pair marked as not duplicates stays so, and is not offered
-- again.
CREATE TABLE duplicate_pairs (
    object TEXT NOT NULL,
    -- The pair's ids, the smaller first.
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    -- Why, comma-separated: email, phone, name.
    reasons TEXT NOT NULL,
    found_at TEXT NOT NULL,
    dismissed_at TEXT,
    dismissed_by TEXT,
    PRIMARY KEY (object, a, b)
);
CREATE INDEX ix_duplicate_pairs_open ON duplicate_pairs (object, found_at) WHERE dismissed_at IS NULL;
-- When each object was last scanned, and what the scan saw.
CREATE TABLE duplicate_scans (
    object TEXT PRIMARY KEY,
    scanned_at TEXT NOT NULL,
    records BIGINT NOT NULL,
    pairs BIGINT NOT NULL,
    -- Groups of more records than a pair list can help with (a very common name), left out.
    skipped_groups BIGINT NOT NULL,
    milliseconds BIGINT NOT NULL
);
