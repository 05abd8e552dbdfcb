-- Private-car orders. Each open order has a car_dispatch task (task_id)
-- for the dispatchers; car_order_events is its history, step by step.
CREATE TABLE car_orders (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    passenger TEXT NOT NULL,
    phone TEXT NOT NULL,
    passengers INTEGER NOT NULL,
    luggage INTEGER,
    flight TEXT,
    airport TEXT,
    from_address TEXT,
    to_address TEXT,
    service_time BIGINT NOT NULL,
    confirm_by BIGINT NOT NULL,
    status TEXT NOT NULL,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX car_orders_status ON car_orders (status, kind, service_time);
CREATE TABLE car_order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL REFERENCES car_orders (id),
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    user_id TEXT,
    detail TEXT
);
CREATE INDEX car_order_events_order ON car_order_events (order_id, id);
