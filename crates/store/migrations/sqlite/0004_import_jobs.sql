-- Imports started from the web app: the uploaded file, the chosen options, progress and the
-- final report, so any instance can show them.
CREATE TABLE import_jobs (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    object TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_path TEXT NOT NULL,
    status TEXT NOT NULL,
    options_json TEXT NOT NULL DEFAULT '{}',
    rows_done BIGINT NOT NULL DEFAULT 0,
    report_json TEXT,
    message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_import_jobs_user ON import_jobs (user_id, id);
