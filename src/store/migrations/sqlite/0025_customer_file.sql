-- The customer file (客户资料按地区详细登记): other numbers, address,
-- region, contact person, tags and the centre's own fields (JSON), each
-- change kept with who made it and when.
ALTER TABLE customers ADD COLUMN other_phones TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN address TEXT;
ALTER TABLE customers ADD COLUMN region TEXT;
ALTER TABLE customers ADD COLUMN contact_person TEXT;
ALTER TABLE customers ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN fields TEXT NOT NULL DEFAULT '{}';
CREATE INDEX customers_region ON customers (region);
CREATE TABLE customer_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    phone TEXT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    changed_at BIGINT NOT NULL,
    changed_by TEXT
);
CREATE INDEX customer_changes_phone ON customer_changes (phone, changed_at);
