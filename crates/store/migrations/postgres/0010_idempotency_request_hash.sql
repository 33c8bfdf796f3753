-- An idempotency key remembers what its first request asked for (a hash of the object and the
-- fields sent), so the key reused with another body is refused (422) instead of answering with
-- the first record. Keys stored before have none and are taken as matching.
ALTER TABLE idempotency_keys ADD COLUMN request_hash TEXT;
