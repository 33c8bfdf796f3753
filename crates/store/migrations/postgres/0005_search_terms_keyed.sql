-- The term index also holds the object, so a prefix search can be answered from the index
-- alone (SQLite's table became keyed by term in the same migration).
CREATE INDEX ix_search_terms_covering ON search_terms (term, record_id) INCLUDE (object);
DROP INDEX ix_search_terms_term;
