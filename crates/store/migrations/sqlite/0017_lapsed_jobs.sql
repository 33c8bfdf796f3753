-- Claims whose lease lapsed, from their own index: a claim reads what is due and what lapsed,
-- each from a partial index, instead of every job ever scheduled.
CREATE INDEX ix_scheduled_jobs_leased ON scheduled_jobs (lease_until) WHERE status = 'running';
