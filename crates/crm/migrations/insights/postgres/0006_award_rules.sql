-- Award rules (`crm::insights::award_rules`): the top people by a measure when each period
-- ends get an award; an award a rule gave names it and its period, once per person.
CREATE TABLE award_rules (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    reason TEXT NOT NULL,
    measure TEXT NOT NULL,
    period TEXT NOT NULL,
    top_places BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

ALTER TABLE awards ADD COLUMN rule_id TEXT;
ALTER TABLE awards ADD COLUMN period_key TEXT;
CREATE UNIQUE INDEX awards_rule_period ON awards (rule_id, period_key, user_id);
