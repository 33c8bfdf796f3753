-- Commissions (`crm::insights::commissions`): plans set by admins, splits of a deal or an order
-- between people, statements approved and locked by managers, and what each locked statement
-- paid for each record (a clawback is a negative credit of the same record).
CREATE TABLE commission_plans (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- won_deals or paid_orders.
    basis TEXT NOT NULL,
    -- Percent, as decimal text.
    rate TEXT NOT NULL,
    currency TEXT NOT NULL,
    -- A statement's period (month or quarter) and its calendar.
    period TEXT NOT NULL,
    calendar TEXT NOT NULL,
    tiers_json TEXT NOT NULL,
    category_rates_json TEXT NOT NULL,
    members_json TEXT NOT NULL,
    -- The first and last days it applies to (none: open-ended).
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE commission_splits (
    object TEXT NOT NULL,
    record_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- Percent of the record credited to the user, as decimal text.
    share TEXT NOT NULL,
    PRIMARY KEY (object, record_id, user_id)
);
CREATE INDEX commission_splits_user ON commission_splits (user_id, object);

CREATE TABLE commission_statements (
    id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    period_key TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_before TEXT NOT NULL,
    currency TEXT NOT NULL,
    -- The statement as approved (lines and totals), as JSON.
    statement_json TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    approved_at TEXT NOT NULL,
    UNIQUE (user_id, starts_on)
);

CREATE TABLE commission_credits (
    statement_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    object TEXT NOT NULL,
    record_id TEXT NOT NULL,
    -- The statement's period start (for the next period a clawback falls in).
    starts_on TEXT NOT NULL,
    -- Hundredths of the plan's currency; negative for a clawback.
    cents BIGINT NOT NULL,
    PRIMARY KEY (statement_id, object, record_id)
);
CREATE INDEX commission_credits_user ON commission_credits (user_id, object, record_id);
