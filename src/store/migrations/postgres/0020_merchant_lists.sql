-- The monthly red and black lists of merchants (红黑榜) as a supervisor
-- confirmed them (before the 10th of the next month); one row a month,
-- the lists as JSON arrays of merchant names.
CREATE TABLE merchant_lists (
    month TEXT PRIMARY KEY,
    red TEXT NOT NULL,
    black TEXT NOT NULL,
    confirmed_by TEXT NOT NULL,
    confirmed_at BIGINT NOT NULL
);
