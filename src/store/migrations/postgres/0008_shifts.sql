-- Shifts and handover: an agent's weekly schedule (JSON, weekday to a list
-- of HH:MM-HH:MM hours; NULL when the agent has none) and the handover
-- note the agent left for the end of the current shift.
ALTER TABLE users ADD COLUMN schedule TEXT;
ALTER TABLE users ADD COLUMN handover_note TEXT;
ALTER TABLE users ADD COLUMN handover_note_at BIGINT;
