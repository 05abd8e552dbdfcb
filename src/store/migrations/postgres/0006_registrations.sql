-- A customer's registration for an event, kept with the callbacks it
-- created (the screen-pop and reports read them from here).
CREATE TABLE registrations (
    id BIGSERIAL PRIMARY KEY,
    customer_phone TEXT NOT NULL,
    customer_kind TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_date TEXT NOT NULL,
    event_kind TEXT NOT NULL,
    source TEXT,
    registered_at BIGINT NOT NULL,
    task_ids TEXT NOT NULL
);
CREATE INDEX registrations_customer ON registrations (customer_phone, registered_at);
CREATE INDEX registrations_event ON registrations (event_id);
