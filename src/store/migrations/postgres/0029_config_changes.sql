-- Configuration changed while the server runs: each applied version, when
-- and by whom, how (the API, the command line, a signal), whether live
-- tasks were re-evaluated and how many took a new priority, what changed
-- key by key (JSON), and the live sections as applied ([dispatch],
-- [kinds], [routing]; JSON, no secrets), from which the version can be
-- applied again.
CREATE TABLE config_changes (
    version BIGINT PRIMARY KEY,
    changed_at BIGINT NOT NULL,
    changed_by TEXT,
    source TEXT NOT NULL,
    reevaluate BIGINT NOT NULL,
    replanned BIGINT NOT NULL,
    changes TEXT NOT NULL,
    config TEXT NOT NULL
);

-- Reloads asked for from the command line (`switchboard reload`): the
-- leading server re-reads its file, applies or refuses it, and writes the
-- outcome here for the command to print.
CREATE TABLE reload_requests (
    id BIGINT PRIMARY KEY,
    requested_at BIGINT NOT NULL,
    reevaluate BIGINT NOT NULL,
    status TEXT NOT NULL,
    finished_at BIGINT,
    outcome TEXT
);
