-- Insights (`crm::insights`): saved reports. A report is its owner's; a shared one is read by
-- everyone (each sees only the records they may).
CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    shared BIGINT NOT NULL,
    definition_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX reports_owner ON reports (owner_id, id);
