-- A user's calendar feed: the hash of the secret in its address (the address is shown once; a
-- new one replaces it, deleting the row stops it).
CREATE TABLE calendar_feeds (
    user_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
