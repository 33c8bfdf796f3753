-- The substring index (store::grams) needs nothing shared on SQLite: each indexed field's FTS5
-- table and triggers are made from metadata at start-up.
SELECT 1;
