-- An agent's work number (工号), said on every call and shown on call
-- records and reports; at most one living account holds a number.
ALTER TABLE users ADD COLUMN work_number TEXT;
CREATE UNIQUE INDEX users_work_number ON users (work_number) WHERE work_number IS NOT NULL AND deleted_at IS NULL;
