-- What-if runs supervisors asked for over REST: the request as given, and
-- the comparison once it is done (or why it failed). A run still
-- `running` when the server stopped is marked failed at the next start.
CREATE TABLE simulations (
    id TEXT PRIMARY KEY,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    finished_at BIGINT,
    result TEXT,
    error TEXT
);
CREATE INDEX simulations_requested ON simulations (requested_at);
