-- Automation: templates, workflows and their runs, webhooks, the outbox of e-mails and SMS.
CREATE TABLE message_templates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    channel TEXT NOT NULL,
    object TEXT NOT NULL,
    language TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    object TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    version BIGINT NOT NULL,
    definition_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_workflows_object ON workflows (object, enabled);
CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    definition_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT,
    PRIMARY KEY (workflow_id, version)
);
CREATE TABLE workflow_runs (
    id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    record_id TEXT NOT NULL,
    trigger_key TEXT NOT NULL,
    chain TEXT NOT NULL,
    status TEXT NOT NULL,
    step BIGINT NOT NULL,
    error TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE UNIQUE INDEX ux_workflow_runs_trigger ON workflow_runs (workflow_id, trigger_key);
CREATE INDEX ix_workflow_runs_started ON workflow_runs (workflow_id, started_at);
CREATE INDEX ix_workflow_runs_status ON workflow_runs (status, started_at);
CREATE TABLE workflow_run_steps (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    step BIGINT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail_json TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX ix_workflow_run_steps_run ON workflow_run_steps (run_id, at);
CREATE TABLE workflow_effects (
    audit_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    chain TEXT NOT NULL
);
CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    object TEXT,
    events_json TEXT NOT NULL,
    secret TEXT NOT NULL,
    active BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    paused_at TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    subscription_id TEXT,
    target TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    response_status BIGINT,
    error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    next_at TEXT
);
CREATE UNIQUE INDEX ux_webhook_deliveries_event ON webhook_deliveries (target, event_id);
CREATE INDEX ix_webhook_deliveries_subscription ON webhook_deliveries (subscription_id, created_at);
CREATE TABLE outbound_messages (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    language TEXT NOT NULL,
    object TEXT NOT NULL,
    record_id TEXT NOT NULL,
    contact_id TEXT,
    sender_id TEXT,
    status TEXT NOT NULL,
    bounced BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    error TEXT,
    activity_id TEXT,
    delivered BIGINT,
    delivery_detail TEXT,
    delivered_at TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX ix_outbound_messages_status ON outbound_messages (status, created_at);
CREATE INDEX ix_outbound_messages_record ON outbound_messages (record_id, created_at);
CREATE TABLE automation_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE inbound_hooks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    object TEXT NOT NULL,
    match_field TEXT,
    secret TEXT NOT NULL,
    actor TEXT,
    active BIGINT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE inbound_events (
    hook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (hook_id, event_id)
);
CREATE TABLE inbound_messages (
    message_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    outcome TEXT NOT NULL,
    object TEXT,
    record_id TEXT,
    error TEXT,
    received_at TEXT NOT NULL
);
CREATE INDEX ix_inbound_messages_received ON inbound_messages (received_at);
CREATE TABLE letters_sent (
    batch_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (batch_id, record_id)
);
