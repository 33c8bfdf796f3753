-- Customer value (`insights::value`): each fit of the models to the customers' orders, its
-- parameters and its calibration against a holdout period, newest last.
CREATE TABLE value_runs (
    id TEXT PRIMARY KEY,
    ran_at TEXT NOT NULL,
    customers BIGINT NOT NULL,
    result_json TEXT NOT NULL
);
CREATE INDEX value_runs_at ON value_runs (ran_at);
