-- After-commit consumers and the scheduler (store::events). A record change's event is its
-- audit entry, pending while published_at is empty; the sequencer (one at a time) gives pending
-- entries their place in the stream (seq, in the order it finds them committed) and marks them
-- published, so a consumer reading by seq misses none, however late a transaction committed.
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
CREATE UNIQUE INDEX ux_audit_log_seq ON audit_log (seq) WHERE seq IS NOT NULL;
-- Each consumer's position in the stream and the lease of the instance running it.
CREATE TABLE event_consumers (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until TEXT,
    updated_at TEXT NOT NULL
);
-- An event a consumer failed on: retried with backoff (next_at), parked after its attempts
-- (an admin retries it: `peyvand jobs retry`).
CREATE TABLE event_failures (
    consumer TEXT NOT NULL,
    seq BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at TEXT NOT NULL,
    parked BIGINT NOT NULL DEFAULT 0,
    error TEXT NOT NULL,
    PRIMARY KEY (consumer, seq)
);
-- Jobs to run at a time (a reminder, a deadline, an expiry): claimed under a lease, retried with
-- backoff, parked after their attempts. A key makes scheduling idempotent.
CREATE TABLE scheduled_jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    job_key TEXT,
    run_at TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    done_at TEXT
);
CREATE UNIQUE INDEX ux_scheduled_jobs_key ON scheduled_jobs (kind, job_key) WHERE job_key IS NOT NULL AND status <> 'done';
CREATE INDEX ix_scheduled_jobs_due ON scheduled_jobs (run_at) WHERE status = 'pending';
