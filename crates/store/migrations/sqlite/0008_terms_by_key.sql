-- A record's search terms and list-field members are removed by their own keys (term and
-- record; field, value and record), computed from the values they were made from, instead of
-- by record id: the two indexes by record id were a sixth of an imported contact's writes (ten
-- index entries of its ten search terms, two of its members) and 140 MB of every 200,000
-- contacts. See store::records (invariants) for what keeps the keys in step with the values.
-- A bulk load killed half-way may have set them aside already (store::indexes).
DROP INDEX IF EXISTS ix_search_terms_record;
DROP INDEX IF EXISTS ix_record_values_record;
DELETE FROM deferred_indexes WHERE name IN ('ix_search_terms_record', 'ix_record_values_record');
