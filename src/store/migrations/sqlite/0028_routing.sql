-- A task may avoid one agent (a difficult customer called back "by another
-- agent"); kept with the task like its reservation, so a restart or a
-- node taking over keeps it.
ALTER TABLE tasks ADD COLUMN avoid_agent TEXT;

-- Configuration changed while the server runs: each applied version, who
-- applied it and how, what changed, and the whole file as applied, from
-- which every node serves the newest version.
CREATE TABLE config_changes (
    version BIGINT PRIMARY KEY,
    changed_at BIGINT NOT NULL,
    changed_by TEXT,
    source TEXT NOT NULL,
    reevaluate BIGINT NOT NULL,
    changes TEXT NOT NULL,
    config TEXT NOT NULL
);
