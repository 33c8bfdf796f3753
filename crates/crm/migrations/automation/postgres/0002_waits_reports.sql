-- A run waiting until a condition holds gives up at this time (set while it waits).
ALTER TABLE workflow_runs ADD COLUMN wait_deadline TEXT;
-- A message may carry its own HTML body and one attachment (a scheduled report).
ALTER TABLE outbound_messages ADD COLUMN html TEXT;
ALTER TABLE outbound_messages ADD COLUMN attachment_json TEXT;
-- Saved list views sent by e-mail on a schedule, each recipient seeing what they may see.
CREATE TABLE report_schedules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    view_id TEXT NOT NULL,
    format TEXT NOT NULL,
    recipients_json TEXT NOT NULL,
    weekday BIGINT,
    hour BIGINT NOT NULL,
    enabled BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_by TEXT,
    last_sent_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
