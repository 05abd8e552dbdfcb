-- Calls Switchboard places (click-to-call, progressive dialling): one row
-- per call, written before its first INVITE leaves, so that after a crash
-- the next leader finds every call left open and hangs it up. `dialogs`
-- holds what the SIP layer needs to end each leg (opaque here); `outcome`
-- is NULL while the call is open.
CREATE TABLE placed_calls (
    id TEXT PRIMARY KEY,
    task_id TEXT,
    purpose TEXT NOT NULL,
    subject TEXT,
    agent TEXT NOT NULL,
    agent_uri TEXT NOT NULL,
    number TEXT NOT NULL,
    customer_uri TEXT NOT NULL,
    placed_at BIGINT NOT NULL,
    agent_answered_at BIGINT,
    customer_ringing_at BIGINT,
    answered_at BIGINT,
    ended_at BIGINT,
    agent_code INTEGER,
    customer_code INTEGER,
    outcome TEXT,
    hung_up TEXT,
    dialogs TEXT NOT NULL DEFAULT ''
);
CREATE INDEX placed_calls_open ON placed_calls (ended_at);
CREATE INDEX placed_calls_number ON placed_calls (number, placed_at);
CREATE INDEX placed_calls_task ON placed_calls (task_id);
-- The customer asked not to be called: no call is placed to them.
ALTER TABLE customers ADD COLUMN do_not_call INTEGER NOT NULL DEFAULT 0;
