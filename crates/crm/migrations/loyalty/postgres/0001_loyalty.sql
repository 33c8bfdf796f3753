-- Loyalty (`crm::loyalty`): programs and their rewards, members with their kept balance and
-- tier, the append-only ledger, the lots that expire, what each debit took from which lot, and
-- redemptions with their vouchers.

-- A program: its names, earning rules, tiers and expiry as JSON (`loyalty::programs::Definition`).
CREATE TABLE loyalty_programs (
    id TEXT PRIMARY KEY,
    definition_json TEXT NOT NULL,
    active BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- A reward of a program's catalogue; `stock` NULL is unlimited.
CREATE TABLE loyalty_rewards (
    id TEXT PRIMARY KEY,
    program_id TEXT NOT NULL,
    definition_json TEXT NOT NULL,
    points BIGINT NOT NULL,
    stock BIGINT,
    active BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_loyalty_rewards_program ON loyalty_rewards (program_id, points);
-- A contact in a program: the balance and totals are kept with every entry (the balance is the
-- sum of the member's entries and of their lots' remainders), the tier with it.
CREATE TABLE loyalty_members (
    program_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    joined_at TEXT NOT NULL,
    balance BIGINT NOT NULL,
    earned BIGINT NOT NULL,
    spent BIGINT NOT NULL,
    expired BIGINT NOT NULL,
    tier TEXT,
    tier_since TEXT,
    benefit_id TEXT,
    -- The contact's birthday as MM-DD (kept by the contact's hook), for the birthday's points.
    birthday TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (program_id, contact_id)
);
CREATE INDEX ix_loyalty_members_contact ON loyalty_members (contact_id);
CREATE INDEX ix_loyalty_members_birthday ON loyalty_members (birthday) WHERE birthday IS NOT NULL;
CREATE INDEX ix_loyalty_members_balance ON loyalty_members (program_id, balance);
-- The ledger: never changed or deleted. `points` is signed; `dedupe` names what made it (an
-- order's earning, a redemption's request), so it is written once; `spend` is the money that
-- earned it (whole units, negative when reversed), for tiers qualified by spend.
CREATE TABLE loyalty_entries (
    id TEXT PRIMARY KEY,
    program_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    points BIGINT NOT NULL,
    spend BIGINT NOT NULL,
    source TEXT NOT NULL,
    source_id TEXT,
    dedupe TEXT NOT NULL,
    actor TEXT,
    note TEXT,
    expires_on TEXT
);
CREATE UNIQUE INDEX ux_loyalty_entries_dedupe ON loyalty_entries (program_id, dedupe);
CREATE INDEX ix_loyalty_entries_member ON loyalty_entries (program_id, contact_id, at);
CREATE INDEX ix_loyalty_entries_source ON loyalty_entries (source_id, program_id);
-- What is left of each earning: redeemed oldest-expiring first, expired at its date.
CREATE TABLE loyalty_lots (
    entry_id TEXT PRIMARY KEY,
    program_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    expires_on TEXT,
    remaining BIGINT NOT NULL
);
CREATE INDEX ix_loyalty_lots_member ON loyalty_lots (program_id, contact_id, remaining);
CREATE INDEX ix_loyalty_lots_expiry ON loyalty_lots (expires_on) WHERE remaining > 0;
-- Which lots a debit (a redemption, a reversal, an expiry) took its points from.
CREATE TABLE loyalty_allocations (
    entry_id TEXT NOT NULL,
    lot_id TEXT NOT NULL,
    points BIGINT NOT NULL,
    PRIMARY KEY (entry_id, lot_id)
);
-- A reward redeemed: its debit, the order it was used on, its voucher and the benefit it gave.
CREATE TABLE loyalty_redemptions (
    id TEXT PRIMARY KEY,
    program_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    reward_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    points BIGINT NOT NULL,
    order_id TEXT,
    code TEXT,
    expires_on TEXT,
    benefit_id TEXT,
    used_at TEXT,
    used_order_id TEXT,
    at TEXT NOT NULL,
    actor TEXT
);
CREATE UNIQUE INDEX ux_loyalty_redemptions_code ON loyalty_redemptions (code) WHERE code IS NOT NULL;
CREATE INDEX ix_loyalty_redemptions_member ON loyalty_redemptions (program_id, contact_id, at);
