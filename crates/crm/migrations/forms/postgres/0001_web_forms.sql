-- Public web forms an admin builds (`crm::forms`): what each asks and where its records go.
CREATE TABLE web_forms (
    id TEXT PRIMARY KEY,
    -- The secret-free public key of its address (/f/SLUG).
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- The object a submission makes (lead or contact).
    object TEXT NOT NULL,
    -- Its fields, texts, assignment and redirect, as JSON (`forms::Definition`).
    definition_json TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    -- Round-robin: how many submissions have been given out (the next member's turn).
    turns BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- Each submission: the record it made, its attribution and the consent it showed.
CREATE TABLE form_submissions (
    id TEXT PRIMARY KEY,
    form_id TEXT NOT NULL,
    object TEXT NOT NULL,
    record_id TEXT NOT NULL,
    owner TEXT,
    at TEXT NOT NULL,
    -- utm_source, utm_medium, utm_campaign, utm_term, utm_content and the referrer, as JSON.
    attribution_json TEXT NOT NULL,
    consent_text TEXT,
    consent_given INTEGER NOT NULL,
    -- Records it may repeat (the duplicate check), as a JSON list of {object, id}.
    duplicates_json TEXT NOT NULL
);
CREATE INDEX ix_form_submissions_form ON form_submissions (form_id, at);
