-- Insights (`crm::insights`): dashboards of widgets on a grid, quotas per person or team and
-- period, and awards managers give.
CREATE TABLE dashboards (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    shared BIGINT NOT NULL,
    -- The role this dashboard opens for by default (set by an admin), if any.
    role TEXT,
    name TEXT NOT NULL,
    widgets_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX dashboards_owner ON dashboards (owner_id, id);

CREATE TABLE quotas (
    id TEXT PRIMARY KEY,
    user_id TEXT,
    team_id TEXT,
    period TEXT NOT NULL,
    calendar TEXT NOT NULL,
    period_key TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_before TEXT NOT NULL,
    measure TEXT NOT NULL,
    target TEXT NOT NULL,
    currency TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX quotas_user ON quotas (user_id, starts_on);
CREATE INDEX quotas_team ON quotas (team_id, starts_on);

CREATE TABLE awards (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    title TEXT NOT NULL,
    reason TEXT NOT NULL,
    given_by TEXT NOT NULL,
    given_at TEXT NOT NULL
);
CREATE INDEX awards_user ON awards (user_id, given_at);
