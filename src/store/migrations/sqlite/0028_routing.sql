-- A task may avoid one agent (a difficult customer called back "by another
-- agent"); kept with the task like its reservation, so a restart or a
-- node taking over keeps it.
ALTER TABLE tasks ADD COLUMN avoid_agent TEXT;
