-- Consent (`crm::customers::consent`): each contact's standing per channel, the history of
-- every change, the addresses nothing marketing is sent to, and the key that signs the
-- unsubscribe and confirmation links.

-- Where a contact stands on a channel (email, sms, phone): granted, pending (an e-mail
-- address not yet confirmed) or withdrawn; with the source, time and text agreed to.
CREATE TABLE consents (
    contact_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    consent_text TEXT,
    at TEXT NOT NULL,
    actor TEXT,
    PRIMARY KEY (contact_id, channel)
);
CREATE INDEX ix_consents_channel ON consents (channel, status, contact_id);
-- Every change, never changed or deleted.
CREATE TABLE consent_events (
    id TEXT PRIMARY KEY,
    contact_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    consent_text TEXT,
    at TEXT NOT NULL,
    actor TEXT,
    detail TEXT
);
CREATE INDEX ix_consent_events_contact ON consent_events (contact_id, at);
-- Addresses (an e-mail in lower case, a phone in E.164) marketing never goes to: unsubscribed,
-- bounced, complained, or put there by a person.
CREATE TABLE suppressions (
    address TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    reason TEXT NOT NULL,
    contact_id TEXT,
    at TEXT NOT NULL
);
CREATE TABLE consent_settings (
    name TEXT PRIMARY KEY,
    text TEXT NOT NULL
);
