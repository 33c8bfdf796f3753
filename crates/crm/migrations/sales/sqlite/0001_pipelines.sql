-- Pipelines: each an ordered list of stages (key, labels, win probability, kind), kept as JSON
-- and validated as a whole by the sales module; a deal's `pipeline` and `stage` choices follow them.
CREATE TABLE sales_pipelines (
    key TEXT PRIMARY KEY,
    name_fa TEXT NOT NULL,
    name_en TEXT NOT NULL,
    position BIGINT NOT NULL,
    stale_days BIGINT,
    stages_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Every stage a deal was in: when it entered and left, and who moved it.
CREATE TABLE deal_stage_history (
    id TEXT PRIMARY KEY,
    deal_id TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    stage TEXT NOT NULL,
    entered_at TEXT NOT NULL,
    entered_by TEXT,
    left_at TEXT,
    left_by TEXT
);
CREATE INDEX deal_stage_history_deal ON deal_stage_history (deal_id, entered_at);
CREATE INDEX deal_stage_history_stage ON deal_stage_history (pipeline, stage, entered_at);
