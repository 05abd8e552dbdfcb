-- Shift swaps (调班): asked for by an agent with a colleague for one date,
-- in effect only once a supervisor approves (the two schedules then carry
-- that date's exchanged shifts).
CREATE TABLE shift_swaps (
    id TEXT PRIMARY KEY,
    requester_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    day TEXT NOT NULL,
    note TEXT,
    status TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    decision_note TEXT
);
CREATE INDEX shift_swaps_status ON shift_swaps (status, day);
