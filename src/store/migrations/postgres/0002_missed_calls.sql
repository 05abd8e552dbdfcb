-- Hotline calls nobody answered: the caller hung up while queued, or the
-- wait ran out. The missed-call follow-up calls these numbers back; one
-- number is one follow-up however often it called.
CREATE TABLE missed_calls (
    id BIGSERIAL PRIMARY KEY,
    caller TEXT NOT NULL,
    called TEXT NOT NULL,
    queue TEXT NOT NULL,
    reason TEXT NOT NULL,
    task_id TEXT REFERENCES tasks (id),
    at BIGINT NOT NULL
);
CREATE INDEX missed_calls_caller ON missed_calls (caller, at);
