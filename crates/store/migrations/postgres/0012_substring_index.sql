-- The substring index (store::grams): trigram operator classes for GIN indexes. Each indexed
-- field's folded column and index are made from metadata at start-up.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
