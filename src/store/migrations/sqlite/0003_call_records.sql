-- One row per hotline call that reached the connector (the CDR): who
-- called which number, how long they waited, who was offered the call,
-- who answered, how long they talked, and how it ended.
CREATE TABLE call_records (
    task_id TEXT PRIMARY KEY REFERENCES tasks (id),
    sip_call_id TEXT NOT NULL,
    caller TEXT,
    called TEXT NOT NULL,
    queue TEXT NOT NULL,
    enqueued_at BIGINT NOT NULL,
    offered_agents TEXT NOT NULL DEFAULT '',
    redirected_at BIGINT,
    answered_by TEXT,
    answered_at BIGINT,
    ended_at BIGINT,
    outcome TEXT NOT NULL DEFAULT 'queued'
);
CREATE INDEX call_records_sip_call_id ON call_records (sip_call_id);

-- Call-state events reported by PBXes, kept once per event id so a
-- repeated delivery changes nothing.
CREATE TABLE cti_events (
    event_id TEXT PRIMARY KEY,
    pbx TEXT NOT NULL,
    sip_call_id TEXT NOT NULL,
    event TEXT NOT NULL,
    agent TEXT,
    at BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
