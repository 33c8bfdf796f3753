-- Records merged into another: the merged record's id leads to the one that took its place.
CREATE TABLE merged_records (
    object TEXT NOT NULL,
    id TEXT NOT NULL,
    survivor TEXT NOT NULL,
    actor TEXT,
    merged_at TEXT NOT NULL,
    PRIMARY KEY (object, id)
);
