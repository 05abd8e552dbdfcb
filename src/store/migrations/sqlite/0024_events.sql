-- Events described for the centre (专场), the customers' past orders they
-- are recommended by (历史订单数据), the week-before calls' attendance
-- answers (预到场人数), and each recommendation made (once per event and
-- customer). A registration keeps who took it (代报名).
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    event_date TEXT NOT NULL,
    event_kind TEXT NOT NULL,
    place TEXT,
    category TEXT,
    match_categories TEXT NOT NULL,
    price_tier INTEGER,
    updated_at BIGINT NOT NULL,
    updated_by TEXT
);
CREATE INDEX events_date ON events (event_date);
CREATE TABLE customer_orders (
    order_ref TEXT PRIMARY KEY,
    customer_phone TEXT NOT NULL,
    category TEXT NOT NULL,
    brand TEXT,
    price_tier INTEGER,
    ordered_on TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);
CREATE INDEX customer_orders_category ON customer_orders (category, ordered_on);
CREATE INDEX customer_orders_phone ON customer_orders (customer_phone);
CREATE TABLE event_attendance (
    event_id TEXT NOT NULL,
    customer_phone TEXT NOT NULL,
    coming INTEGER NOT NULL,
    people INTEGER NOT NULL,
    answered_at BIGINT NOT NULL,
    answered_by TEXT,
    PRIMARY KEY (event_id, customer_phone)
);
CREATE TABLE event_recommendations (
    event_id TEXT NOT NULL,
    customer_phone TEXT NOT NULL,
    task_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, customer_phone)
);
ALTER TABLE registrations ADD COLUMN registered_by TEXT;
