-- Violations of partner inns and drivers, with the penalty and the
-- feedback given (记录合作客栈和专车的违规行为,对处罚结果进行记录及反馈).
-- A driver's recent violations count in the ranking of suggested drivers.
CREATE TABLE violations (
    id TEXT PRIMARY KEY,
    party TEXT NOT NULL,
    party_id TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    what TEXT NOT NULL,
    penalty TEXT,
    feedback TEXT,
    recorded_by TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX violations_party ON violations (party, party_id, occurred_at);
