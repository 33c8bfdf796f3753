-- Referrals (`crm::loyalty::referrals`): each customer's code, and who brought whom.

-- A customer's referral code (made when first asked for).
CREATE TABLE referral_codes (
    contact_id TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX ux_referral_codes_code ON referral_codes (code);
-- A new customer attributed to the customer who brought them (once per new customer); both
-- are rewarded by the programs' rules when the new customer's first order earns.
CREATE TABLE referrals (
    id TEXT PRIMARY KEY,
    referrer_id TEXT NOT NULL,
    referred_id TEXT NOT NULL,
    code TEXT NOT NULL,
    source TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT,
    rewarded_at TEXT,
    order_id TEXT
);
CREATE UNIQUE INDEX ux_referrals_referred ON referrals (referred_id);
CREATE INDEX ix_referrals_referrer ON referrals (referrer_id, at);
