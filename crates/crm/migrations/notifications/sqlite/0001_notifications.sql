-- In-app notifications: what a user is told (a reminder, later a workflow's message), each once.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    link TEXT,
    -- The moment it is about (a task's due time), when there is one.
    about_at TEXT,
    created_at TEXT NOT NULL,
    read_at TEXT
);
CREATE INDEX ix_notifications_user ON notifications (user_id, created_at);
CREATE INDEX ix_notifications_unread ON notifications (user_id) WHERE read_at IS NULL;
