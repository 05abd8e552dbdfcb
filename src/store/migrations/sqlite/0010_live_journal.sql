-- How far SQL has caught up with the Redis journal of each centre (Redis
-- key prefix): the id of the last journal entry whose records are in these
-- tables, written in the same transaction as those records. A node taking
-- over replays only the entries after it, so none is applied twice.
CREATE TABLE live_journal (
    prefix TEXT PRIMARY KEY,
    position TEXT NOT NULL
);
