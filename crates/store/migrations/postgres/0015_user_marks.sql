-- A user's marks on records (store::marks): favourites and the records opened last.
CREATE TABLE user_marks (
    user_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL REFERENCES meta_objects (id),
    record_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (user_id, kind, object_id, record_id)
);
CREATE INDEX ix_user_marks_newest ON user_marks (user_id, kind, at);
