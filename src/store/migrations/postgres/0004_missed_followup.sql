-- The follow-up's side of a missed call: the callback it went into, or
-- that the caller got through before the checkpoint. Unresolved rows are
-- the backlog.
ALTER TABLE missed_calls ADD COLUMN callback_task TEXT REFERENCES tasks (id);
ALTER TABLE missed_calls ADD COLUMN resolution TEXT;
ALTER TABLE missed_calls ADD COLUMN resolved_at BIGINT;
CREATE INDEX missed_calls_backlog ON missed_calls (resolved_at, at);

-- One row per checkpoint that fired. The row is the claim: written in the
-- same transaction as the callbacks, so on several nodes sharing the
-- database a checkpoint fires once, and never half.
CREATE TABLE checkpoint_runs (
    at BIGINT PRIMARY KEY,
    fired_at BIGINT NOT NULL,
    callbacks BIGINT NOT NULL,
    got_through BIGINT NOT NULL
);
