-- Users: everyone who logs in. Agents and dispatchers also carry routing data.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL,
    sip_uri TEXT,
    skills TEXT NOT NULL DEFAULT '',
    voice_capacity BIGINT NOT NULL DEFAULT 1,
    back_office_capacity BIGINT NOT NULL DEFAULT 2,
    status TEXT NOT NULL DEFAULT 'offline',
    status_reason TEXT,
    status_since BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every task ever created; live ones (waiting, offered, assigned) are
-- reloaded into the dispatcher at start-up.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    queue TEXT NOT NULL,
    priority BIGINT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    customer_phone TEXT NOT NULL,
    reason TEXT,
    deadline BIGINT,
    created_at BIGINT NOT NULL,
    enqueued_at BIGINT NOT NULL,
    created_by TEXT,
    agent_id TEXT,
    outcome TEXT,
    closed_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tasks_live ON tasks (status, enqueued_at);
CREATE INDEX tasks_phone ON tasks (customer_phone, created_at);

-- One row per time an agent took a task; its outcome and call summary.
CREATE TABLE attempts (
    id BIGSERIAL PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    number BIGINT NOT NULL,
    agent_id TEXT NOT NULL,
    accepted_at BIGINT NOT NULL,
    ended_at BIGINT,
    outcome TEXT,
    summary TEXT
);
CREATE INDEX attempts_task ON attempts (task_id, number);

-- What happened to a task and who it involved: offers, declines, timeouts.
CREATE TABLE task_events (
    id BIGSERIAL PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    agent_id TEXT,
    note TEXT
);
CREATE INDEX task_events_task ON task_events (task_id, id);

CREATE TABLE agent_status_log (
    id BIGSERIAL PRIMARY KEY,
    agent_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX agent_status_log_agent ON agent_status_log (agent_id, at);

-- The small CRM: who a phone number belongs to.
CREATE TABLE customers (
    phone TEXT PRIMARY KEY,
    name TEXT,
    notes TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
