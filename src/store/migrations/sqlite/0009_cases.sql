-- Complaint cases (客诉): every step on the record, with the deadlines the
-- rules gave the case when it was received.
CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    customer_phone TEXT NOT NULL,
    customer_name TEXT,
    merchant TEXT NOT NULL,
    category TEXT NOT NULL,
    brand TEXT,
    major INTEGER NOT NULL DEFAULT 0,
    occurred_at BIGINT,
    place TEXT,
    description TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    answer_by BIGINT NOT NULL,
    merchant_reply_by BIGINT,
    answered_at BIGINT,
    merchant_replied_at BIGINT,
    resolved_at BIGINT,
    -- Deadlines already turned into a reminder task, comma-separated
    -- (`answer`, `merchant_reply`): the claim that makes each reminder once.
    reminded TEXT NOT NULL DEFAULT '',
    follow_up_task TEXT,
    created_by TEXT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX cases_status ON cases (status, received_at);
CREATE INDEX cases_phone ON cases (customer_phone);

-- The status history: every step, who took it and what they noted.
CREATE TABLE case_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL REFERENCES cases (id),
    at BIGINT NOT NULL,
    step TEXT NOT NULL,
    status TEXT NOT NULL,
    by_user TEXT,
    note TEXT,
    task_id TEXT
);
CREATE INDEX case_events_case ON case_events (case_id, id);

-- A task kept for one agent (a case's owner) until a time.
ALTER TABLE tasks ADD COLUMN reserved_for TEXT;
ALTER TABLE tasks ADD COLUMN reserved_until BIGINT;
