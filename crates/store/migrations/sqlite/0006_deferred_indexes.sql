-- Secondary indexes a bulk load set aside (dropped, to be built once after it instead of being
-- updated row by row), with the statement that builds each again. Start-up builds any a killed
-- load left here; see store::indexes.
CREATE TABLE deferred_indexes (
    name TEXT PRIMARY KEY,
    table_name TEXT NOT NULL,
    definition TEXT NOT NULL
);
