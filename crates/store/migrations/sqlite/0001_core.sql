-- Metadata, accounts, audit, outbox, search and the value index: the tables every object shares.
-- Record tables (r_<object>) are created from metadata by the store's schema module.
CREATE TABLE meta_objects (
    id TEXT PRIMARY KEY,
    api_name TEXT NOT NULL UNIQUE,
    label_fa TEXT NOT NULL,
    label_en TEXT NOT NULL,
    plural_fa TEXT NOT NULL,
    plural_en TEXT NOT NULL,
    origin TEXT NOT NULL,
    title_field TEXT NOT NULL,
    table_name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE meta_fields (
    id TEXT PRIMARY KEY,
    object_id TEXT NOT NULL REFERENCES meta_objects (id),
    api_name TEXT NOT NULL,
    label_fa TEXT NOT NULL,
    label_en TEXT NOT NULL,
    field_type TEXT NOT NULL,
    origin TEXT NOT NULL,
    required BIGINT NOT NULL DEFAULT 0,
    is_unique BIGINT NOT NULL DEFAULT 0,
    indexed BIGINT NOT NULL DEFAULT 0,
    hidden BIGINT NOT NULL DEFAULT 0,
    archived BIGINT NOT NULL DEFAULT 0,
    default_json TEXT,
    help_fa TEXT NOT NULL DEFAULT '',
    help_en TEXT NOT NULL DEFAULT '',
    options_json TEXT NOT NULL DEFAULT '{}',
    position BIGINT NOT NULL,
    column_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_meta_fields_object ON meta_fields (object_id, position);
CREATE UNIQUE INDEX ux_meta_fields_live_name ON meta_fields (object_id, api_name) WHERE archived = 0;
-- Every change of a field's definition, with the column that held the old values.
CREATE TABLE meta_field_history (
    id TEXT PRIMARY KEY,
    field_id TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    changed_by TEXT,
    change_json TEXT NOT NULL
);
CREATE INDEX ix_meta_field_history_field ON meta_field_history (field_id, id);
CREATE TABLE meta_version (
    id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO meta_version (id, version) VALUES (1, 1);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'fa',
    active BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX ix_sessions_user ON sessions (user_id);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX ix_api_tokens_user ON api_tokens (user_id, id);
CREATE TABLE login_failures (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX ix_login_failures_email ON login_failures (email, at);
CREATE INDEX ix_login_failures_ip ON login_failures (ip, at);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    object TEXT NOT NULL,
    record_id TEXT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT,
    at TEXT NOT NULL,
    changes_json TEXT NOT NULL
);
CREATE INDEX ix_audit_log_record ON audit_log (record_id, id);
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    object TEXT NOT NULL,
    record_id TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    processed_at TEXT
);
CREATE INDEX ix_outbox_pending ON outbox (id) WHERE processed_at IS NULL;
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    object TEXT NOT NULL,
    record_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);

-- Members of multi-valued fields (e-mails, phones, multi-selects), for exact lookups,
-- de-duplication and uniqueness; uniq = 1 while the record is live and the field unique.
CREATE TABLE record_values (
    field_id TEXT NOT NULL,
    value_norm TEXT NOT NULL,
    record_id TEXT NOT NULL,
    uniq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX ix_record_values_lookup ON record_values (field_id, value_norm, record_id);
CREATE INDEX ix_record_values_record ON record_values (record_id);
CREATE UNIQUE INDEX ux_record_values_unique ON record_values (field_id, value_norm) WHERE uniq = 1;

-- Global search: normalized terms of live records, matched by prefix (a range on term).
CREATE TABLE search_terms (
    term TEXT NOT NULL,
    object TEXT NOT NULL,
    record_id TEXT NOT NULL
);
CREATE INDEX ix_search_terms_term ON search_terms (term, record_id);
CREATE INDEX ix_search_terms_record ON search_terms (record_id);
