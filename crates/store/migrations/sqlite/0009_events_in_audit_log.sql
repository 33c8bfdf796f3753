-- A record change's event is its audit entry: the outbox held one row per entry with the same
-- id, object and record, a topic made from the action and an empty payload, so every change
-- wrote a second row and two more index entries that said nothing new (a tenth of a generated
-- database, and of its writing time). Pending events are the audit entries not yet published,
-- found by their own partial index. See store::records (invariants).
ALTER TABLE audit_log ADD COLUMN published_at TEXT;
UPDATE audit_log SET published_at = o.processed_at FROM outbox o
    WHERE o.id = audit_log.id AND o.processed_at IS NOT NULL;
CREATE INDEX ix_audit_log_pending ON audit_log (id) WHERE published_at IS NULL;
-- A bulk load killed half-way may have set the outbox's index aside (store::indexes).
DELETE FROM deferred_indexes WHERE table_name = 'outbox';
DROP TABLE outbox;
