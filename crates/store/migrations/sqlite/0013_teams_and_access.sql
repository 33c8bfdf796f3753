-- Teams and who sees what (store::access): teams nest under a parent and have a manager; a
-- user belongs to any number of them. An access rule overrides, for one role and one object,
-- which records that role reads and changes (records::access::default_access otherwise).
-- A share lets one user or team read or change one record that the rules would hide.
CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id TEXT REFERENCES teams (id),
    manager_id TEXT REFERENCES users (id),
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX ux_teams_name ON teams (name);
CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX ix_team_members_user ON team_members (user_id, team_id);
CREATE TABLE access_rules (
    role TEXT NOT NULL,
    object_id TEXT NOT NULL REFERENCES meta_objects (id),
    read_reach TEXT NOT NULL,
    change_reach TEXT NOT NULL,
    PRIMARY KEY (role, object_id)
);
CREATE TABLE record_shares (
    object_id TEXT NOT NULL REFERENCES meta_objects (id),
    record_id TEXT NOT NULL,
    grantee TEXT NOT NULL,
    level TEXT NOT NULL,
    created_by TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (object_id, grantee, record_id)
);
CREATE INDEX ix_record_shares_record ON record_shares (record_id);
-- A leaver's handover: everything they owned moved to a successor, in batches (moved counts
-- them as they go; finished_at is set when nothing of theirs is left).
CREATE TABLE handovers (
    id TEXT PRIMARY KEY,
    leaver_id TEXT NOT NULL REFERENCES users (id),
    successor_id TEXT NOT NULL REFERENCES users (id),
    by_id TEXT,
    moved BIGINT NOT NULL DEFAULT 0,
    views BIGINT NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
-- What a role may do with one field (records::access::FieldAccess): hidden or read_only; a
-- field without a row is editable.
CREATE TABLE field_access (
    role TEXT NOT NULL,
    field_id TEXT NOT NULL REFERENCES meta_fields (id),
    level TEXT NOT NULL,
    PRIMARY KEY (role, field_id)
);
-- The security log (store::security): sign-ins, changes of roles, access and teams, tokens,
-- handovers and large exports, newest first by id; admins read it.
CREATE TABLE security_log (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    subject TEXT,
    address TEXT,
    details_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_security_log_kind ON security_log (kind, id);
-- Two-factor sign-in (store::two_factor): a user's TOTP secret (enabled once a code confirmed
-- it), the last time step a code was taken from (no code is taken twice), one-time recovery
-- codes (hashed), sign-ins waiting for their second factor (hashed ids, five minutes), and the
-- roles that must use it.
CREATE TABLE two_factor (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    secret TEXT NOT NULL,
    enabled_at TEXT,
    last_step BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    used_at TEXT,
    PRIMARY KEY (user_id, code_hash)
);
CREATE TABLE pending_sign_ins (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    expires_at TEXT NOT NULL,
    failures BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE role_settings (
    role TEXT PRIMARY KEY,
    require_two_factor BIGINT NOT NULL DEFAULT 0
);
