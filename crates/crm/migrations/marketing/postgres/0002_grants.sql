-- What a segment's members were given (`crm::marketing::grants`): one row per grant and
-- member, written with the benefit it made, so a retried grant gives nobody anything twice.
CREATE TABLE segment_grants (
    segment_id TEXT NOT NULL,
    grant_key TEXT NOT NULL,
    member_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (segment_id, grant_key, member_id)
);
