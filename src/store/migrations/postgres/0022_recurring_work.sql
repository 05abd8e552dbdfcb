-- Recurring work (`[[recurring]]`): each day's release of a rule, for an
-- agent or for the queue, with its task, the count to reach and the count
-- done. The unique claim makes each release once, whichever node runs it.
CREATE TABLE recurring_work (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    label TEXT NOT NULL,
    day TEXT NOT NULL,
    agent_id TEXT,
    queue TEXT NOT NULL,
    claim TEXT NOT NULL,
    task_id TEXT NOT NULL,
    target INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    released_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT
);
CREATE UNIQUE INDEX recurring_work_claim ON recurring_work (rule, day, claim);
CREATE INDEX recurring_work_day ON recurring_work (day);
