-- The customer portal (`crm::portal`): customers' own accounts, apart from staff accounts.
-- One account per contact; it signs in with the contact's e-mail or mobile number.
CREATE TABLE portal_accounts (
    id TEXT PRIMARY KEY,
    contact_id TEXT NOT NULL UNIQUE,
    -- The addresses it signs in with (an e-mail in lower case, a phone in E.164).
    email TEXT,
    phone TEXT,
    -- Argon2id; none until the customer sets one (after a sign-in with a code).
    password_hash TEXT,
    -- Whether the customer may act for their company (see its orders and requests).
    company_access BIGINT NOT NULL DEFAULT 0,
    language TEXT NOT NULL DEFAULT 'fa',
    -- invited (never signed in), active, disabled.
    status TEXT NOT NULL,
    verified_at TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT,
    last_sign_in_at TEXT
);
CREATE INDEX portal_accounts_email ON portal_accounts (email);
CREATE INDEX portal_accounts_phone ON portal_accounts (phone);
-- One-time sign-in codes, kept as hashes; each takes a few tries and lives a few minutes.
CREATE TABLE portal_codes (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    used_at TEXT
);
CREATE INDEX portal_codes_account ON portal_codes (account_id, created_at);
-- Signed-in customers; the cookie holds the secret, this its hash.
CREATE TABLE portal_sessions (
    secret_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX portal_sessions_account ON portal_sessions (account_id);
-- What the limits count: codes asked (`code_sent`) and wrong codes or passwords (`failed`),
-- by account (when known) and by address of the client.
CREATE TABLE portal_attempts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    account_id TEXT,
    ip TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX portal_attempts_account ON portal_attempts (account_id, kind, at);
CREATE INDEX portal_attempts_ip ON portal_attempts (ip, kind, at);
-- The portal's settings (sign-up, branding) as JSON under one key.
CREATE TABLE portal_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
