-- A task may be scheduled: stored with status 'scheduled' and offered to
-- no one before `not_before` (a call one week before an event, the next
-- attempt of a callback). The scheduler moves it to 'waiting' when due.
ALTER TABLE tasks ADD COLUMN not_before BIGINT;
CREATE INDEX tasks_scheduled ON tasks (status, not_before);
