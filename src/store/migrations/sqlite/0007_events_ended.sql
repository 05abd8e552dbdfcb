-- An event that has ended, with its attendance. The row is also the claim:
-- written in the same transaction as the marketing callbacks, so ending an
-- event twice creates nothing the second time.
CREATE TABLE events_ended (
    event_id TEXT PRIMARY KEY,
    ended_at BIGINT NOT NULL,
    attended TEXT NOT NULL,
    ordered TEXT NOT NULL,
    task_ids TEXT NOT NULL
);
