-- Saved views: a list or board of one object with its filter, sort and columns, personal to its
-- owner or shared with everyone.
CREATE TABLE views (
    id TEXT PRIMARY KEY,
    object TEXT NOT NULL,
    name TEXT NOT NULL,
    owner_id TEXT NOT NULL REFERENCES users (id),
    shared BIGINT NOT NULL DEFAULT 0,
    kind TEXT NOT NULL DEFAULT 'list',
    filter_json TEXT,
    sort TEXT NOT NULL DEFAULT '',
    columns TEXT NOT NULL DEFAULT '',
    group_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_views_object ON views (object, owner_id);
