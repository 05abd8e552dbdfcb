-- Products under warranty (保修), each with the callbacks it called for
-- (7dc、3dc回访), and each morning's review of the after-sales items left
-- open (对前一天的遗留售后问题进行跟踪): one row per working day, claimed
-- once whichever node makes it.
CREATE TABLE warranties (
    id TEXT PRIMARY KEY,
    customer_phone TEXT NOT NULL,
    product TEXT NOT NULL,
    serial_number TEXT,
    delivered_on TEXT NOT NULL,
    warranty_until TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT
);
CREATE INDEX warranties_phone ON warranties (customer_phone);
CREATE TABLE warranty_callbacks (
    task_id TEXT PRIMARY KEY REFERENCES tasks (id),
    warranty_id TEXT NOT NULL REFERENCES warranties (id),
    days_after INTEGER NOT NULL,
    day TEXT NOT NULL
);
CREATE INDEX warranty_callbacks_day ON warranty_callbacks (day);
CREATE INDEX warranty_callbacks_warranty ON warranty_callbacks (warranty_id);
CREATE TABLE after_sales_reviews (
    day TEXT PRIMARY KEY,
    task_ids TEXT NOT NULL,
    items INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);
