-- Marketing (`crm::marketing`): segments (dynamic ones are a definition; static ones also
-- their members), campaigns and their recipients.

CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    definition_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE segment_members (
    segment_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (segment_id, record_id)
);
-- A campaign: a template sent to a segment on a schedule, throttled; `status` draft,
-- scheduled, sending, sent or cancelled.
CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    definition_json TEXT NOT NULL,
    status TEXT NOT NULL,
    recipients BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    sent_at TEXT
);
-- One contact a campaign was for: their message (its status is the outbox's), their first
-- click and how many.
CREATE TABLE campaign_recipients (
    campaign_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    clicked_at TEXT,
    clicks BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, contact_id)
);
CREATE INDEX ix_campaign_recipients_contact ON campaign_recipients (contact_id);
