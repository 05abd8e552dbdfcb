-- Departments: teams of users with a lead, responsible for the complaint
-- cases sent to them (上报所属的运营小组); a user belongs to at most one.
CREATE TABLE departments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    lead_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX departments_name ON departments (name);
ALTER TABLE users ADD COLUMN department_id TEXT REFERENCES departments (id);

-- A case's department, its written reply, the party complained about
-- answered (答复用户及被投诉方), the case it follows up
-- (在原有的个案基础上建立跟进个案) and the satisfaction call's answer
-- since it was last resolved (NULL: not asked yet).
ALTER TABLE cases ADD COLUMN department_id TEXT REFERENCES departments (id);
ALTER TABLE cases ADD COLUMN sent_at BIGINT;
ALTER TABLE cases ADD COLUMN department_reply_by BIGINT;
ALTER TABLE cases ADD COLUMN department_replied_at BIGINT;
ALTER TABLE cases ADD COLUMN party_answered_at BIGINT;
ALTER TABLE cases ADD COLUMN follows_case TEXT REFERENCES cases (id);
ALTER TABLE cases ADD COLUMN satisfied INTEGER;
CREATE INDEX cases_department ON cases (department_id, received_at);
CREATE INDEX cases_follows ON cases (follows_case);

-- Every satisfaction call's answer (服务满意率), with the case's owner and
-- department when it was given: the reports count these.
CREATE TABLE satisfaction_answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL REFERENCES cases (id),
    at BIGINT NOT NULL,
    satisfied INTEGER NOT NULL,
    reason TEXT,
    asked_by TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    department_id TEXT
);
CREATE INDEX satisfaction_answers_at ON satisfaction_answers (at);
