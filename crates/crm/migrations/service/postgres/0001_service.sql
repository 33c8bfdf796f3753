-- The support desk (`crm::service`): its queues, business-hours calendars, holidays, service
-- levels, each ticket's conversation and attachments, and the ticket numbers' counter.

-- A team that answers tickets, and how a new ticket of its queue is given out.
CREATE TABLE service_queues (
    team_id TEXT PRIMARY KEY,
    -- manual, round_robin or least_loaded.
    assign_mode TEXT NOT NULL,
    -- Round-robin: how many tickets have been given out (the next member's turn).
    turns BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- Working hours by weekday, as JSON (`service::clock::Hours`).
CREATE TABLE service_calendars (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hours_json TEXT NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- Days off for every calendar (a holiday may span days: Nowruz), Gregorian ISO dates.
CREATE TABLE service_holidays (
    id TEXT PRIMARY KEY,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    name_fa TEXT NOT NULL,
    name_en TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX ix_service_holidays_starts ON service_holidays (starts_on);
-- Service-level policies, the first that matches a ticket applies (`service::levels::Policy`).
CREATE TABLE sla_policies (
    id TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    definition_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- A ticket's conversation: public replies and internal notes, by a user or the customer.
CREATE TABLE ticket_messages (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL,
    public BIGINT NOT NULL,
    author_user TEXT,
    author_contact TEXT,
    body TEXT NOT NULL,
    -- What the desk wrote itself, the UI saying it in the reader's language: merged_from and
    -- merged_into (the body is the other ticket's id); none for what a person wrote.
    event TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX ix_ticket_messages_ticket ON ticket_messages (ticket_id, id);
-- Files sent with a message, kept in the database (so backups and migrate-data carry them).
CREATE TABLE ticket_attachments (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    content_b64 TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX ix_ticket_attachments_message ON ticket_attachments (message_id);
CREATE INDEX ix_ticket_attachments_ticket ON ticket_attachments (ticket_id);
-- Counters (the ticket numbers) and the desk's settings (a reply to a closed ticket).
CREATE TABLE service_settings (
    name TEXT PRIMARY KEY,
    number BIGINT NOT NULL DEFAULT 0,
    text TEXT
);
