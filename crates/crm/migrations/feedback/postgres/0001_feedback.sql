-- Customer feedback (`crm::feedback`): surveys and their invitations and answers, who asked
-- for each suggestion, and the module's settings (the key that signs survey links).

-- A survey: CSAT (one built in, sent when a ticket is resolved), NPS (sent on a schedule) or a
-- poll; its questions and schedule as JSON (`feedback::surveys::Definition`).
CREATE TABLE surveys (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    definition_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- One customer asked to answer one survey, about one record (a ticket, an order) served by one
-- member of staff; the link is the id signed (`feedback::surveys::link_token`).
CREATE TABLE survey_invitations (
    id TEXT PRIMARY KEY,
    survey_id TEXT NOT NULL,
    contact_id TEXT,
    record_object TEXT,
    record_id TEXT,
    staff_id TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    answered_at TEXT
);
-- A record is asked about once per survey (a ticket resolved twice sends one CSAT).
CREATE UNIQUE INDEX ux_survey_invitations_record ON survey_invitations (survey_id, record_id)
    WHERE record_id IS NOT NULL;
CREATE INDEX ix_survey_invitations_contact ON survey_invitations (contact_id, survey_id, created_at);
CREATE INDEX ix_survey_invitations_survey ON survey_invitations (survey_id, created_at);
-- An invitation's answer (at most one: the link is single-use). `score` is the first question's
-- answer of a CSAT (1-5) or NPS (0-10) survey; `comment` its free text, for the verbatims.
CREATE TABLE survey_responses (
    invitation_id TEXT PRIMARY KEY,
    survey_id TEXT NOT NULL,
    contact_id TEXT,
    record_object TEXT,
    record_id TEXT,
    staff_id TEXT,
    score BIGINT,
    answers_json TEXT NOT NULL,
    comment TEXT,
    answered_at TEXT NOT NULL
);
CREATE INDEX ix_survey_responses_survey ON survey_responses (survey_id, answered_at);
CREATE INDEX ix_survey_responses_staff ON survey_responses (staff_id, answered_at);
CREATE INDEX ix_survey_responses_record ON survey_responses (record_id);
-- The customers who asked for a suggestion (the first, and each who voted for it), to be told
-- when it is done.
CREATE TABLE suggestion_askers (
    suggestion_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    asked_at TEXT NOT NULL,
    told_at TEXT,
    PRIMARY KEY (suggestion_id, contact_id)
);
CREATE INDEX ix_suggestion_askers_contact ON suggestion_askers (contact_id);
CREATE TABLE feedback_settings (
    name TEXT PRIMARY KEY,
    text TEXT NOT NULL
);
