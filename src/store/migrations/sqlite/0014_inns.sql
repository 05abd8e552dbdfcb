-- Inns whose bookings the centre watches, and their bookings as the inn
-- back office reports them. A booking still unprocessed at remind_at puts
-- an inn_reminder task (task_id, the latest) before the agents; reminders
-- counts them, escalated_at marks one passed to the supervisors.
CREATE TABLE inns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    front_desk_phone TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE inn_orders (
    id TEXT PRIMARY KEY,
    inn_id TEXT NOT NULL REFERENCES inns (id),
    reference TEXT,
    front_desk_phone TEXT NOT NULL,
    guest TEXT NOT NULL,
    check_in TEXT,
    check_out TEXT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    remind_at BIGINT,
    reminders INTEGER NOT NULL DEFAULT 0,
    task_id TEXT REFERENCES tasks (id),
    escalated_at BIGINT
);
CREATE UNIQUE INDEX inn_orders_reference ON inn_orders (inn_id, reference);
CREATE INDEX inn_orders_due ON inn_orders (status, remind_at);
CREATE TABLE inn_order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL REFERENCES inn_orders (id),
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    user_id TEXT,
    detail TEXT
);
CREATE INDEX inn_order_events_order ON inn_order_events (order_id, id);
