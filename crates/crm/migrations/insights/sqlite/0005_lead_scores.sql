-- Lead scores (`crm::insights::lead_scores`): each training run with its accuracy and weights,
-- and the factors behind each open lead's score (its score is the lead's own field).
CREATE TABLE lead_score_runs (
    id TEXT PRIMARY KEY,
    ran_at TEXT NOT NULL,
    result_json TEXT NOT NULL
);

CREATE TABLE lead_score_factors (
    lead_id TEXT PRIMARY KEY,
    factors TEXT NOT NULL
);
