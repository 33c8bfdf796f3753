-- Service-level compliance kept as it happens (`service::levels::count_in`): tickets under a
-- service level per business day they were opened, queue, agent, category and which targets
-- they missed, so the report reads days, not tickets.
CREATE TABLE sla_daily (
    day TEXT NOT NULL,
    queue TEXT NOT NULL,
    agent TEXT NOT NULL,
    category TEXT NOT NULL,
    first_late BIGINT NOT NULL,
    resolution_late BIGINT NOT NULL,
    tickets BIGINT NOT NULL,
    PRIMARY KEY (day, queue, agent, category, first_late, resolution_late)
);
